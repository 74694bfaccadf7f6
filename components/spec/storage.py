"""All-flash storage arrays, their exports, who mounts them, and their encryption.

Also the vendor support matrix (`SUPPORT`): which array serves which protocol over which transport, from which
release on, each row with the vendor document it comes from. It lives here, on floor 0, because validation
(components/spec/checks.py) reads it; components.arrays re-exports it for the vendor drivers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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


Transport = Literal["tcp", "roce", "infiniband"]
"""How an export travels: TCP/IP (Ethernet, or IPoIB), RDMA over Converged Ethernet, or native InfiniBand RDMA."""

NVME_IO_PORT = 4420
"""NVMe-oF I/O controllers' port, RDMA and TCP (nvme-cli fabrics.c: NVME_RDMA_IP_PORT, used for both)."""
NVME_DISCOVERY_PORTS = {"tcp": 8009, "rdma": 4420}
"""Discovery controllers' port per NVMe transport (nvme-cli v1.16 fabrics.c `discovery_trsvcid`: NVME_DISC_IP_PORT
8009 for tcp, 4420 for rdma; ONTAP: "NVMe/TCP LIFs listen for discovery on port 8009", docs.netapp.com
ontap/san-admin/configure-nvme-lif-task.html)."""
NVME_CONNECT_OPTIONS = ("nr-io-queues", "nr-write-queues", "nr-poll-queues", "queue-size", "keep-alive-tmo",
                        "reconnect-delay", "ctrl-loss-tmo")
"""Options of `nvme connect` that a line of /etc/nvme/discovery.conf also takes (nvme-cli v1.16 fabrics.c, the
OPT_INT options common to fabrics_connect and fabrics_discover), so the boot-time connect-all uses them too."""
NFS_MAX_NCONNECT = 16
"""nconnect=1..16: Linux fs/nfs/fs_context.c `#define NFS_MAX_CONNECTIONS 16`; see nfs(5), `nconnect`."""
NQN_RE = re.compile(r"^nqn\.\d{4}-\d{2}\.[A-Za-z0-9][A-Za-z0-9.-]*(:\S+)?$")
"""NVMe Qualified Name, `nqn.YYYY-MM.reverse-domain:…` (NVM Express Base Specification, "NVMe Qualified Names")."""
NQN_MAX_BYTES = 223
"""Linux include/linux/nvme.h `#define NVMF_NQN_SIZE 223`."""
LABEL_MAX = {"xfs": 12, "ext4": 16}
"""Longest filesystem label: xfs_admin(8) -L "XFS filesystem labels can be at most 12 characters long"; e2label(8)
"Ext2 volume labels can be at most 16 characters long"."""


@dataclass(frozen=True)
class Support:
    """One combination a vendor documents: its arrays of these models serve `protocol` over `transport`."""

    vendor: ArrayVendor
    product: str
    """The product line, for people and error lines (e.g. ONTAP)."""
    models: tuple[str, ...]
    """Model names the row covers, matched as whole words of the array's `model` (case-insensitive); () = all."""
    protocol: ExportProtocol
    transport: Transport
    min_version: str | None
    """The first release of the array's software with it (`os_version` is checked against it when declared);
    None where the source names none."""
    source: str


_ONTAP_RDMA = ("NetApp ONTAP documentation, \"Learn about NFS over RDMA in ONTAP\" (docs.netapp.com/us-en/ontap/nfs-rdma), "
               "Requirements")
_ONTAP_NVME = ("NetApp ONTAP documentation, \"Configure an NVMe LIF in ONTAP\" (docs.netapp.com/us-en/ontap/san-admin/"
               "configure-nvme-lif-task.html): -data-protocol fc-nvme|nvme-tcp, NVMe/TCP from ONTAP 9.10.1")
_ONTAP_NFS = "NetApp ONTAP concepts, \"Client protocols\": NFSv3, NFSv4, NFSv4.1 and pNFS on ONTAP volumes"
_PURE_NVME = ("Pure Storage blog, \"Pure Delivers DirectFlash Fabric: NVMe-oF for FlashArray\": NVMe-oF over RoCE "
              "with Purity 5.2 on FlashArray//X")
_DELL_RDMA = ("Dell PowerScale OneFS, \"OneFS and NFS over RDMA Support\" (unstructureddatatips.com) and white paper "
              "H17240 \"OneFS NFS Design Considerations\": NFSv3 over RDMA (RoCEv2) from OneFS 9.2.0")
_DELL_NFS = "Dell white paper H17240, \"PowerScale: OneFS NFS Design Considerations and Best Practices\" (OneFS 9.0+)"

SUPPORT: tuple[Support, ...] = (
    Support(ArrayVendor.netapp, "ONTAP", (), ExportProtocol.nfs, "tcp", None, _ONTAP_NFS),
    Support(ArrayVendor.netapp, "ONTAP", ("A400", "A700", "A800"), ExportProtocol.nfs_rdma, "roce", "9.10.1",
            _ONTAP_RDMA),
    Support(ArrayVendor.netapp, "ONTAP", ("A900", "C-Series", "C250", "C400", "C800"), ExportProtocol.nfs_rdma, "roce",
            "9.14.1", _ONTAP_RDMA),
    Support(ArrayVendor.netapp, "ONTAP", ("A1K", "A90", "A70"), ExportProtocol.nfs_rdma, "roce", "9.15.1", _ONTAP_RDMA),
    Support(ArrayVendor.netapp, "ONTAP", ("A50", "A30", "A20"), ExportProtocol.nfs_rdma, "roce", "9.16.1", _ONTAP_RDMA),
    Support(ArrayVendor.netapp, "ONTAP", (), ExportProtocol.nvme_of, "tcp", "9.10.1", _ONTAP_NVME),
    Support(ArrayVendor.pure, "Purity//FA", ("FlashArray//X", "X10", "X20", "X50", "X70", "X90"), ExportProtocol.nvme_of,
            "roce", "5.2", _PURE_NVME),
    Support(ArrayVendor.dell, "OneFS", (), ExportProtocol.nfs, "tcp", None, _DELL_NFS),
    Support(ArrayVendor.dell, "OneFS", (), ExportProtocol.nfs_rdma, "roce", "9.2.0", _DELL_RDMA),
)
"""What podforge knows each vendor supports. A combination without a row is refused by validation; the error line
names the rows the vendor does have, with their sources. NetApp ONTAP serves NFS over RDMA on RoCE v2 only
("supported ... when used with the Mellanox CX-5 or CX-6 adapter, which provides support for RDMA using version 2
of the RoCE protocol", _ONTAP_RDMA) and NVMe over FC and TCP only (_ONTAP_NVME): no InfiniBand at all."""

NFS_RDMA_VERSIONS = {ArrayVendor.netapp: {"4.0": "9.10.1", "4.1": "9.14.1", "3": "9.15.1"}}
"""The first ONTAP release with NFS over RDMA for each NFS version (_ONTAP_RDMA, the NFS version table)."""


def version_tuple(version: str) -> tuple[int, ...]:
    """`9.14.1` → (9, 14, 1); the digits of each dot-separated part (`9.14.1P3` → (9, 14, 1))."""
    return tuple(int(m.group()) if (m := re.match(r"\d+", part)) else 0 for part in version.split("."))


def model_matches(row: Support, model: str) -> bool:
    """A row model is a whole word of the array's model (`A800` in `AFF A800 (HA pair)`), or, where it names a
    family with a slash (`FlashArray//X`), the start of one (`FlashArray//X70`)."""
    text = model.lower()
    words = set(re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text)) | set(text.split())
    return not row.models or any(m.lower() in words or ("/" in m and any(w.startswith(m.lower()) for w in text.split()))
                                 for m in row.models)


def supported(vendor: ArrayVendor, model: str, protocol: ExportProtocol, transport: Transport) -> list[Support]:
    """The rows that cover this combination (empty: the vendor does not document it)."""
    return [r for r in SUPPORT if r.vendor is vendor and r.protocol is protocol and r.transport == transport
            and model_matches(r, model)]


class Export(SpecModel):
    name: Name = Field(description="Export name, unique on its array; mounts name it `ARRAY/EXPORT`.")
    path: str = Field(pattern=r"^/", description="Export path (NFS) or namespace name (NVMe-oF).")
    protocol: ExportProtocol = Field(description="nfs, nfs-rdma (NFS over RDMA) or nvme-of.")
    purpose: Literal["model_weights", "datasets", "scratch", "results"] = Field(description="What it holds.")
    size_tib: float = Field(gt=0, description="Provisioned size in TiB.")
    tags: list[str] = Field(default_factory=list, description="Data tags, e.g. `important` (longer retention).")
    nvme_transport: Literal["tcp", "rdma"] | None = Field(
        None, description="NVMe-oF only, required there: `tcp` (NVMe/TCP) or `rdma` (NVMe/RDMA over the array's "
                          "fabric, RoCE or InfiniBand).")
    nqn: str | None = Field(None, description="NVMe-oF only, required there: the NQN of the array's subsystem that "
                                              "holds the namespace (`nqn.YYYY-MM.domain:…`).")
    filesystem: Literal["xfs", "ext4"] = Field(
        "xfs", description="NVMe-oF only: the filesystem on the namespace, mounted by its label.")
    label: str | None = Field(None, description="NVMe-oF only: the filesystem's label the node mounts it by "
                                                "(/dev/disk/by-label/LABEL); default the export name.")

    @property
    def fs_label(self) -> str:
        return self.label or self.name


class ArrayEncryption(SpecModel):
    external_kmip: bool = Field(True, description="Keys held by the external KMIP key manager (Vault KMIP).")
    tls_min_version: Literal["1.2", "1.3"] = Field(
        "1.3", description="Lowest TLS version the array's KMIP client may use; 1.2 needs tls_exception.")
    tls_exception: str | None = Field(None, description="Why this peer cannot do TLS 1.3 (required for 1.2).")


class StorageArray(SpecModel):
    name: Name = Field(description="Array name; names its resources and its KMIP scope.")
    vendor: ArrayVendor = Field(description="netapp, pure or dell.")
    model: str = Field(description="Array model (e.g. AFF A800); the support matrix matches it by model name.")
    management: str = Field(pattern=r"^https://\S+$", description="Management API endpoint (https://…).")
    data_addresses: list[str] = Field(default_factory=list, description="Data LIFs / portals on the storage network.")
    rated_iops: int = Field(gt=0, description="Vendor-rated 4K random-read IOPS.")
    encryption: ArrayEncryption = Field(default_factory=ArrayEncryption, description="Data-at-rest encryption.")
    exports: list[Export] = Field(min_length=1, description="Volumes / namespaces the array serves.")
    fabric: Name | None = Field(None, description="The storage fabric its data ports are cabled into (default: the "
                                                  "spec's storage fabric, if any); its transport carries the RDMA "
                                                  "protocols. With none the array serves TCP only.")
    os_version: str | None = Field(None, pattern=r"^\d+(\.\d+)*\S*$",
                                   description="Release of the array's software (ONTAP 9.14.1, Purity 6.5, OneFS "
                                               "9.8); checked against the support matrix's first release when given.")


class Mount(SpecModel):
    """Who consumes an export: by node role or by hostnames."""

    export: str = Field(pattern=r"^[a-z0-9-]+/[a-z0-9-]+$", description="`ARRAY/EXPORT`.")
    role: NodeRole | None = Field(None, description="Every node with this role mounts it (or use hosts).")
    hosts: list[Name] = Field(default_factory=list, description="These hostnames mount it (or use role).")
    mount_point: str = Field(pattern=r"^/[A-Za-z0-9_./-]*$", description="Directory on the node (letters, digits, "
                                                                        "`_ . - /`: it names the systemd mount unit).")
    options: list[str] = Field(default_factory=list, description="Extra mount options.")
    nvme_options: list[str] = Field(default_factory=list, description="NVMe-oF only: `nvme connect` options "
                                                                      "(`nr-io-queues=8`), not mount options.")
    port_exception: str | None = Field(None, description="Why a `port=` option is not the protocol's port (2049 "
                                                         "for NFS, 20049 for NFS over RDMA; required then).")


class Storage(SpecModel):
    arrays: list[StorageArray] = Field(default_factory=list, description="All-flash arrays.")
    mounts: list[Mount] = Field(default_factory=list, description="Who consumes which export, where.")
