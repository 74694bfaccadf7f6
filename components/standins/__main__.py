"""`python -m components.standins --stack lab --root DIR [--serve HOST:PORT]`: build a stack's stand-in repositories
under DIR (laid out by the sources' URL paths) and, with --serve, serve DIR until interrupted."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from components import exitcodes
from components.spec import load_stack_spec
from components.spec.problems import SpecError
from components.standins.repository import StandinBuildError, build_stack_repositories
from components.standins.server import serve_directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.standins", description=__doc__)
    parser.add_argument("--stack", default="lab", help="stack whose pinned packages get stand-ins (default: lab)")
    parser.add_argument("--root", required=True, type=Path, help="directory to build the repositories under")
    parser.add_argument("--driver-version", action="append", default=[],
                        help="also build the driver, fabric manager and NSCQ at this version (repeatable)")
    parser.add_argument("--serve", metavar="HOST:PORT", help="serve --root there, e.g. 10.199.77.1:8081")
    args = parser.parse_args(argv)
    try:
        _, loaded = load_stack_spec(args.stack)
        built = build_stack_repositories(loaded.spec, args.root, tuple(args.driver_version))
    except SpecError as exc:
        print("\n".join(str(p) for p in exc.problems), file=sys.stderr)
        return exitcodes.INVALID
    except StandinBuildError as exc:
        print(f"standins: {exc}", file=sys.stderr)
        return exitcodes.FOUND
    for source, directory in built.items():
        print(f"{source}: {directory}")
    if args.serve:
        host, _, port = args.serve.rpartition(":")
        server = serve_directory(args.root, host, int(port))
        print(f"serving {args.root} on {server.url} (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.close()
    return exitcodes.OK


if __name__ == "__main__":
    sys.exit(main())
