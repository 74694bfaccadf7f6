"""One host as every consumer sees it: a frozen view of one node of the spec, built for all nodes in one pass.

A HostView holds what the spec says about one machine: identity (hostname, SKU, serial, rack, roles), addresses,
compute HCAs in rail order with the leaf port each is cabled to, storage HCAs, the interfaces of its networks,
its mounts, its subnet-manager duty, its inventory groups and how podforge logs in (user, port, host-key pin).
`host_vars()` and `files()` are what Ansible gets for it. DgxNode, NodeProvisioning, `podforge inventory`,
`rollout`, `verify` and the lab read these views; nothing else walks the spec for one host.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from components import paths
from components.render import gateway_project
from components.render.environment import render
from components.render.fabric_files import fabric_files, sm_port_device
from components.render.netplan import IpoibInterface, ipoib_interfaces
from components.spec.catalogue_models import Hca
from components.spec.cluster import ClusterSpec
from components.spec.fabric import Fabric, FabricPurpose
from components.spec.nodes import Node, NodeRole
from components.spec.software import nccl_tests_vars, sku_acceptance_vars

KUBESPRAY_GROUPS = ("kube_control_plane", "kube_node", "etcd")
# A node role is a group of the same name (kubespray's groups, inference_local), except these plurals.
ROLE_GROUPS = {NodeRole.gpu_node: "gpu_nodes", NodeRole.subnet_manager: "subnet_managers"}
_FIXED_GROUPS = ("gpu_nodes", "subnet_managers", "storage_clients", *KUBESPRAY_GROUPS, "inference_local")

CHRONY_CONF = "/etc/chrony/chrony.conf"


def group_name(text: str) -> str:
    """Ansible group names must be identifiers: `lab-leaf-01` → `lab_leaf_01`."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def group_order(name: str) -> tuple[int, int, str]:
    """Inventory order of groups: the role and storage groups, then rails by number, then leaves by name."""
    if name in _FIXED_GROUPS:
        return (0, _FIXED_GROUPS.index(name), name)
    if name.startswith("rail_"):
        return (1, int(name.removeprefix("rail_")), name)
    return (2, 0, name)


@dataclass(frozen=True)
class LeafPort:
    """A cable from one of the host's HCAs to a leaf switch port."""

    fabric: str
    hca: str
    switch: str
    port: int

    @property
    def label(self) -> str:
        """`SWITCH/PORT`: one short string per cable keeps a thousand nodes cheap to register and diff."""
        return f"{self.switch}/{self.port}"


@dataclass(frozen=True)
class HcaPort:
    """One HCA of the host's SKU and, where the spec cables it, the leaf port of its fabric."""

    device: str
    rail: int | None
    gpu: int | None
    numa_node: int | None
    rate_gbps: int
    link_layer: str
    netdev: str | None
    """The port's Linux interface (IPoIB on InfiniBand), where the catalogue names it."""
    switch: str | None
    port: int | None

    def as_var(self) -> dict[str, Any]:
        return {"device": self.device, "rail": self.rail, "gpu": self.gpu, "numa_node": self.numa_node,
                "rate_gbps": self.rate_gbps, "link_layer": self.link_layer, "netdev": self.netdev,
                "switch": self.switch, "port": self.port}


@dataclass(frozen=True)
class Mount:
    """An export of an array the host mounts."""

    export: str  # ARRAY/EXPORT
    array: str
    servers: tuple[str, ...]
    path: str
    protocol: str
    mount_point: str
    options: tuple[str, ...]
    nvme: Mapping[str, Any] | None = None
    """NVMe-oF only: transport, nqn, filesystem, label and the `nvme connect` options."""

    def as_var(self) -> dict[str, Any]:
        out = {"export": self.export, "array": self.array, "servers": list(self.servers), "path": self.path,
               "protocol": self.protocol, "mount_point": self.mount_point, "options": list(self.options)}
        if self.nvme is not None:
            out["nvme"] = dict(self.nvme)
        return out

    def for_host(self, position: int) -> Mount:
        """The mount as the `position`-th of its hosts sees it: the data addresses rotated by that many, so that
        hosts spread over the array's addresses (NFS mounts the first one; NVMe-oF connects to every one)."""
        if len(self.servers) < 2:
            return self
        k = position % len(self.servers)
        return replace(self, servers=self.servers[k:] + self.servers[:k])


@dataclass(frozen=True)
class SubnetManagerDuty:
    """An OpenSM instance the host runs: its fabric, sm_priority and the HCA it binds to."""

    fabric: str
    priority: int
    device: str


@dataclass(frozen=True)
class SshLogin:
    """How podforge logs in to the host and how its host key is pinned (components.access reads the pin)."""

    address: str
    """The management address: SSH goes here."""
    port: int
    user: str
    host_key: str | None
    """`TYPE BASE64`, when the spec writes the key itself."""
    known_hosts: str | None
    """The known_hosts file as the spec names it (relative to the project)."""
    known_hosts_file: Path | None
    """That file's path in the project."""


@dataclass(frozen=True)
class HostView:
    hostname: str
    sku: str
    serial: str
    rack: str | None
    roles: tuple[str, ...]
    addresses: Mapping[str, str]
    """management, inband, storage (those the spec declares) and bmc."""
    bmc: str
    """The BMC's Redfish endpoint."""
    compute_hcas: tuple[HcaPort, ...]
    """In rail order (index = rail), the order NCCL_IB_HCA is rendered in."""
    storage_hcas: tuple[HcaPort, ...]
    ipoib: tuple[IpoibInterface, ...]
    """IPoIB interfaces with their addresses (fabrics[].partitions[].ipoib_cidr), per partition in rail order."""
    leaf_ports: tuple[LeafPort, ...]
    """Every cable of every fabric, in fabric order."""
    interfaces: Mapping[str, str]
    """Network → the interface that carries it, for the networks whose interface the spec names."""
    mounts: tuple[Mount, ...]
    subnet_manager: tuple[SubnetManagerDuty, ...]
    groups: tuple[str, ...]
    """Inventory groups, in inventory order."""
    login: SshLogin
    site_vars: Mapping[str, Any]
    """The site-wide host_vars (one mapping shared by every view of a spec; host_vars() copies it)."""
    sku_vars: Mapping[str, Any]
    rendered: Mapping[str, str]

    def host_vars(self) -> dict[str, Any]:
        """What the roles need to know about the host, all from the spec; no connection settings."""
        site = copy.deepcopy(dict(self.site_vars))  # fresh containers per host: a YAML dump would alias shared ones
        gateway = {"podforge_gateway": site["podforge_gateway"]} if (
            site["podforge_gateway"] and "inference_local" in self.roles) else {}
        return {
            "podforge_site": site["podforge_site"],
            "podforge_lab": site["podforge_lab"],
            "podforge_timezone": site["podforge_timezone"],
            "podforge_ntp_servers": site["podforge_ntp_servers"],
            "podforge_dns_servers": site["podforge_dns_servers"],
            "podforge_hostname": self.hostname,
            "podforge_serial": self.serial,
            "podforge_rack": self.rack,
            "podforge_roles": list(self.roles),
            "podforge_sku": dict(self.sku_vars),
            "podforge_addresses": {"management": self.addresses["management"], "inband": self.addresses.get("inband"),
                                   "storage": self.addresses.get("storage"), "bmc": self.addresses["bmc"]},
            "podforge_compute_hcas": [h.as_var() for h in self.compute_hcas],
            "podforge_storage_hcas": [h.device for h in self.storage_hcas],
            "podforge_storage_hca_ports": [h.as_var() for h in self.storage_hcas],
            "podforge_ipoib_interfaces": [i.as_var() for i in self.ipoib],
            "podforge_subnet_manager": [{"fabric": d.fabric, "priority": d.priority, "device": d.device}
                                        for d in self.subnet_manager],
            "podforge_mounts": [m.as_var() for m in self.mounts],
            "podforge_versions": site["podforge_versions"],
            "podforge_nccl_tests": site["podforge_nccl_tests"],
            "podforge_package_sources": site["podforge_package_sources"],
            "podforge_serving": site["podforge_serving"],
            "podforge_audit_log_days": site["podforge_audit_log_days"],
            "podforge_ssh_user": self.login.user,
            **gateway,
        }

    def files(self) -> dict[str, str]:
        """Config files rendered from templates/ for the host, keyed by the path roles install them at, unchanged."""
        return dict(self.rendered)


def host_views(spec: ClusterSpec, root: Path | None = None) -> dict[str, HostView]:
    """Every node's view, in spec order, from one pass over the spec. `root`: the project directory that
    known_hosts files named in the spec are relative to (default: the project)."""
    root = root if root is not None else paths.project_root()
    site_vars = {**_site_vars(spec), "podforge_gateway": gateway_vars(spec, root)}
    chrony = render("chrony.conf.j2", ntp_servers=list(spec.site.ntp_servers))
    compute = spec.compute_fabric()
    storage = next((f for f in spec.fabrics if f.purpose is FabricPurpose.storage), None)
    interfaces = {name: net.interface for name in ("management", "inband", "storage")
                  if (net := getattr(spec.networks, name)).interface is not None}
    managers: dict[str, list[SubnetManagerDuty]] = {}
    for fabric in spec.fabrics:
        for sm in fabric.subnet_managers:
            managers.setdefault(sm.host, []).append(
                SubnetManagerDuty(fabric.name, sm.priority, sm_port_device(spec, fabric, sm.host)))
    mounts = _resolved_mounts(spec)
    members = [[n.hostname for n in spec.nodes if (role is not None and role in n.roles) or n.hostname in hosts]
               for _, role, hosts in mounts]
    sku_vars: dict[str, dict[str, Any]] = {}
    views: dict[str, HostView] = {}
    for node in spec.nodes:
        sku = spec.sku_of(node)
        if node.sku not in sku_vars:
            sku_vars[node.sku] = {"name": node.sku, "model": sku.model, "gpu_model": sku.gpu.model,
                                  "gpu_count": sku.gpu.count, "nvswitch": sku.has_nvswitch,
                                  "allreduce_busbw_floor_gbs": sku.acceptance.allreduce_busbw_floor_gbs,
                                  **sku_acceptance_vars(spec.software, node.sku)}
        rails = sorted(sku.compute_hcas, key=lambda h: (h.rail is None, h.rail or 0))
        compute_hcas = tuple(_hca_port(h, compute, node.hostname) for h in rails)
        own_mounts = tuple(m.for_host(members[k].index(node.hostname)) for k, (m, role, hosts) in enumerate(mounts)
                           if node.hostname in members[k])
        views[node.hostname] = HostView(
            hostname=node.hostname, sku=node.sku, serial=node.serial, rack=node.rack,
            roles=tuple(r.value for r in node.roles), addresses=_addresses(node), bmc=node.bmc,
            compute_hcas=compute_hcas,
            storage_hcas=tuple(_hca_port(h, storage, node.hostname) for h in sku.storage_hcas),
            ipoib=tuple(ipoib_interfaces(spec, node)),
            leaf_ports=tuple(LeafPort(f.name, link.hca, link.switch, link.port)
                             for f in spec.fabrics for link in f.cables_by_node.get(node.hostname, {}).values()),
            interfaces=interfaces, mounts=own_mounts, subnet_manager=tuple(managers.get(node.hostname, ())),
            groups=_groups(node, compute_hcas, bool(own_mounts)), login=_login(node, root),
            site_vars=site_vars, sku_vars=sku_vars[node.sku],
            rendered={CHRONY_CONF: chrony, **fabric_files(spec, node.hostname)})
    return views


def group_members(hosts: Iterable[Any]) -> dict[str, list[str]]:
    """Group name → hostnames in the order given, groups in inventory order; a group with no member is left out.
    `hosts`: anything with `hostname` and `groups` (host views, provisioning targets)."""
    members: dict[str, list[str]] = {}
    for host in hosts:
        for group in host.groups:
            members.setdefault(group, []).append(host.hostname)
    return dict(sorted(members.items(), key=lambda kv: group_order(kv[0])))


def _site_vars(spec: ClusterSpec) -> dict[str, Any]:
    software = spec.software
    return {
        "podforge_site": spec.site.name,
        "podforge_lab": spec.site.lab,
        "podforge_timezone": spec.site.timezone,
        "podforge_ntp_servers": list(spec.site.ntp_servers),
        "podforge_dns_servers": [str(a) for a in spec.site.dns_servers],
        "podforge_versions": {
            "os": software.os,
            "driver_branch": software.driver.branch,
            "driver": software.driver.version,
            "kernel_modules": software.driver.kernel_modules,
            "kernel_flavour": software.driver.kernel_flavour,
            "mig_mode": software.driver.mig_mode,
            "fabric_manager": software.fabric_manager.version,
            "doca_ofed": software.doca_ofed.version,
            "nccl": software.nccl.version,
            "nccl_tests": software.nccl_tests.version,
            "container_toolkit": software.container_toolkit.version,
            "dcgm": software.dcgm.version,
            "dcgm_exporter": software.dcgm_exporter.version if software.dcgm_exporter else "",
        },
        "podforge_package_sources": [s.model_dump(mode="json", exclude_none=True) for s in software.sources],
        "podforge_nccl_tests": nccl_tests_vars(software),
        "podforge_serving": spec.serving.model_dump(mode="json") if spec.serving else None,
        "podforge_audit_log_days": spec.retention.audit_log_days,
    }


def gateway_vars(spec: ClusterSpec, root: Path) -> dict[str, Any]:
    """What the inference_local role needs to run the gateway's image beside the engine (docs/gateway.md, "Beside
    the engine"): the image, where it listens, the project files the container reads (the whole spec: TLS is the
    gateway's own there, no ingress in front), where its key store and audit log go. Empty without
    `gateway.image` or without inference_local nodes. The JWKS file `gateway.oidc.jwks` names is read from the
    project `root`; a file that cannot be read is named in `missing` (the role refuses to go on)."""
    g = spec.gateway
    if g.image is None or not spec.nodes_with(NodeRole.inference_local):
        return {}
    stack = spec.site.name
    missing: list[str] = []
    try:
        jwks_text = gateway_project.read_jwks(spec, root)
    except (OSError, UnicodeDecodeError):
        missing, jwks_text = [str(gateway_project.jwks_file(spec))], ""
    files = gateway_project.project_files(spec, stack, tls=True, jwks_text=jwks_text)
    where = gateway_project.file_paths(spec, stack)
    return {"image": g.image, "listen": g.listen, "stack": stack, "tls": g.tls is not None,
            "uid": gateway_project.UID, "project_dir": gateway_project.PROJECT_DIR,
            "state_dir": gateway_project.STATE_DIR, "key_store": gateway_project.KEY_STORE,
            "audit_log": gateway_project.AUDIT_LOG, "missing": missing,
            "files": [{"path": where[key], "content": text} for key, text in files.items()]}


def _addresses(node: Node) -> dict[str, str]:
    addresses = {"management": str(node.management_address)}
    if node.inband_address is not None:
        addresses["inband"] = str(node.inband_address)
    if node.storage_address is not None:
        addresses["storage"] = str(node.storage_address)
    addresses["bmc"] = node.bmc_host
    return addresses


def _hca_port(hca: Hca, fabric: Fabric | None, hostname: str) -> HcaPort:
    cable = fabric.cables_by_node.get(hostname, {}).get(hca.device) if fabric is not None else None
    # A ConnectX port runs the link layer of the fabric it is cabled into: Ethernet on a RoCE fabric, whatever the
    # catalogue's default for the SKU says.
    link_layer = "ethernet" if fabric is not None and fabric.transport == "roce" else hca.link_layer
    return HcaPort(hca.device, hca.rail, hca.gpu, hca.numa_node, hca.rate_gbps, link_layer, hca.netdev,
                   cable.switch if cable else None, cable.port if cable else None)


def _resolved_mounts(spec: ClusterSpec) -> list[tuple[Mount, NodeRole | None, set[str]]]:
    """Every mount of the spec with its export resolved once, and who mounts it (a role, hostnames)."""
    arrays = {a.name: a for a in spec.storage.arrays}
    out = []
    for mount in spec.storage.mounts:
        array_name, export_name = mount.export.split("/", 1)
        array = arrays[array_name]
        export = next(e for e in array.exports if e.name == export_name)
        nvme = None if export.nvme_transport is None else {
            "transport": export.nvme_transport, "nqn": export.nqn, "filesystem": export.filesystem,
            "label": export.fs_label, "options": list(mount.nvme_options)}
        out.append((Mount(mount.export, array_name, tuple(array.data_addresses), export.path, export.protocol.value,
                          mount.mount_point, tuple(mount.options), nvme), mount.role, set(mount.hosts)))
    return out


def _groups(node: Node, compute_hcas: tuple[HcaPort, ...], mounts: bool) -> tuple[str, ...]:
    found = [ROLE_GROUPS.get(role, role.value) for role in node.roles]
    if mounts:
        found.append("storage_clients")
    for hca in compute_hcas:
        if hca.rail is not None:
            found.append(f"rail_{hca.rail}")
        if hca.switch is not None:
            found.append(f"leaf_{group_name(hca.switch)}")
    return tuple(sorted(dict.fromkeys(found), key=group_order))


def _login(node: Node, root: Path) -> SshLogin:
    pin = node.ssh
    known_hosts = None
    if pin.known_hosts is not None:
        known_hosts = Path(pin.known_hosts) if Path(pin.known_hosts).is_absolute() else root / pin.known_hosts
    return SshLogin(str(node.management_address), pin.port, pin.user, pin.host_key, pin.known_hosts, known_hosts)
