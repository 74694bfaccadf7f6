"""`podforge inventory --stack NAME [--list]`: the Ansible inventory rendered from the stack's spec, the one a
rollout writes for the same automation key and known_hosts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from components import exitcodes
from components.access import KEY_ENV, automation_key_file
from components.commands import example
from components.host import host_views
from components.provisioning.target import host_targets, inventory
from components.render.inventory import inventory_json, inventory_yaml
from components.spec import load_stack_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inventory", help="print the Ansible inventory rendered from a stack's spec",
                       description="Render the Ansible inventory from the spec a stack names: groups gpu_nodes, "
                                   "subnet_managers, storage_clients, rail_N, leaf_<switch>, kubespray's "
                                   "kube_control_plane / kube_node / etcd / k8s_cluster, and every host's vars, "
                                   "connection settings included (host keys pinned, the automation key). YAML by "
                                   "default; --list prints dynamic-inventory JSON (_meta.hostvars), so the command "
                                   "can back an inventory script.",
                       **example("podforge inventory --stack lab --list | jq '.rail_0'"))
    p.add_argument("--stack", required=True, help="stack name (reads Pulumi.NAME.yaml)")
    p.add_argument("--list", action="store_true", help="dynamic-inventory JSON instead of YAML")
    p.add_argument("--host", help="(inventory-script protocol) print one host's vars as JSON")
    p.add_argument("--ssh-key", type=Path, metavar="FILE",
                   help=f"automation SSH key the inventory names (default: ${KEY_ENV}, the stack's "
                        "podforge:sshPrivateKeyFile, else none: the ssh-agent)")
    p.add_argument("--known-hosts", type=Path, metavar="FILE",
                   help="known_hosts file to pin every host against, instead of the spec's pins")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stack, loaded = load_stack_spec(args.stack)
    known_hosts = args.known_hosts.absolute() if args.known_hosts else None
    key = automation_key_file(args.ssh_key, stack.config, stack.root)
    hosts, members = inventory(host_targets(host_views(loaded.spec, stack.root), known_hosts), key)
    if args.host:
        if args.host not in hosts:
            print(f"podforge: --host {args.host}: no such host in {loaded.file} (hosts: {', '.join(hosts)})",
                  file=sys.stderr)
            return exitcodes.INVALID
        print(json.dumps(hosts[args.host], indent=2, ensure_ascii=False))
        return exitcodes.OK
    if args.list:
        print(inventory_json(hosts, members))
    else:
        print(inventory_yaml(loaded.spec.site.name, hosts, members), end="")
    return exitcodes.OK
