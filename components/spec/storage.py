"""All-flash storage arrays, their exports, who mounts them, and their encryption."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from components.spec.base import Name, SpecModel
from components.spec.nodes import NodeRole


class ArrayVendor(StrEnum):
    netapp = "netapp"
    pure = "pure"
    dell = "dell"


class ExportProtocol(StrEnum):
    nfs = "nfs"
    nfs_rdma = "nfs-rdma"
    nvme_of = "nvme-of"


class Export(SpecModel):
    name: Name
    path: str = Field(pattern=r"^/", description="Export path (NFS) or namespace name (NVMe-oF).")
    protocol: ExportProtocol
    purpose: Literal["model_weights", "datasets", "scratch", "results"]
    size_tib: float = Field(gt=0)
    tags: list[str] = Field(default_factory=list, description="Data tags, e.g. `important` (longer retention).")


class ArrayEncryption(SpecModel):
    external_kmip: bool = Field(True, description="Keys held by the external KMIP key manager (Vault KMIP).")
    tls_min_version: Literal["1.2", "1.3"] = Field(
        "1.3", description="Lowest TLS version the array's KMIP client may use; 1.2 needs tls_exception.")
    tls_exception: str | None = Field(None, description="Why this peer cannot do TLS 1.3 (required for 1.2).")


class StorageArray(SpecModel):
    name: Name
    vendor: ArrayVendor
    model: str
    management: str = Field(pattern=r"^https://\S+$", description="Management API endpoint (https://…).")
    data_addresses: list[str] = Field(default_factory=list, description="Data LIFs / portals on the storage network.")
    rated_iops: int = Field(gt=0, description="Vendor-rated 4K random-read IOPS.")
    encryption: ArrayEncryption = Field(default_factory=ArrayEncryption)
    exports: list[Export] = Field(min_length=1)


class Mount(SpecModel):
    """Who consumes an export: by node role or by hostnames."""

    export: str = Field(pattern=r"^[a-z0-9-]+/[a-z0-9-]+$", description="`ARRAY/EXPORT`.")
    role: NodeRole | None = None
    hosts: list[Name] = Field(default_factory=list)
    mount_point: str = Field(pattern=r"^/")
    options: list[str] = Field(default_factory=list, description="Extra mount options.")


class Storage(SpecModel):
    arrays: list[StorageArray] = Field(default_factory=list)
    mounts: list[Mount] = Field(default_factory=list)
