"""`podforge validate --stack NAME`: load the stack's spec, print every problem, exit 0 or 2."""

from __future__ import annotations

import argparse
from pathlib import Path

from components import exitcodes
from components.commands import example
from components.spec import load_spec, load_stack_spec
from components.spec.summary import summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a stack's spec; one line per problem",
                       description="Validate the spec a stack names (Pulumi.NAME.yaml → podforge:spec). "
                                   "Prints FILE:LINE: field.path: value — expected … for every problem "
                                   "and exits 2; exits 0 when the spec is valid.",
                       **example("podforge validate --stack superpod --summary"))
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="stack name (reads the project's Pulumi.NAME.yaml)")
    target.add_argument("--spec", help="a spec file, without a stack (relative to the current directory)")
    p.add_argument("--summary", action="store_true", help="print a summary of the valid spec")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    loaded = load_stack_spec(args.stack)[1] if args.stack else load_spec(Path(args.spec).resolve(), display=args.spec)
    print(f"{loaded.file}: valid")
    if args.summary:
        print(summary(loaded.spec))
    return exitcodes.OK
