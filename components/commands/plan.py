"""`podforge plan --stack NAME`: the offline preview reviewers run on a pull request.

Runs the project's Pulumi program with the stack's config under the SDK's mock runtime (no Pulumi CLI,
no credentials, no datacenter), prints the resource tree and the counts per type, optionally writes the
plan as JSON (schema 1) and compares it with an earlier one. Exit codes: components/exitcodes.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pulumi

from components import exitcodes
from components.commands import example
from components.offline import capture_stack, diff_plans, render_tree
from components.offline.graph import PLAN_SCHEMA
from components.spec import Problem, SpecError, load_stack_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="offline preview: resource tree, counts, JSON, diff against a saved plan",
                       description="Run the Pulumi program for a stack under the SDK's mock runtime in preview mode "
                                   "and print the resources it declares (component → children) with counts per "
                                   "type. Secrets show as [secret] and are never decrypted; values known only "
                                   "after creation show as [unknown].",
                       **example("podforge plan --stack superpod --json plan.json --against main-plan.json "
                                 "--detailed-exitcode"))
    p.add_argument("--stack", required=True, help="stack name (reads the project's Pulumi.NAME.yaml)")
    p.add_argument("--json", metavar="FILE", help="write the plan as JSON (schema 1) to FILE ('-' for stdout)")
    p.add_argument("--against", metavar="OLD.json", help="compare with a plan written earlier by --json")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 3 when --against finds changes")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    old = _read_plan(args.against) if args.against else None
    stack, loaded = load_stack_spec(args.stack)
    try:
        graph = capture_stack(stack, loaded)
    except (pulumi.RunError, ValueError) as exc:  # a program that refuses its input, e.g. a driver's TLS check
        print(f"podforge: the program for stack {args.stack} failed: {exc}", file=sys.stderr)
        return exitcodes.INVALID
    plan = graph.as_json()
    to_stdout = args.json == "-"
    out = sys.stderr if to_stdout else sys.stdout
    text = json.dumps(plan, indent=2, ensure_ascii=False) + "\n" if args.json else ""
    if args.json and not to_stdout:
        try:  # before anything is printed: a plan that cannot be written is a failed command, with one line
            Path(args.json).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"podforge: cannot write {args.json}: {exc.strerror or exc}", file=sys.stderr)
            return exitcodes.INVALID
    print(render_tree(graph), file=out)
    if to_stdout:
        sys.stdout.write(text)
    elif args.json:
        print(f"plan written to {args.json}", file=out)
    if old is None:
        return exitcodes.OK
    diff = diff_plans(old, plan)
    print(f"\nagainst {args.against}:", file=out)
    print(diff.render(), file=out)
    return exitcodes.CHANGES if diff.has_changes and args.detailed_exitcode else exitcodes.OK


def _read_plan(path: str) -> dict[str, Any]:
    expected = "a plan written by `podforge plan --json` (schema 1)"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError([Problem(path, 0, "--against", path, f"{expected}; cannot read it ({exc.strerror})")]) from None
    except ValueError as exc:
        raise SpecError([Problem(path, 0, "--against", path, f"{expected}; not JSON ({exc})")]) from None
    if not isinstance(data, dict) or data.get("schema") != PLAN_SCHEMA or not isinstance(data.get("resources"), list):
        raise SpecError([Problem(path, 0, "schema", data.get("schema") if isinstance(data, dict) else data, expected)])
    return data
