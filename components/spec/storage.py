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


KMIP_DRIVER_VENDORS = frozenset({ArrayVendor.netapp, ArrayVendor.pure})
"""Vendors whose external key manager podforge configures (components/arrays has one driver each; a test keeps
the two equal)."""
MAX_KMIP_SERVERS = {ArrayVendor.netapp: 4}
"""External key servers a vendor's key manager takes: ONTAP up to four (components/arrays/netapp.py)."""


class ExportProtocol(StrEnum):
    nfs = "nfs"
    nfs_rdma = "nfs-rdma"
    nvme_of = "nvme-of"


class Export(SpecModel):
    name: Name = Field(description="Export name, unique on its array; mounts name it `ARRAY/EXPORT`.")
    path: str = Field(pattern=r"^/", description="Export path (NFS) or namespace name (NVMe-oF).")
    protocol: ExportProtocol = Field(description="nfs, nfs-rdma (NFS over RDMA) or nvme-of.")
    purpose: Literal["model_weights", "datasets", "scratch", "results"] = Field(description="What it holds.")
    size_tib: float = Field(gt=0, description="Provisioned size in TiB.")
    tags: list[str] = Field(default_factory=list, description="Data tags, e.g. `important` (longer retention).")


class ArrayEncryption(SpecModel):
    external_kmip: bool = Field(True, description="Keys held by the external KMIP key manager (Vault KMIP).")
    tls_min_version: Literal["1.2", "1.3"] = Field(
        "1.3", description="Lowest TLS version the array's KMIP client may use; 1.2 needs tls_exception.")
    tls_exception: str | None = Field(None, description="Why this peer cannot do TLS 1.3 (required for 1.2).")


class StorageArray(SpecModel):
    name: Name = Field(description="Array name; names its resources and its KMIP scope.")
    vendor: ArrayVendor = Field(description="netapp, pure or dell.")
    model: str = Field(description="Array model, for people (e.g. AFF A800).")
    management: str = Field(pattern=r"^https://\S+$", description="Management API endpoint (https://…).")
    data_addresses: list[str] = Field(default_factory=list, description="Data LIFs / portals on the storage network.")
    rated_iops: int = Field(gt=0, description="Vendor-rated 4K random-read IOPS.")
    encryption: ArrayEncryption = Field(default_factory=ArrayEncryption, description="Data-at-rest encryption.")
    exports: list[Export] = Field(min_length=1, description="Volumes / namespaces the array serves.")


class Mount(SpecModel):
    """Who consumes an export: by node role or by hostnames."""

    export: str = Field(pattern=r"^[a-z0-9-]+/[a-z0-9-]+$", description="`ARRAY/EXPORT`.")
    role: NodeRole | None = Field(None, description="Every node with this role mounts it (or use hosts).")
    hosts: list[Name] = Field(default_factory=list, description="These hostnames mount it (or use role).")
    mount_point: str = Field(pattern=r"^/", description="Directory on the node.")
    options: list[str] = Field(default_factory=list, description="Extra mount options.")
    port_exception: str | None = Field(None, description="Why a `port=` option is not the protocol's port (2049 "
                                                         "for NFS, 20049 for NFS over RDMA; required then).")


class Storage(SpecModel):
    arrays: list[StorageArray] = Field(default_factory=list, description="All-flash arrays.")
    mounts: list[Mount] = Field(default_factory=list, description="Who consumes which export, where.")
