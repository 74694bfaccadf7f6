"""`podforge rollout --stack NAME`: the site playbook, wave by wave, straight through ansible-runner.

The path without the Pulumi CLI: the same inventory, waves and runner function as the NodeProvisioning
provider. A host whose inputs are unchanged since its last successful rollout is skipped without a
connection (hashes in .lab/rollout-state.json for a lab site, state/<stack>.json otherwise).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from components.commands import example
from components.commands._keyfile import KEY_ENV, automation_key_file
from components.commands._lab_guard import LAB_DOWN, lab_is_down
from components.provisioning.rollout import roll_out
from components.provisioning.runner import ProvisioningError
from components.provisioning.state import state_path
from components.provisioning.target import targets_from_spec
from components.spec import load_stack_spec
from components.spec.loader import PROJECT_ROOT


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
    p.add_argument("--private-key", type=Path, metavar="FILE",
                   help=f"automation SSH key (default: ${KEY_ENV}, the stack's podforge:sshPrivateKeyFile, "
                        "else the ssh-agent)")
    p.add_argument("--known-hosts", type=Path, metavar="FILE",
                   help="known_hosts file to pin every host against, instead of the spec's pins")
    p.add_argument("--state-file", type=Path, metavar="FILE",
                   help="applied-state file (default: .lab/rollout-state.json for a lab site, state/STACK.json)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stack, loaded = load_stack_spec(args.stack)
    spec = loaded.spec
    targets = {t.hostname: t for t in targets_from_spec(spec, PROJECT_ROOT, args.known_hosts)}
    limit = None
    if args.limit:
        limit = {h.strip() for h in args.limit.split(",") if h.strip()}
        unknown = sorted(limit - set(targets))
        if unknown:
            print(f"podforge: --limit: no such host in {loaded.file}: {', '.join(unknown)} "
                  f"(hosts: {', '.join(targets)})", file=sys.stderr)
            return 2
    key_file = automation_key_file(args.private_key, stack.config)
    if key_file is not None and not key_file.is_file():
        hint = " (run `podforge lab up` first)" if spec.site.lab else ""
        print(f"podforge: private key {key_file}: no such file{hint}", file=sys.stderr)
        return 2
    if key_file is None and not os.environ.get("SSH_AUTH_SOCK"):
        print(f"podforge: no automation key: give --private-key FILE, set {KEY_ENV}, or start an ssh-agent",
              file=sys.stderr)
        return 2
    if lab_is_down(spec):
        print(f"podforge: {LAB_DOWN}", file=sys.stderr)
        return 2
    waves = [[targets[n.hostname] for n in wave] for wave in spec.waves()]
    state_file = args.state_file or state_path(stack.name, spec, PROJECT_ROOT)
    try:
        report = roll_out(waves, state_file, private_key_file=key_file, check=args.check, force=args.force,
                          limit=limit, health_gate=spec.rollout.health_gate, progress=_print)
    except ProvisioningError as exc:
        hint = " (is the lab up? `podforge lab up` records its hosts' keys)" if spec.site.lab else ""
        print(f"podforge: {exc}{hint}", file=sys.stderr)
        return 2
    print()
    print(report.summary())
    return 1 if report.failed else 0


def _print(line: str) -> None:
    print(line, flush=True)
