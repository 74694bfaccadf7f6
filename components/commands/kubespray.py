"""`podforge kubespray --stack NAME --output DIR`: kubespray's inventory and group_vars rendered from the spec.

podforge renders; kubespray installs Kubernetes (docs/kubespray.md): `ansible-playbook -i DIR/inventory/hosts.yaml
cluster.yml` from a kubespray checkout, with DIR/group_vars next to the inventory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components import exitcodes
from components.commands import example
from components.render.kubespray import platform_of, problems, render
from components.spec import Problem, SpecError, load_stack_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kubespray", help="render kubespray's inventory and MLPS level 3 group_vars from a stack",
                       description="Render the files kubespray installs Kubernetes from: inventory/hosts.yaml "
                                   "(kube_control_plane, kube_node, etcd, k8s_cluster), group_vars with the API "
                                   "server audit log kept at least 180 days, TLS 1.3 minimum, Secrets encrypted at "
                                   "rest by a KMS v2 plugin backed by Vault transit, ingress-nginx at TLS 1.3, "
                                   "containerd with the nvidia runtime, and the API server's "
                                   "EncryptionConfiguration (files/). Installing Kubernetes stays kubespray's job.",
                       **example("podforge kubespray --stack superpod --output build/kubespray"))
    p.add_argument("--stack", required=True, help="stack name (reads Pulumi.NAME.yaml)")
    p.add_argument("--output", required=True, type=Path, metavar="DIR",
                   help="directory to write into (created; files podforge renders are replaced)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    _, loaded = load_stack_spec(args.stack)
    spec = loaded.spec
    platform = platform_of(spec)
    found = problems(spec, platform)
    if found:
        raise SpecError([Problem(loaded.file, loaded.line_of(*p.path), ".".join(map(str, p.path)), p.value,
                                 p.expected) for p in found])
    files = render(spec, platform)
    try:
        for relative, text in files.items():
            target = args.output / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"podforge kubespray: cannot write {args.output}: {exc.strerror or exc}; choose a writable --output",
              file=sys.stderr)
        return exitcodes.INVALID
    for relative in files:
        print(args.output / relative)
    return exitcodes.OK
