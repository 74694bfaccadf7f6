"""InfiniBand (or RoCE) fabrics: switches, rails, cabling, subnet managers, partitions."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

from pydantic import Field

from components.spec.base import Name, SpecModel

DEFAULT_PKEY = 0x7FFF
"""The default partition's P_Key (IBTA; OpenSM partitions.conf `Default=0x7fff`)."""
FULL_MEMBER_BIT = 0x8000
"""The P_Key's high bit: set for a full member, clear for a limited one (the value an IPoIB child interface is
created with, e.g. `echo 0x8001 > /sys/class/net/ib0/create_child` makes ib0.8001: Linux
Documentation/infiniband/ipoib.rst, "Partitions and P_Keys"; rdma-core's ifup-ib normalises a partition's
PKEY_ID with `0x8000 | PKEY_ID`, quoted in linux-system-roles/network pull request 493)."""
IPOIB_HEADER_BYTES = 4
"""In datagram mode an IPoIB interface's MTU is the IB MTU minus the 4-byte IPoIB header (ipoib.rst, "Datagram vs
Connected modes": 2048 - 4 = 2044)."""


class SwitchTier(StrEnum):
    leaf = "leaf"
    spine = "spine"


class Switch(SpecModel):
    name: Name = Field(description="Switch name, unique across all fabrics.")
    tier: SwitchTier = Field(description="leaf (nodes cable here) or spine (leaves uplink here).")
    model: str = Field(description="Switch model, e.g. QM8700 (HDR, 40 ports).")
    ports: int = Field(ge=1, le=256, description="Number of ports; valid port numbers are 1..ports.")
    rails: list[int] = Field(default_factory=list, description="Compute rails a leaf serves.")
    management_address: str | None = Field(None, description="Switch management address, for people and tools.")


class NodeLink(SpecModel):
    """A cable from a node's HCA to a leaf port."""

    node: Name = Field(description="Hostname of the node.")
    hca: str = Field(pattern=r"^mlx5_\d+$", description="HCA device of the node's SKU, e.g. mlx5_0.")
    switch: Name = Field(description="Leaf switch the cable ends on.")
    port: int = Field(ge=1, description="Leaf port, 1..ports.")


class SwitchLink(SpecModel):
    """A cable between a leaf port and a spine port."""

    leaf: Name = Field(description="Leaf switch name.")
    leaf_port: int = Field(ge=1, description="Uplink port on the leaf.")
    spine: Name = Field(description="Spine switch name.")
    spine_port: int = Field(ge=1, description="Port on the spine.")


class SubnetManager(SpecModel):
    host: Name = Field(description="Node running OpenSM (must have the subnet_manager role).")
    priority: int = Field(ge=0, le=15, description="sm_priority; the highest is master.")


class Partition(SpecModel):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", description="Partition name in partitions.conf.")
    pkey: int = Field(description="Partition key, 0x0001..0x7fff (0x7fff is the default partition).")
    ipoib: bool = Field(True, description="Create the IPoIB broadcast group for this partition.")
    members: Literal["ALL", "compute", "storage"] = Field("ALL", description="Which ports belong: all, or the "
                                                          "compute or storage HCAs.")
    membership: Literal["full", "limited"] = Field("full", description="Full members may talk to each other; "
                                                   "limited members only to full ones.")
    ipoib_cidr: IPv4Network | None = Field(
        None, description="IPoIB network of this partition on the compute HCAs: one subnet of ipoib_rail_prefix "
                          "per rail, in rail order; each node's HCA of rail r gets the address of subnet r at the "
                          "node's host number on the management network. Null: no IPoIB addresses.")
    ipoib_rail_prefix: int = Field(24, ge=8, le=30, description="Prefix length of each rail's IPoIB subnet.")

    def rail_subnet(self, rail: int) -> IPv4Network:
        """Rail `rail`'s IPoIB subnet: the rail-th subnet of ipoib_cidr of prefix ipoib_rail_prefix."""
        if self.ipoib_cidr is None:
            raise ValueError(f"partition {self.name} has no ipoib_cidr")
        size = 1 << (32 - self.ipoib_rail_prefix)
        return IPv4Network((int(self.ipoib_cidr.network_address) + rail * size, self.ipoib_rail_prefix))

    def rail_capacity(self) -> int:
        """How many rail subnets ipoib_cidr holds (0 when the rail prefix is shorter than the network's)."""
        if self.ipoib_cidr is None or self.ipoib_rail_prefix < self.ipoib_cidr.prefixlen:
            return 0
        return 1 << (self.ipoib_rail_prefix - self.ipoib_cidr.prefixlen)

    def ipoib_pkey(self) -> int:
        """The P_Key an IPoIB interface of this partition carries: with the full-member bit for full members."""
        return self.pkey | FULL_MEMBER_BIT if self.membership == "full" else self.pkey


def host_number(address: IPv4Address, network: IPv4Network) -> int:
    """A node's host number: its address's offset inside `network` (10.10.0.11 in 10.10.0.0/22 is 11)."""
    return int(address) - int(network.network_address)


def ipoib_address(partition: Partition, rail: int, host: int) -> IPv4Address:
    """The IPoIB address of rail `rail` of the node with host number `host` on `partition`."""
    return partition.rail_subnet(rail).network_address + host


class FabricPurpose(StrEnum):
    compute = "compute"
    storage = "storage"


class Fabric(SpecModel):
    name: Name = Field(description="Fabric name.")
    purpose: FabricPurpose = Field(description="compute (GPU traffic, rails) or storage; one fabric each.")
    transport: Literal["infiniband", "roce"] = Field("infiniband", description="InfiniBand, or RoCE over Ethernet.")
    rate_gbps: int = Field(200, gt=0, description="Link rate in Gb/s; equals the rate of the HCAs cabled in.")
    mtu: Literal[256, 512, 1024, 2048, 4096, 9000] = Field(4096, description="IPoIB MTU (4096) or RoCE MTU.")
    routing_engine: Literal["ftree", "updn", "minhop", "dor", "ar_updn"] = Field(
        "ftree", description="OpenSM routing engine (ftree for a fat tree).")
    lmc: int = Field(0, ge=0, le=7, description="OpenSM LID mask control: 2^lmc LIDs per port.")
    # OpenSM's SMInfo polling: a standby SM polls the master every sminfo_polling_timeout ms and declares it dead
    # (and takes over) after polling_retry_number unanswered polls. Defaults are OpenSM's own
    # (linux-rdma/opensm include/opensm/osm_base.h: OSM_SM_DEFAULT_POLLING_TIMEOUT_MILLISECS 10000,
    # OSM_SM_DEFAULT_POLLING_RETRY_NUMBER 4, "the default total time for handoff is 40 sec"; the options as
    # `opensm -c` documents them: "Timeout in [msec] between two polls of active master SM", "Number of failing
    # polls of remote SM that declares it dead"). OpenSM reads both as unsigned 32-bit numbers
    # (opensm/osm_subnet.c, opts_parse_uint32); podforge asks for at least 1 of each.
    sminfo_polling_timeout_ms: int = Field(
        10000, ge=1, le=4_294_967_295,
        description="OpenSM sminfo_polling_timeout: ms between two SMInfo polls of the master by a standby SM.")
    polling_retry_number: int = Field(
        4, ge=1, le=4_294_967_295,
        description="OpenSM polling_retry_number: unanswered polls after which a standby SM declares the master "
                    "dead and takes over.")
    roce_gid_index: int | None = Field(None, ge=0, description="NCCL_IB_GID_INDEX for RoCE (usually 3).")
    switches: list[Switch] = Field(min_length=1, description="Leaf and spine switches.")
    node_links: list[NodeLink] = Field(default_factory=list, description="Cables node HCA → leaf port.")
    switch_links: list[SwitchLink] = Field(default_factory=list, description="Cables leaf port → spine port.")
    subnet_managers: list[SubnetManager] = Field(default_factory=list, description="OpenSM hosts and priorities "
                                                                                 "(InfiniBand only).")
    partitions: list[Partition] = Field(default_factory=list, description="Partitions (PKeys).")

    @cached_property
    def cables_by_node(self) -> dict[str, dict[str, NodeLink]]:
        """hostname → HCA device → its cable into this fabric, indexed once (per-node scans were quadratic)."""
        index: dict[str, dict[str, NodeLink]] = {}
        for link in self.node_links:
            index.setdefault(link.node, {})[link.hca] = link
        return index

    def limited_default_partition(self) -> int | None:
        """The index in `partitions` of a default partition (0x7fff) that leaves the nodes of this compute
        InfiniBand fabric limited members, or None.

        NCCL sets its queue pairs' P_Key *index* from NCCL_IB_PKEY, default 0 (NVIDIA/nccl src/transport/net_ib.cc:
        `NCCL_PARAM(IbPkey, "IB_PKEY", 0)`, `qpAttr.pkey_index = ncclParamIbPkey()`), and podforge's nccl.conf sets
        none. OpenSM puts the default partition at index 0 of every port's P_Key table (read back from OpenSM
        3.3.23 under ibsim in tests/integration/test_fabric_sim.py; NVIDIA WinOF-2 docs, "InfiniBand Network":
        "The default PKey (0x7fff) is inserted in block 0 index 0"). Two limited members of a partition cannot
        talk to each other (the `membership` field: limited members only reach full ones), so NCCL between two
        nodes would fail on a limited default partition.
        """
        if self.purpose is not FabricPurpose.compute or self.transport != "infiniband":
            return None
        if len({link.node for link in self.node_links}) < 2:
            return None  # one node talks to no other node over this fabric
        for index, partition in enumerate(self.partitions):
            if partition.pkey == DEFAULT_PKEY and partition.members in ("ALL", "compute") \
                    and partition.membership == "limited":
                return index
        return None

    def ipoib_partitions(self) -> list[Partition]:
        """The partitions whose IPoIB addresses podforge renders (ipoib_cidr set), in spec order."""
        return [p for p in self.partitions if p.ipoib_cidr is not None]

    def leaves(self) -> list[Switch]:
        return [s for s in self.switches if s.tier is SwitchTier.leaf]

    def spines(self) -> list[Switch]:
        return [s for s in self.switches if s.tier is SwitchTier.spine]
