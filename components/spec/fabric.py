"""InfiniBand (or RoCE) fabrics: switches, rails, cabling, subnet managers, partitions."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from components.spec.base import Name, SpecModel


class SwitchTier(StrEnum):
    leaf = "leaf"
    spine = "spine"


class Switch(SpecModel):
    name: Name
    tier: SwitchTier
    model: str = Field(description="Switch model, e.g. QM8700 (HDR, 40 ports).")
    ports: int = Field(ge=1, le=256, description="Number of ports; valid port numbers are 1..ports.")
    rails: list[int] = Field(default_factory=list, description="Compute rails a leaf serves.")
    management_address: str | None = None


class NodeLink(SpecModel):
    """A cable from a node's HCA to a leaf port."""

    node: Name
    hca: str = Field(pattern=r"^mlx5_\d+$")
    switch: Name
    port: int = Field(ge=1)


class SwitchLink(SpecModel):
    """A cable between a leaf port and a spine port."""

    leaf: Name
    leaf_port: int = Field(ge=1)
    spine: Name
    spine_port: int = Field(ge=1)


class SubnetManager(SpecModel):
    host: Name = Field(description="Node running OpenSM (must have the subnet_manager role).")
    priority: int = Field(ge=0, le=15, description="sm_priority; the highest is master.")


class Partition(SpecModel):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    pkey: int = Field(description="Partition key, 0x0001..0x7fff (0x7fff is the default partition).")
    ipoib: bool = True
    members: Literal["ALL", "compute", "storage"] = "ALL"
    membership: Literal["full", "limited"] = "full"


class FabricPurpose(StrEnum):
    compute = "compute"
    storage = "storage"


class Fabric(SpecModel):
    name: Name
    purpose: FabricPurpose
    transport: Literal["infiniband", "roce"] = "infiniband"
    rate_gbps: int = Field(200, gt=0)
    mtu: Literal[256, 512, 1024, 2048, 4096, 9000] = Field(4096, description="IPoIB MTU (4096) or RoCE MTU.")
    routing_engine: Literal["ftree", "updn", "minhop", "dor", "ar_updn"] = "ftree"
    lmc: int = Field(0, ge=0, le=7)
    roce_gid_index: int | None = Field(None, ge=0, description="NCCL_IB_GID_INDEX for RoCE (usually 3).")
    switches: list[Switch] = Field(min_length=1)
    node_links: list[NodeLink] = Field(default_factory=list)
    switch_links: list[SwitchLink] = Field(default_factory=list)
    subnet_managers: list[SubnetManager] = Field(default_factory=list)
    partitions: list[Partition] = Field(default_factory=list)

    def leaves(self) -> list[Switch]:
        return [s for s in self.switches if s.tier is SwitchTier.leaf]

    def spines(self) -> list[Switch]:
        return [s for s in self.switches if s.tier is SwitchTier.spine]
