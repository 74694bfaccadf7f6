"""`podforge inventory --stack NAME [--list]`: the Ansible inventory rendered from the stack's spec."""

from __future__ import annotations

import argparse
import json
import sys

from components.commands import example
from components.render.inventory import inventory_json, inventory_yaml, spec_hosts
from components.spec import load_stack_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inventory", help="print the Ansible inventory rendered from a stack's spec",
                       description="Render the Ansible inventory from the spec a stack names: groups gpu_nodes, "
                                   "subnet_managers, storage_clients, rail_N, leaf_<switch>, kubespray's "
                                   "kube_control_plane / kube_node / etcd / k8s_cluster, and every host's vars. "
                                   "YAML by default; --list prints dynamic-inventory JSON (_meta.hostvars), so the "
                                   "command can back an inventory script.",
                       **example("podforge inventory --stack lab --list | jq '.rail_0'"))
    p.add_argument("--stack", required=True, help="stack name (reads Pulumi.NAME.yaml)")
    p.add_argument("--list", action="store_true", help="dynamic-inventory JSON instead of YAML")
    p.add_argument("--host", help="(inventory-script protocol) print one host's vars as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    _, loaded = load_stack_spec(args.stack)
    if args.host:
        hosts = spec_hosts(loaded.spec)
        if args.host not in hosts:
            print(f"podforge: --host {args.host}: no such host in {loaded.file} (hosts: {', '.join(hosts)})",
                  file=sys.stderr)
            return 2
        print(json.dumps(hosts[args.host], indent=2, ensure_ascii=False))
        return 0
    print(inventory_json(loaded.spec) if args.list else inventory_yaml(loaded.spec), end="" if not args.list else "\n")
    return 0
