"""The one versions set every node gets, each package with its source."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field

from components.spec.base import Name, SpecModel

PINNED_VERSION = r"^(\d+:)?\d[A-Za-z0-9.+~-]*$"
"""A package version as APT prints it: an optional epoch, then digits first, only the characters a Debian version
may hold (deb-version(7): the upstream version "may contain only alphanumerics and the characters . + - : ~ ...
and should start with a digit")."""
_WILDCARD_PART = re.compile(r"(?:^|[.:+~-])[xX](?:$|[.+~-])")


def pinned_version(version: str) -> bool:
    """Whether `version` pins one release: not a tag (`latest`, `v1.2`), a range (`>=1.2`, `~1.2`) or a wildcard
    (`1.x`, `1.*`)."""
    return re.fullmatch(PINNED_VERSION, version) is not None and _WILDCARD_PART.search(version) is None


def dcgm_major(version: str) -> int:
    """DCGM's major version from its package version; an APT epoch (`1:4.4.1-1`) may lead. Unreadable → 3."""
    match = re.match(r"(?:\d+:)?(\d+)", version)
    return int(match.group(1)) if match else 3


class PackageSource(SpecModel):
    name: Name = Field(description="Source name; pinned packages refer to it.")
    kind: Literal["vendor", "mirror"] = Field(description="Vendor repository or the site's offline mirror.")
    url: str = Field(pattern=r"^(https?|file)://\S+$", description="APT repository URL.")
    suite: str | None = Field(None, description="APT suite, e.g. `./` for flat repositories.")


class Pinned(SpecModel):
    # Checked with the cross-references (checks.py) for a clearer line; the pattern here guides editors.
    version: str = Field(min_length=1, json_schema_extra={"pattern": PINNED_VERSION},
                         description="Exact package version, as APT prints it (e.g. 535.183.06, 1:4.4.1-1).")
    source: Name = Field(description="Name of an entry in software.sources.")


class Driver(Pinned):
    branch: str = Field(pattern=r"^\d{3}$", description="Driver branch, e.g. 535.")
    # Package names: components/oracle/dgx_os.yaml (canonical/nvidia-graphics-drivers debian/control; packages.ubuntu.com
    # linux-restricted-modules, linux-meta-nvidia).
    kernel_modules: Literal["precompiled", "dkms"] = Field(
        "precompiled", description="How the driver's kernel modules arrive: `precompiled` (Canonical's signed "
                                   "linux-modules-nvidia-<branch>-server-<flavour> with nvidia-headless-no-dkms, as DGX "
                                   "OS does) or `dkms` (nvidia-dkms-<branch>-server built on the node against "
                                   "linux-headers-<flavour>). Installed and held with the driver.")
    kernel_flavour: Literal["nvidia", "generic"] = Field(
        "nvidia", description="Ubuntu kernel flavour the nodes boot (`nvidia` on DGX OS 6/7: linux-nvidia); names the "
                              "kernel, headers and precompiled modules packages.")
    mig_mode: Literal["disabled", "enabled"] = Field(
        "disabled", description="MIG mode every GPU of the GPU nodes must report (`nvidia-smi --query-gpu="
                                "mig.mode.current`); checked by the nvidia_driver role, never switched (that resets "
                                "the GPUs).")


NCCL_TESTS_UPSTREAM = "https://github.com/NVIDIA/nccl-tests/archive/v{version}.tar.gz"
"""Where NVIDIA publishes each nccl-tests release as a source tarball (the GitHub archive of tag v<version>; the
URL Spack's nccl_tests package fetches, spack/spack-packages repos/spack_repo/builtin/packages/nccl_tests/package.py).
The site mirrors it; nodes fetch the mirror's copy (NcclTests.url), never this one."""


class NcclTests(SpecModel):
    # nccl-tests is not packaged by NVIDIA (its README: "To build the tests, just type `make`"): the nccl role builds
    # the release tarball the site mirrors, checked against the pinned checksum before it is unpacked.
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$",
                         description="nccl-tests release (the tag without its `v`, e.g. 2.13.6).")
    url: str = Field(pattern=r"^(https?|file)://\S+$",
                     description="The release's source tarball on the site's artifact mirror (a copy of "
                                 "https://github.com/NVIDIA/nccl-tests/archive/v<version>.tar.gz); fetched by the "
                                 "nodes, never from the internet.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$",
                        description="SHA-256 of the tarball (lower-case hex); the nccl role refuses any other.")
    multinode_busbw_floor_gbs: dict[Name, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict,
        description="Lowest acceptable bus bandwidth (GB/s, largest message) of the multi-node all_reduce_perf "
                    "across a wave's GPU nodes, per SKU name, over this spec's compute fabric. NVIDIA publishes "
                    "no such figure, so there is no default: a SKU without one still runs the multi-node "
                    "all-reduce (no out-of-bounds values allowed) with no bandwidth floor.")


class Firmware(SpecModel):
    gpu_vbios: str | None = Field(
        None, min_length=1, description="VBIOS every GPU must report (`nvidia-smi --query-gpu=vbios_version`, "
                                        "as it prints it); null: not checked.")
    compute_hca: str | None = Field(
        None, min_length=1, description="Firmware every compute HCA must report (/sys/class/infiniband/<device>/"
                                        "fw_ver, as the kernel prints it); null: not checked.")
    storage_hca: str | None = Field(
        None, min_length=1, description="Firmware every storage HCA must report (the same sysfs file); null: not "
                                        "checked.")


class Software(SpecModel):
    os: Literal["ubuntu-22.04", "ubuntu-24.04", "dgx-os-6", "dgx-os-7", "debian-12"] = Field(
        "ubuntu-22.04", description="Node operating system (debian-12 only for the lab's stand-ins).")
    sources: list[PackageSource] = Field(min_length=1, description="Package sources (vendor or mirror).")
    driver: Driver = Field(description="NVIDIA data center driver.")
    fabric_manager: Pinned = Field(description="NVIDIA Fabric Manager; same version as the driver.")
    doca_ofed: Pinned = Field(description="DOCA-OFED (InfiniBand / RDMA stack).")
    nccl: Pinned = Field(description="NCCL library.")
    nccl_tests: NcclTests = Field(description="nccl-tests (all_reduce_perf for acceptance), built from its pinned "
                                              "source release by the nccl role.")
    container_toolkit: Pinned = Field(description="NVIDIA Container Toolkit.")
    dcgm: Pinned = Field(description="NVIDIA DCGM (health and diagnostics).")
    dcgm_exporter: Pinned | None = Field(
        None, description="NVIDIA dcgm-exporter (package datacenter-gpu-manager-exporter, its own version, e.g. "
                          "4.6.0-1): DCGM fields for Prometheus on :9400. Released paired with a DCGM 4 version "
                          "(NVIDIA's release notes name the pair); needs DCGM 4. Without it the exporter is not "
                          "installed.")
    firmware: dict[Name, Firmware] = Field(
        default_factory=dict, description="Firmware versions per SKU name (GPU VBIOS, compute and storage HCA "
                                          "firmware) the acceptance gate and `podforge verify` hold the SKU's nodes "
                                          "to; a SKU or field left out is not checked.")


def nccl_tests_vars(software: Software) -> dict[str, Any]:
    """What the nccl and acceptance roles read about nccl-tests (host var podforge_nccl_tests)."""
    pin = software.nccl_tests
    return {"version": pin.version, "url": pin.url, "sha256": pin.sha256}


def sku_acceptance_vars(software: Software, sku: str) -> dict[str, Any]:
    """What the acceptance role reads for one SKU from the versions set (merged into host var podforge_sku): its
    firmware versions (null: not checked) and the multi-node bus bandwidth floor (null: none declared)."""
    firmware = software.firmware.get(sku, Firmware())
    return {"firmware": firmware.model_dump(mode="json"),
            "allreduce_multinode_busbw_floor_gbs": software.nccl_tests.multinode_busbw_floor_gbs.get(sku)}
