"""`podforge rollout --stack NAME`: the site playbook, wave by wave, straight through ansible-runner.

The path without the Pulumi CLI: the same host views, inventory, waves and runner function as the
NodeProvisioning provider. A host whose inputs are unchanged since its last successful rollout is skipped
without a connection (hashes in .lab/rollout-state.json for a lab site, state/<stack>.json otherwise).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components import exitcodes
from components.access import KEY_ENV, AccessError, missing_known_hosts, usable_key_file
from components.commands import example
from components.commands._lab_guard import LAB_DOWN, lab_is_down
from components.host import host_views
from components.provisioning.rollout import roll_out
from components.provisioning.state import state_path
from components.provisioning.target import host_targets
from components.spec import SpecError, load_stack_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rollout", help="apply the site playbook to a stack's nodes in waves",
                       description="Run playbooks/site.yml on the stack's nodes in the spec's waves, with the "
                                   "health gate between waves; a failed node stops later waves. Hosts whose "
                                   "inputs are unchanged since their last rollout are skipped without connecting. "
                                   "Prints wave, host and task as it goes, then per host: skipped / ok / changed / "
                                   "failed. Exit 1 when a host failed.",
                       **example("podforge rollout --stack lab --limit lab-dgx-01,lab-dgx-02 --check"))
    p.add_argument("--stack", required=True, help="stack name (reads Pulumi.NAME.yaml)")
    p.add_argument("--limit", help="comma-separated hostnames; the others are left alone")
    p.add_argument("--check", action="store_true", help="check mode with diffs: change nothing, show what would")
    p.add_argument("--force", action="store_true", help="run every host even when its inputs are unchanged")
    p.add_argument("--ssh-key", type=Path, metavar="FILE", dest="ssh_key",
                   help=f"automation SSH key (default: ${KEY_ENV}, the stack's podforge:sshPrivateKeyFile, "
                        "else the ssh-agent)")
    p.add_argument("--private-key", type=Path, metavar="FILE", dest="ssh_key", help=argparse.SUPPRESS)
    p.add_argument("--known-hosts", type=Path, metavar="FILE",
                   help="known_hosts file to pin every host against, instead of the spec's pins")
    p.add_argument("--state-file", type=Path, metavar="FILE",
                   help="applied-state file (default: .lab/rollout-state.json for a lab site, state/STACK.json)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stack, loaded = load_stack_spec(args.stack)
    spec = loaded.spec
    views = host_views(spec, stack.root)
    limit = None
    if args.limit:
        limit = {h.strip() for h in args.limit.split(",") if h.strip()}
        unknown = sorted(limit - set(views))
        if unknown:
            print(f"podforge: --limit: no such host in {loaded.file}: {', '.join(unknown)} "
                  f"(hosts: {', '.join(views)})", file=sys.stderr)
            return exitcodes.INVALID
    if lab_is_down(spec):
        print(f"podforge: {LAB_DOWN}", file=sys.stderr)
        return exitcodes.INVALID
    known_hosts = args.known_hosts.absolute() if args.known_hosts else None
    if known_hosts is not None and not known_hosts.is_file():
        print(f"podforge: --known-hosts {args.known_hosts}: no such file", file=sys.stderr)
        return exitcodes.INVALID
    problems = [] if known_hosts else missing_known_hosts(loaded, views, limit or views)
    if problems:
        raise SpecError(problems)
    try:
        key_file = usable_key_file(args.ssh_key, stack.config, stack.root, lab=spec.site.lab)
    except AccessError as exc:
        print(f"podforge: {exc}", file=sys.stderr)
        return exitcodes.INVALID
    targets = {t.hostname: t for t in host_targets(views, known_hosts)}
    waves = [[targets[n.hostname] for n in wave] for wave in spec.waves()]
    state_file = args.state_file or state_path(stack.name, spec, stack.root)
    try:
        report = roll_out(waves, state_file, private_key_file=key_file, check=args.check, force=args.force,
                          limit=limit, health_gate=spec.rollout.health_gate, progress=_print)
    except AccessError as exc:
        hint = " (is the lab up? `podforge lab up` records its hosts' keys)" if spec.site.lab else ""
        print(f"podforge: {exc}{hint}", file=sys.stderr)
        return exitcodes.INVALID
    print()
    print(report.summary())
    return exitcodes.FOUND if report.failed else exitcodes.OK


def _print(line: str) -> None:
    print(line, flush=True)
