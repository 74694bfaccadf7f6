"""The Ansible inventory and host_vars, rendered from the spec: groups, rails, leaves, kubespray groups.

No inventory file is kept by hand anywhere: `podforge inventory`, `podforge rollout` and the
NodeProvisioning provider all read what these functions return.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from components.render.environment import render
from components.render.fabric_files import fabric_files, sm_port_device
from components.spec.cluster import ClusterSpec
from components.spec.loader import PROJECT_ROOT
from components.spec.nodes import Node, NodeRole

KUBESPRAY_GROUPS = ("kube_control_plane", "kube_node", "etcd")
# A node role is a group of the same name (kubespray's groups, inference_local), except these plurals.
ROLE_GROUPS = {NodeRole.gpu_node: "gpu_nodes", NodeRole.subnet_manager: "subnet_managers"}


def group_name(text: str) -> str:
    """Ansible group names must be identifiers: `lab-leaf-01` → `lab_leaf_01`."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _compute_links(spec: ClusterSpec, node: Node) -> list[dict[str, Any]]:
    """The node's compute HCAs in rail order, each with the leaf port it is cabled to (if the spec cables it)."""
    fabric = spec.compute_fabric()
    cables = fabric.cables_by_node.get(node.hostname, {}) if fabric else {}
    hcas = sorted((h for h in spec.sku_of(node).compute_hcas), key=lambda h: (h.rail is None, h.rail))
    out = []
    for hca in hcas:
        cable = cables.get(hca.device)
        out.append({"device": hca.device, "rail": hca.rail, "gpu": hca.gpu, "numa_node": hca.numa_node,
                    "rate_gbps": hca.rate_gbps, "link_layer": hca.link_layer, "netdev": hca.netdev,
                    "switch": cable.switch if cable else None, "port": cable.port if cable else None})
    return out


def _mounts(spec: ClusterSpec, node: Node) -> list[dict[str, Any]]:
    arrays = {a.name: a for a in spec.storage.arrays}
    out = []
    for mount in spec.storage.mounts:
        if not ((mount.role is not None and mount.role in node.roles) or node.hostname in mount.hosts):
            continue
        array_name, export_name = mount.export.split("/", 1)
        array = arrays[array_name]
        export = next(e for e in array.exports if e.name == export_name)
        out.append({"export": mount.export, "array": array_name, "servers": list(array.data_addresses),
                    "path": export.path, "protocol": export.protocol.value, "mount_point": mount.mount_point,
                    "options": list(mount.options)})
    return out


def groups(spec: ClusterSpec) -> dict[str, list[str]]:
    """Group name → hostnames in spec order. Empty groups are left out (kubespray's only if asked for)."""
    out: dict[str, list[str]] = {}

    def add(group: str, hostname: str) -> None:
        members = out.setdefault(group, [])
        if hostname not in members:
            members.append(hostname)

    for node in spec.nodes:
        for role in node.roles:
            add(ROLE_GROUPS.get(role, role.value), node.hostname)
        if _mounts(spec, node):
            add("storage_clients", node.hostname)
        for link in _compute_links(spec, node):
            if link["rail"] is not None:
                add(f"rail_{link['rail']}", node.hostname)
            if link["switch"] is not None:
                add(f"leaf_{group_name(link['switch'])}", node.hostname)
    return dict(sorted(out.items(), key=lambda kv: _group_order(kv[0])))


def _group_order(name: str) -> tuple[int, int, str]:
    fixed = ["gpu_nodes", "subnet_managers", "storage_clients", *KUBESPRAY_GROUPS, "inference_local"]
    if name in fixed:
        return (0, fixed.index(name), name)
    if name.startswith("rail_"):
        return (1, int(name.removeprefix("rail_")), name)
    return (2, 0, name)


def host_vars(spec: ClusterSpec, node: Node) -> dict[str, Any]:
    """What the roles need to know about one node, all from the spec; no connection settings."""
    sku = spec.sku_of(node)
    software = spec.software
    sm = [{"fabric": f.name, "priority": s.priority, "device": sm_port_device(spec, f, node.hostname)}
          for f in spec.fabrics for s in f.subnet_managers if s.host == node.hostname]
    return {
        "podforge_site": spec.site.name,
        "podforge_lab": spec.site.lab,
        "podforge_timezone": spec.site.timezone,
        "podforge_ntp_servers": list(spec.site.ntp_servers),
        "podforge_dns_servers": [str(a) for a in spec.site.dns_servers],
        "podforge_hostname": node.hostname,
        "podforge_serial": node.serial,
        "podforge_rack": node.rack,
        "podforge_roles": [r.value for r in node.roles],
        "podforge_sku": {"name": node.sku, "model": sku.model, "gpu_model": sku.gpu.model, "gpu_count": sku.gpu.count,
                         "nvswitch": sku.has_nvswitch,
                         "allreduce_busbw_floor_gbs": sku.acceptance.allreduce_busbw_floor_gbs},
        "podforge_addresses": {
            "management": str(node.management_address),
            "inband": str(node.inband_address) if node.inband_address else None,
            "storage": str(node.storage_address) if node.storage_address else None,
            "bmc": node.bmc_host,
        },
        "podforge_compute_hcas": _compute_links(spec, node),
        "podforge_storage_hcas": [h.device for h in sku.storage_hcas],
        "podforge_subnet_manager": sm,
        "podforge_mounts": _mounts(spec, node),
        "podforge_versions": {
            "os": software.os,
            "driver_branch": software.driver.branch,
            "driver": software.driver.version,
            "fabric_manager": software.fabric_manager.version,
            "doca_ofed": software.doca_ofed.version,
            "nccl": software.nccl.version,
            "nccl_tests": software.nccl_tests.version,
            "container_toolkit": software.container_toolkit.version,
            "dcgm": software.dcgm.version,
            "dcgm_exporter": software.dcgm_exporter.version if software.dcgm_exporter else "",
        },
        "podforge_package_sources": [s.model_dump(mode="json", exclude_none=True) for s in software.sources],
        "podforge_serving": spec.serving.model_dump(mode="json") if spec.serving else None,
        "podforge_audit_log_days": spec.retention.audit_log_days,
        "podforge_ssh_user": node.ssh.user,
    }


CHRONY_CONF = "/etc/chrony/chrony.conf"


def rendered_files(spec: ClusterSpec, node: Node) -> dict[str, str]:
    """Config files rendered from templates/ for one node, keyed by the path roles install them at, unchanged."""
    return {CHRONY_CONF: render("chrony.conf.j2", ntp_servers=list(spec.site.ntp_servers)),
            **fabric_files(spec, node.hostname)}


def known_hosts_path(node: Node, root: Path = PROJECT_ROOT) -> Path | None:
    if node.ssh.known_hosts is None:
        return None
    path = Path(node.ssh.known_hosts)
    return path if path.is_absolute() else root / path


def host_pattern(address: str, port: int) -> str:
    """How known_hosts names a host: the bare address on port 22, `[address]:port` otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


def known_hosts_lines(node: Node, root: Path = PROJECT_ROOT, known_hosts: Path | None = None) -> list[str]:
    """The pinned host key lines for the node: its spec `host_key`, or the lines of its known_hosts file
    (or `known_hosts`, when given) naming its management address. Empty when the file or line is missing."""
    pattern = host_pattern(str(node.management_address), node.ssh.port)
    if node.ssh.host_key is not None and known_hosts is None:
        return [f"{pattern} {node.ssh.host_key}"]
    path = known_hosts or known_hosts_path(node, root)
    if path is None or not path.is_file():
        return []
    found = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and not line.startswith("#") and pattern in fields[0].split(","):
            found.append(f"{pattern} {fields[1]} {fields[2]}")
    return sorted(found)


def connection_vars(address: str, port: int, user: str, known_hosts_file: str | None,
                    known_hosts_lines_: list[str] | None = None) -> dict[str, Any]:
    """ansible_* settings with host key checking ON against the pin only (no global or personal known_hosts)."""
    options = ["-o StrictHostKeyChecking=yes", "-o GlobalKnownHostsFile=/dev/null"]
    if known_hosts_file is not None:
        options.append(f"-o UserKnownHostsFile={shlex.quote(known_hosts_file)}")
    else:
        # A key pinned in the spec itself: ssh reads it from this command, nothing is written to disk.
        options.append("-o UserKnownHostsFile=/dev/null")
        for line in known_hosts_lines_ or []:
            options.append(shlex.quote(f"-oKnownHostsCommand=/bin/echo {line}"))
    return {"ansible_host": address, "ansible_port": port, "ansible_user": user,
            "ansible_ssh_common_args": " ".join(options)}


def node_connection_vars(node: Node, root: Path = PROJECT_ROOT) -> dict[str, Any]:
    path = known_hosts_path(node, root)
    return connection_vars(str(node.management_address), node.ssh.port, node.ssh.user,
                           str(path) if path else None, known_hosts_lines(node, root))


def inventory_document(hosts: dict[str, dict[str, Any]], group_members: dict[str, list[str]]) -> dict[str, Any]:
    """The YAML inventory shape: all.hosts with their vars, all.children with members; k8s_cluster for kubespray."""
    children: dict[str, Any] = {g: {"hosts": {h: None for h in members}} for g, members in group_members.items()}
    if any(g in group_members for g in ("kube_control_plane", "kube_node")):
        children["k8s_cluster"] = {"children": {g: None for g in ("kube_control_plane", "kube_node")
                                                if g in group_members}}
    return {"all": {"hosts": hosts, "children": children}}


def dynamic_inventory(hosts: dict[str, dict[str, Any]], group_members: dict[str, list[str]]) -> dict[str, Any]:
    """The `--list` JSON of an inventory script: groups with hosts, `_meta.hostvars`."""
    out: dict[str, Any] = {"_meta": {"hostvars": hosts}, "all": {"children": ["ungrouped", *group_members]}}
    for group, members in group_members.items():
        out[group] = {"hosts": list(members)}
    if any(g in group_members for g in ("kube_control_plane", "kube_node")):
        out["k8s_cluster"] = {"children": [g for g in ("kube_control_plane", "kube_node") if g in group_members]}
        out["all"]["children"].append("k8s_cluster")
    out["ungrouped"] = {"hosts": []}
    return out


def spec_hosts(spec: ClusterSpec, root: Path = PROJECT_ROOT) -> dict[str, dict[str, Any]]:
    """hostname → every var of the host: connection, domain vars and rendered files."""
    return {node.hostname: {**node_connection_vars(node, root), **host_vars(spec, node),
                            "podforge_files": rendered_files(spec, node)} for node in spec.nodes}


def inventory_yaml(spec: ClusterSpec, root: Path = PROJECT_ROOT) -> str:
    doc = inventory_document(spec_hosts(spec, root), groups(spec))
    header = f"# Rendered by podforge from the spec of site {spec.site.name}; do not edit, render again.\n"
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)


def inventory_json(spec: ClusterSpec, root: Path = PROJECT_ROOT) -> str:
    return json.dumps(dynamic_inventory(spec_hosts(spec, root), groups(spec)), indent=2, ensure_ascii=False)
