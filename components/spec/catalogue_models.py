"""Hardware catalogue entries: what a SKU is, so a site names it instead of repeating it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.spec.base import Name, SpecModel


class Hca(SpecModel):
    device: str = Field(pattern=r"^mlx5_\d+$", description="RDMA device name, e.g. mlx5_0.")
    model: str = Field(description="Adapter model, e.g. ConnectX-6.")
    link_layer: Literal["infiniband", "ethernet"] = "infiniband"
    rate_gbps: int = Field(gt=0, description="Port rate in Gb/s (HDR = 200).")
    rail: int | None = Field(None, ge=0, description="Compute rail this HCA serves (compute HCAs only).")
    gpu: int | None = Field(None, ge=0, description="GPU index closest to this HCA (PCIe switch).")
    numa_node: int | None = Field(None, ge=0, description="NUMA node of the HCA.")
    netdev: str | None = Field(None, description="Linux network interface of the port (e.g. ibp12s0).")


class Gpu(SpecModel):
    model: str = Field(description="Product name as nvidia-smi prints it.")
    count: int = Field(ge=1)
    memory_gib: int = Field(ge=1)
    nvlink: bool = False


class Acceptance(SpecModel):
    allreduce_busbw_floor_gbs: float | None = Field(
        None, gt=0, description="Lowest acceptable single-node all_reduce_perf bus bandwidth (GB/s, large "
                                "messages); null where the SKU has one GPU and all-reduce measures nothing.")


class Sku(SpecModel):
    name: Name
    vendor: str
    model: str
    gpu: Gpu
    nvswitch_count: int = Field(0, ge=0)
    cpu: str
    numa_nodes: int = Field(ge=1)
    compute_hcas: list[Hca] = Field(default_factory=list, description="One per rail, in rail order.")
    storage_hcas: list[Hca] = Field(default_factory=list)
    acceptance: Acceptance
    sources: list[str] = Field(min_length=1, description="Public documents each fact comes from.")

    @property
    def has_nvswitch(self) -> bool:
        return self.nvswitch_count > 0
