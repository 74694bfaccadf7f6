"""`podforge audit verify FILE...`: check the hash chain of the gateway's audit log files (docs/audit.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components import exitcodes
from components.commands import example
from components.gateway.audit import verify_chain


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="work with the gateway's hash-chained audit log",
                       description="Work with the inference gateway's audit log: JSON lines, each record "
                                   "carrying the SHA-256 of the one before it.",
                       **example("podforge audit verify /var/log/podforge/audit/audit-*.jsonl"))
    actions = p.add_subparsers(dest="audit_command", required=True)
    v = actions.add_parser("verify", help="check the chain: edited, deleted or reordered records",
                           description="Check the hash chain across the files, given oldest first (their names "
                                       "sort by time, so a shell glob gives that order). Prints FILE:LINE: "
                                       "problem for every break and exits 1; exits 0 when the chain is intact; "
                                       "2 when a file cannot be read.",
                           **example("podforge audit verify audit-*.jsonl"))
    v.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audit log files, oldest first")
    v.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    bad = [f for f in args.files if not f.is_file()]
    for f in bad:
        print(f"podforge audit: {f}: no such file — give the audit log files (audit-*.jsonl), oldest first",
              file=sys.stderr)
    if bad:
        return exitcodes.INVALID
    try:
        problems = verify_chain(args.files)
    except OSError as exc:
        print(f"podforge audit: {exc.filename}: cannot be read ({exc.strerror})", file=sys.stderr)
        return exitcodes.INVALID
    for problem in problems:
        print(problem)
    if problems:
        return exitcodes.FOUND
    print(f"{len(args.files)} file(s): chain intact")
    return exitcodes.OK
