"""`podforge desensitize [--json] [--stack S --role R]`: mask the personal data in standard input."""

from __future__ import annotations

import argparse
import json
import sys

from components import exitcodes
from components.commands import example
from components.gateway.desensitize import Policy, redact
from components.gateway.desensitize.policy import PolicyError
from components.spec import load_stack_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("desensitize", help="mask personal data (18 categories) in text read on standard input",
                       description="Read text on standard input, write it with every personal-data value "
                                   "replaced (docs/desensitization.md): [category] for mask, [category:digest] "
                                   "for hash, [category#n] for token. Without --stack every category is masked.",
                       **example("echo '手机13812345678' | podforge desensitize --json"))
    p.add_argument("--json", action="store_true",
                   help='print {"text": …, "findings": [{"category", "start", "end"}]}; offsets are code points '
                        "into the input, end exclusive")
    p.add_argument("--stack", help="apply the policy of --role from this stack's spec")
    p.add_argument("--role", help="the role whose policy applies (one of the spec's six roles); needs --stack")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.stack) != bool(args.role):
        print("podforge desensitize: --stack and --role go together — give both, or neither to mask everything",
              file=sys.stderr)
        return exitcodes.INVALID
    policy = Policy()
    if args.stack:
        _, loaded = load_stack_spec(args.stack)
        try:
            policy = Policy.for_role(loaded.spec, args.role)
        except PolicyError as exc:
            print(f"podforge desensitize: --role {args.role}: {exc}", file=sys.stderr)
            return exitcodes.INVALID
    try:
        text = sys.stdin.read()
    except UnicodeDecodeError:
        print("podforge desensitize: standard input is not valid UTF-8 — convert it first (iconv -t UTF-8)",
              file=sys.stderr)
        return exitcodes.INVALID
    result = redact(text, policy)
    if args.json:
        findings = [{"category": f.category, "start": f.start, "end": f.end} for f in result.findings]
        print(json.dumps({"text": result.text, "findings": findings}, ensure_ascii=False))
    else:
        sys.stdout.write(result.text)
    return exitcodes.OK
