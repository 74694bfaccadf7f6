"""IPoIB on the compute HCAs, written the way DGX OS configures networks: a netplan file, plus a systemd unit that
creates the IPoIB child interfaces of non-default partitions. Pure functions of the spec; the doca_ofed role
installs what these return (`podforge_files`) and applies them.

Addresses come from the spec (`fabrics[].partitions[].ipoib_cidr`): one subnet of `ipoib_rail_prefix` per rail, in
rail order, and on it each node's host number on the management network (components/spec/checks.py `_ipoib`
refuses what would not fit or would clash).

- The default partition (0x7fff) is the parent interface itself: the IPoIB driver creates one interface per port
  with the P_Key at index 0 (Linux Documentation/infiniband/ipoib.rst, "Partitions and P_Keys"), which is where
  OpenSM puts the default partition (components/spec/fabric.py `limited_default_partition`).
- Another partition is a child interface `<parent>.<pkey>`, its P_Key with the full-member bit
  (`echo 0x8101 > /sys/class/net/ibp12s0/create_child` makes `ibp12s0.8101`, ipoib.rst). Netplan has no key
  that creates IPoIB children (its InfiniBand support is `ethernets` entries matched by name or 20-byte address
  plus `infiniband-mode`: canonical/netplan pull request 283; canonical/cloud-init pull request 6927: "netplan has
  no dedicated infiniband section"), so a oneshot unit writes create_child and netplan configures the child by
  name once it exists.
- No `infiniband-mode`: netplan's networkd backend writes an `[IPoIB]` section only when it is set
  (canonical/netplan src/networkd.c: `if (def->ib_mode != NETPLAN_IB_MODE_KERNEL)`), and systemd-networkd's
  `[IPoIB]` section is newer than Ubuntu 22.04's systemd 249. The kernel's mode stays; on ConnectX-4 and later
  the mlx5 driver runs enhanced IPoIB, datagram only (Red Hat, "Configuring InfiniBand and RDMA networks",
  "Configuring IPoIB": "Connected mode is not supported on these devices").
- MTU: in datagram mode the IB MTU minus the 4-byte IPoIB header (ipoib.rst): 4092 on a 4096 fabric, the
  IPoIB broadcast group's MTU that partitions.conf sets (`mtu=5`).
- `renderer: networkd` on each interface, not in `network:`: the renderer "can be specified globally in network:,
  for a device type ... or for a particular device definition", and lexicographically later files "amend (new
  mapping keys) or override (same mapping keys) previous ones" (netplan(5), "General structure"), so a global
  one here would override the renderer DGX OS's own netplan file chose for its Ethernet ports. The role installs
  the file mode 0600: netplan warns about netplan files others can read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from components.spec.cluster import ClusterSpec
from components.spec.fabric import DEFAULT_PKEY, IPOIB_HEADER_BYTES, host_number, ipoib_address
from components.spec.nodes import Node

NETPLAN_FILE = "/etc/netplan/60-podforge-ipoib.yaml"
CHILDREN_UNIT_NAME = "podforge-ipoib-children.service"
CHILDREN_UNIT = f"/etc/systemd/system/{CHILDREN_UNIT_NAME}"


@dataclass(frozen=True)
class IpoibInterface:
    """One IPoIB interface of a node: a compute HCA's port on one partition, with its address."""

    name: str
    """The netdev (default partition) or the child `<netdev>.<pkey>`."""
    parent: str | None
    """The HCA's netdev a child is created on; None for the netdev itself."""
    pkey: int | None
    """The child's P_Key as create_child takes it (full-member bit set); None for the netdev itself."""
    device: str
    rail: int
    fabric: str
    partition: str
    address: str
    """CIDR form, e.g. 172.16.0.11/24."""
    mtu: int

    def as_var(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "mtu": self.mtu, "purpose": "compute",
                "device": self.device, "rail": self.rail, "fabric": self.fabric, "partition": self.partition,
                "parent": self.parent, "pkey": None if self.pkey is None else f"0x{self.pkey:04x}"}


def ipoib_interfaces(spec: ClusterSpec, node: Node) -> list[IpoibInterface]:
    """The node's IPoIB interfaces: per partition with an ipoib_cidr (spec order), its compute HCAs in rail order.

    Empty where the node is not cabled into the compute fabric or no partition has an ipoib_cidr. A compute HCA
    without a netdev in the catalogue gets none (the spec check refuses such a SKU on a fabric with IPoIB)."""
    fabric = spec.compute_fabric()
    if fabric is None or fabric.transport != "infiniband" or node.hostname not in fabric.cables_by_node:
        return []
    host = host_number(node.management_address, spec.networks.management.cidr)
    hcas = sorted((h for h in spec.sku_of(node).compute_hcas if h.rail is not None and h.netdev is not None),
                  key=lambda h: h.rail or 0)
    mtu = fabric.mtu - IPOIB_HEADER_BYTES
    out = []
    for partition in fabric.ipoib_partitions():
        child = partition.pkey != DEFAULT_PKEY
        pkey = partition.ipoib_pkey()
        for hca in hcas:
            assert hca.netdev is not None and hca.rail is not None
            address = ipoib_address(partition, hca.rail, host)
            out.append(IpoibInterface(
                name=f"{hca.netdev}.{pkey:04x}" if child else hca.netdev, parent=hca.netdev if child else None,
                pkey=pkey if child else None, device=hca.device, rail=hca.rail, fabric=fabric.name,
                partition=partition.name, address=f"{address}/{partition.ipoib_rail_prefix}", mtu=mtu))
    return out


def render_netplan(hostname: str, interfaces: list[IpoibInterface]) -> str:
    """The netplan file of the node's IPoIB interfaces (netplan YAML, version 2, `ethernets`)."""
    ethernets: dict[str, Any] = {}
    for iface in interfaces:
        ethernets[iface.name] = {
            "renderer": "networkd",
            "addresses": [iface.address],
            "mtu": iface.mtu,
            "dhcp4": False,
            "dhcp6": False,
            "link-local": [],
            "accept-ra": False,
            # not needed for boot: the node is reachable on its management network without IPoIB
            "optional": True,
        }
    header = (f"# IPoIB on {hostname}'s compute HCAs: rendered by podforge from the spec\n"
              f"# (fabrics[].partitions[].ipoib_cidr); edits are overwritten. One subnet per rail; a non-default\n"
              f"# partition is a child interface <netdev>.<pkey> that {CHILDREN_UNIT_NAME} creates.\n")
    body = yaml.safe_dump({"network": {"version": 2, "ethernets": ethernets}}, sort_keys=False,
                          default_flow_style=False)
    return header + body


def render_children_unit(hostname: str, interfaces: list[IpoibInterface]) -> str | None:
    """The oneshot unit creating the node's IPoIB child interfaces, or None when it has none."""
    children = [i for i in interfaces if i.parent is not None and i.pkey is not None]
    if not children:
        return None
    parents = sorted({i.parent for i in children if i.parent is not None})
    devices = " ".join(f"sys-subsystem-net-devices-{p}.device" for p in parents)
    lines = [f"# IPoIB child interfaces of {hostname}: rendered by podforge from the spec; edits are overwritten.",
             "# One per compute HCA and non-default partition with an ipoib_cidr, created with the partition's P_Key",
             "# (full-member bit set) through the parent's create_child file (Linux ipoib.rst).",
             "[Unit]",
             "Description=podforge IPoIB child interfaces (InfiniBand partitions)",
             f"Requires={devices}",
             f"After={devices} openibd.service",
             "Before=network-online.target",
             "",
             "[Service]",
             "Type=oneshot",
             "RemainAfterExit=yes"]
    for iface in children:
        lines.append(f"ExecStart=/bin/sh -c 'test -e /sys/class/net/{iface.name} || "
                     f"echo 0x{iface.pkey:04x} > /sys/class/net/{iface.parent}/create_child'")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def ipoib_files(spec: ClusterSpec, node: Node) -> dict[str, str]:
    """The node's IPoIB files keyed by the path doca_ofed installs them at; empty without IPoIB interfaces."""
    interfaces = ipoib_interfaces(spec, node)
    if not interfaces:
        return {}
    files = {NETPLAN_FILE: render_netplan(node.hostname, interfaces)}
    unit = render_children_unit(node.hostname, interfaces)
    if unit is not None:
        files[CHILDREN_UNIT] = unit
    return files


__all__ = ["CHILDREN_UNIT", "CHILDREN_UNIT_NAME", "NETPLAN_FILE", "IpoibInterface", "ipoib_files",
           "ipoib_interfaces", "render_children_unit", "render_netplan"]
