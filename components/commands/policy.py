"""`podforge policy check --stack NAME`: the policy packs on the stack's planned graph, offline; exit 0, 1 or 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components import exitcodes
from components.commands import example


def register(sub: argparse._SubParsersAction) -> None:
    from components.policy.formats import FORMATS
    from components.policy.packs import PACKS

    p = sub.add_parser("policy", help="compliance checks (MLPS 2.0 level 3, GPU baseline) without the Pulumi CLI",
                       description="Policy packs of podforge, run offline.",
                       **example("podforge policy check --stack superpod --format sarif --output policy.sarif"))
    actions = p.add_subparsers(dest="action", required=True)
    check = actions.add_parser(
        "check", help="evaluate the packs on a stack's plan",
        description="Run the stack's program as `podforge plan` does (mock runtime, no Pulumi CLI), then every rule "
                    "of the packs on each resource and on the whole graph, with the overrides of the project's "
                    "policies/config/NAME.json. Exit 0 without mandatory violations, 1 with, 2 on invalid input.",
        **example("podforge policy check --stack lab --pack mlps-level3 --format report --output evidence.md"))
    check.add_argument("--stack", required=True, help="stack name (reads Pulumi.NAME.yaml and the spec it names)")
    check.add_argument("--pack", action="append", choices=sorted(PACKS),
                       help="pack to run (repeatable; default: every pack)")
    check.add_argument("--format", default="text", choices=FORMATS, help="output format (default: text)")
    check.add_argument("--output", help="write the result to this file instead of standard output")
    check.add_argument("--config", help="policy config file (default: the project's policies/config/NAME.json when "
                                        "it exists)")
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from components.offline import capture_stack
    from components.policy import evaluate, load_packs, load_policy_config
    from components.policy.formats import CheckReport, git_commit, render
    from components.policy.locations import SpecLocator
    from components.spec import load_stack_spec

    stack, loaded = load_stack_spec(args.stack)
    packs = load_packs(args.pack)
    # The config file serves every pack, so its names are checked against all of them.
    settings = load_policy_config(args.stack, load_packs(), stack.root, Path(args.config) if args.config else None)
    graph = capture_stack(stack, loaded)
    evaluation = evaluate(graph, packs, settings)
    report = CheckReport(evaluation, SpecLocator(loaded, {r.urn: r.inputs for r in graph.resources}),
                         commit=git_commit(stack.root))
    text = render(args.format, report)
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            print(f"podforge: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return exitcodes.INVALID
        violations = len(evaluation.mandatory_violations)
        print(f"policy check: stack {args.stack}: {violations} mandatory violation(s); {args.format} written to "
              f"{args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return exitcodes.FOUND if evaluation.mandatory_violations else exitcodes.OK
