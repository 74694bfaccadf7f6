"""`podforge verify --stack NAME --hosts local://`: check nodes against the spec, print a per-node report.

Counts passed / failed / simulated / not present; exits 1 only when a check failed (docs/conventions.md).
Also runnable without the rest of the CLI: `python3 -m components.commands.verify --stack NAME …`
(a GPU machine may lack the packages other subcommands import).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from components import exitcodes
from components.commands import example
from components.spec import load_stack_spec
from components.spec.problems import SpecError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, help="stack name (reads Pulumi.NAME.yaml and the spec it names)")
    p.add_argument("--hosts", help="comma-separated testinfra hosts: local:// or paramiko://[USER@]HOST[:PORT] "
                                   "(default: every node of the spec over SSH at its management address)")
    p.add_argument("--node", help="check the host as this node of the spec (default: matched by hostname/address)")
    p.add_argument("--ssh-key", metavar="FILE",
                   help="private key file for SSH hosts (default: $PODFORGE_SSH_PRIVATE_KEY_FILE, the stack's "
                        "podforge:sshPrivateKeyFile, else the ssh-agent); host keys are pinned from the spec")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON (schema 1)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="check nodes against the spec: driver, GPUs, fabric, NCCL, exporters",
                       description="Run the node checks (the same ones as tests/verify) on each host and print a "
                                   "report per node counting passed / failed / simulated / not present. "
                                   "Exit 1 only if a check failed.",
                       **example("podforge verify --stack h200 --hosts local:// --json report.json"))
    add_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from components.access import AccessError, missing_known_hosts, usable_key_file
    from components.commands._lab_guard import LAB_DOWN, lab_is_down
    from components.host import host_views
    from components.verify.runner import VerifyTargetError, match_node, verify

    stack, loaded = load_stack_spec(args.stack)
    spec = loaded.spec
    views = host_views(spec, stack.root)
    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()] if args.hosts else [
        f"paramiko://{v.login.user}@{v.login.address}:{v.login.port}" for v in views.values()]
    key = None
    over_ssh = [h for h in hosts if not h.startswith("local://")]
    if over_ssh:
        if lab_is_down(spec):
            print(f"podforge verify: {LAB_DOWN}", file=sys.stderr)
            return exitcodes.INVALID
        try:
            nodes = [match_node(spec, h, None, args.node, views).node.hostname for h in over_ssh]
            problems = missing_known_hosts(loaded, views, nodes)
            if problems:
                raise SpecError(problems)
            key = usable_key_file(args.ssh_key, stack.config, stack.root, lab=spec.site.lab)
        except (VerifyTargetError, AccessError) as exc:
            print(f"podforge verify: {exc}", file=sys.stderr)
            return exitcodes.INVALID
    try:
        report = verify(args.stack, spec, hosts, node_name=args.node,
                        identity_file=str(key) if key is not None else None, root=stack.root,
                        views=views)
    except VerifyTargetError as exc:
        print(f"podforge verify: {exc}", file=sys.stderr)
        return exitcodes.INVALID
    if args.json:
        try:  # before the report is printed: a report that cannot be written is a failed command, with one line
            Path(args.json).write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
        except OSError as exc:
            print(f"podforge: cannot write {args.json}: {exc.strerror or exc}", file=sys.stderr)
            return exitcodes.INVALID
    print(report.text())
    return exitcodes.OK if report.ok else exitcodes.FOUND


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="podforge verify", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except SpecError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return exitcodes.INVALID


if __name__ == "__main__":
    sys.exit(main())
