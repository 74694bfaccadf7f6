"""The Ansible inventory as text: the YAML document and the dynamic-inventory `--list` JSON of a set of hosts.

No inventory file is kept by hand anywhere: the hosts' vars and groups come from the host views
(components.host) through the one assembler, components.provisioning.target.inventory.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

_K8S_GROUPS = ("kube_control_plane", "kube_node")


def inventory_document(hosts: dict[str, dict[str, Any]], group_members: dict[str, list[str]]) -> dict[str, Any]:
    """The YAML inventory shape: all.hosts with their vars, all.children with members; k8s_cluster for kubespray."""
    children: dict[str, Any] = {g: {"hosts": {h: None for h in members}} for g, members in group_members.items()}
    if any(g in group_members for g in _K8S_GROUPS):
        children["k8s_cluster"] = {"children": {g: None for g in _K8S_GROUPS if g in group_members}}
    return {"all": {"hosts": hosts, "children": children}}


def dynamic_inventory(hosts: dict[str, dict[str, Any]], group_members: dict[str, list[str]]) -> dict[str, Any]:
    """The `--list` JSON of an inventory script: groups with hosts, `_meta.hostvars`."""
    out: dict[str, Any] = {"_meta": {"hostvars": hosts}, "all": {"children": ["ungrouped", *group_members]}}
    for group, members in group_members.items():
        out[group] = {"hosts": list(members)}
    if any(g in group_members for g in _K8S_GROUPS):
        out["k8s_cluster"] = {"children": [g for g in _K8S_GROUPS if g in group_members]}
        out["all"]["children"].append("k8s_cluster")
    out["ungrouped"] = {"hosts": []}
    return out


def inventory_yaml(site: str, hosts: dict[str, dict[str, Any]], group_members: dict[str, list[str]]) -> str:
    header = f"# Rendered by podforge from the spec of site {site}; do not edit, render again.\n"
    return header + yaml.safe_dump(inventory_document(hosts, group_members), sort_keys=False, allow_unicode=True,
                                   width=1000)


def inventory_json(hosts: dict[str, dict[str, Any]], group_members: dict[str, list[str]]) -> str:
    return json.dumps(dynamic_inventory(hosts, group_members), indent=2, ensure_ascii=False)
