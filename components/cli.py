"""The `podforge` command: parses arguments, calls the library, prints. Exit codes: components/exitcodes.py.

`--project-dir DIR` (or PODFORGE_PROJECT_DIR) names the project; without it the project is the nearest
directory holding Pulumi.yaml from the current directory up (components/paths.py).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import components.commands
from components import exitcodes, paths
from components.spec.problems import SpecError

# Every module components/commands/<name>.py is a subcommand: `register(subparsers)` adds its parser and
# sets `run(args) -> int` as the parser's default.
COMMANDS = sorted(m.name for m in pkgutil.iter_modules(components.commands.__path__) if not m.name.startswith("_"))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one line, as bad input does
        self.print_usage(sys.stderr)
        print(f"podforge: {message}", file=sys.stderr)
        raise SystemExit(exitcodes.INVALID)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="podforge", description="Describe a bare-metal GPU cluster once; plan, roll out and "
                                                  "check it from that one spec.",
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="example:\n  podforge validate --stack lab\n  podforge --project-dir ~/sites/bj1 plan "
                            "--stack bj1")
    parser.add_argument("--project-dir", metavar="DIR",
                        help="the project: a directory holding Pulumi.yaml (default: the nearest one from the current "
                             f"directory up; or ${paths.PROJECT_DIR_ENV}). Stacks, specs, policy config and the files a "
                             "spec names are relative to it; paths on the command line are relative to the current "
                             "directory")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"components.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with paths.chosen_project(args.project_dir):
        try:
            return int(args.run(args))
        except SpecError as exc:
            for line in exc.lines():
                print(line, file=sys.stderr)
            return exitcodes.INVALID
        except BrokenPipeError:  # `podforge ... | head`: the reader left; say nothing more
            sys.stderr.close()
            return exitcodes.OK
        except KeyboardInterrupt:
            print("podforge: interrupted", file=sys.stderr)
            return exitcodes.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
