"""Hardware catalogue entries: what a SKU is, so a site names it instead of repeating it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from components.spec.base import Name, SpecModel


class Hca(SpecModel):
    device: str = Field(pattern=r"^mlx5_\d+$", description="RDMA device name, e.g. mlx5_0.")
    model: str = Field(description="Adapter model, e.g. ConnectX-6.")
    link_layer: Literal["infiniband", "ethernet"] = Field("infiniband", description="InfiniBand, or Ethernet for RoCE.")
    rate_gbps: int = Field(gt=0, description="Port rate in Gb/s (HDR = 200).")
    rail: int | None = Field(None, ge=0, description="Compute rail this HCA serves (compute HCAs only).")
    gpu: int | None = Field(None, ge=0, description="GPU index closest to this HCA (PCIe switch).")
    numa_node: int | None = Field(None, ge=0, description="NUMA node of the HCA.")
    # A Linux interface name is at most 15 characters (include/uapi/linux/if.h: IFNAMSIZ 16, with the NUL).
    netdev: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,15}$",
                               description="Linux network interface of the port (e.g. ibp12s0).")


class Gpu(SpecModel):
    model: str = Field(description="Product name as nvidia-smi prints it.")
    count: int = Field(ge=1, description="GPUs per node.")
    memory_gib: int = Field(ge=1, description="Memory per GPU in GiB.")
    nvlink: bool = Field(False, description="GPUs are connected by NVLink (through NVSwitches on DGX).")


class Acceptance(SpecModel):
    allreduce_busbw_floor_gbs: float | None = Field(
        None, gt=0, description="Lowest acceptable single-node all_reduce_perf bus bandwidth (GB/s, large "
                                "messages); null where the SKU has one GPU and all-reduce measures nothing.")


def _name_optional(schema: dict[str, Any]) -> None:
    # In a spec the name comes from the entry's key (ClusterSpec.catalogue); editors should not ask for it.
    schema["required"] = [f for f in schema.get("required", []) if f != "name"]


class Sku(SpecModel):
    model_config = ConfigDict(json_schema_extra=_name_optional)

    name: Name = Field(description="The SKU's name; in a spec's catalogue it is the entry's key.")
    vendor: str = Field(description="Manufacturer, e.g. NVIDIA.")
    model: str = Field(description="Product name, e.g. DGX A100 640GB.")
    gpu: Gpu
    nvswitch_count: int = Field(0, ge=0, description="NVSwitch chips (0 for a server without NVLink).")
    cpu: str = Field(description="Processors, for people.")
    numa_nodes: int = Field(ge=1, description="NUMA nodes the firmware exposes (HCA numa_node is below this).")
    compute_hcas: list[Hca] = Field(default_factory=list, description="One per rail, in rail order.")
    storage_hcas: list[Hca] = Field(default_factory=list, description="HCAs cabled to the storage fabric.")
    acceptance: Acceptance = Field(description="Thresholds the acceptance checks hold a node of this SKU to.")
    sources: list[str] = Field(min_length=1, description="Public documents each fact comes from.")

    @property
    def has_nvswitch(self) -> bool:
        return self.nvswitch_count > 0
