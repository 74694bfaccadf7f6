"""Every package and container image a stack needs from outside the operating system's own archive, with exact
versions and the source each comes from: the list an air-gapped site mirrors, and the set the lab's stand-in
repository is built from (components/standins).

Package names are the NVIDIA / Mellanox APT names on Ubuntu and DGX OS; versions are the spec's pins verbatim
(software.*.version), so the list says exactly what the roles will ask APT for.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from components.spec.cluster import ClusterSpec
from components.spec.nodes import NodeRole
from components.spec.software import PackageSource, Pinned, dcgm_major


@dataclass(frozen=True)
class PackageArtifact:
    name: str
    version: str
    component: str       # the software.* entry that pins it: driver, fabric_manager, nccl, ...
    source: str          # software.sources[].name
    url: str
    suite: str | None
    why: str             # what needs it, for people building the mirror


@dataclass(frozen=True)
class ImageArtifact:
    image: str
    why: str


@dataclass(frozen=True)
class Artifacts:
    os: str
    lab: bool            # the lab: its mirror serves stand-ins with these names and versions
    packages: tuple[PackageArtifact, ...]
    images: tuple[ImageArtifact, ...]

    def as_json(self) -> dict[str, object]:
        return {"os": self.os, "lab": self.lab, "packages": [asdict(p) for p in self.packages],
                "images": [asdict(i) for i in self.images]}


def _source(spec: ClusterSpec, name: str) -> PackageSource:
    return next(s for s in spec.software.sources if s.name == name)


def _cuda_major(nccl_version: str) -> str | None:
    """`2.28.9-1+cuda13.0` → `13`: NCCL's Debian version names the CUDA it was built for."""
    match = re.search(r"\+cuda(\d+)", nccl_version)
    return match.group(1) if match else None


DCGM_EXPORTER_PACKAGE = "datacenter-gpu-manager-exporter"  # ships /usr/bin/dcgm-exporter, nvidia-dcgm-exporter.service


def dcgm_packages(version: str, nccl_version: str) -> list[str]:
    """DCGM 3 is one package; DCGM 4 splits into a core package and one per CUDA major (diagnostics need it)."""
    major = dcgm_major(version)
    if major < 4:
        return ["datacenter-gpu-manager"]
    names = [f"datacenter-gpu-manager-{major}-core"]
    cuda = _cuda_major(nccl_version)
    if cuda:
        names.append(f"datacenter-gpu-manager-{major}-cuda{cuda}")
    return names


def stack_artifacts(spec: ClusterSpec) -> Artifacts:
    sw = spec.software
    gpu_nodes = spec.nodes_with(NodeRole.gpu_node)
    skus = {spec.sku_of(n).name: spec.sku_of(n) for n in gpu_nodes}
    nvswitch = sorted(name for name, sku in skus.items() if sku.has_nvswitch)
    with_hcas = sorted(name for name, sku in skus.items() if sku.compute_hcas or sku.storage_hcas)
    branch = sw.driver.branch
    packages: list[PackageArtifact] = []

    def add(component: str, pin: Pinned, names: list[str], why: str, version: str | None = None) -> None:
        source = _source(spec, pin.source)
        packages.extend(PackageArtifact(name, version or pin.version, component, source.name, source.url,
                                        source.suite, why) for name in names)

    if not gpu_nodes:
        return Artifacts(sw.os, spec.site.lab, (), _images(spec))
    add("driver", sw.driver, [f"nvidia-driver-{branch}"], f"GPU nodes (driver branch {branch})")
    if nvswitch:
        why = f"NVSwitch SKUs: {', '.join(nvswitch)}"
        add("fabric_manager", sw.fabric_manager, [f"nvidia-fabricmanager-{branch}"], why)
        # NSCQ lets DCGM read the NVSwitches; it ships per driver branch at the driver's version.
        add("fabric_manager", sw.driver, [f"libnvidia-nscq-{branch}"], why)
    if with_hcas:
        add("doca_ofed", sw.doca_ofed, ["doca-ofed"], f"SKUs with InfiniBand/RoCE HCAs: {', '.join(with_hcas)}")
    add("nccl", sw.nccl, ["libnccl2", "libnccl-dev"], "NCCL on GPU nodes")
    add("nccl_tests", sw.nccl_tests, ["nccl-tests"], "all_reduce_perf in the acceptance gate")
    # The toolkit's four packages are released together at one version and depend on each other exactly.
    add("container_toolkit", sw.container_toolkit,
        ["nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools",
         "libnvidia-container1"], "GPU containers (CDI specs)")
    add("dcgm", sw.dcgm, dcgm_packages(sw.dcgm.version, sw.nccl.version), "GPU health, diagnostics and metrics")
    if sw.dcgm_exporter is not None:
        add("dcgm_exporter", sw.dcgm_exporter, [DCGM_EXPORTER_PACKAGE], "GPU metrics for Prometheus on :9400")
    return Artifacts(sw.os, spec.site.lab, tuple(packages), _images(spec))


def _images(spec: ClusterSpec) -> tuple[ImageArtifact, ...]:
    if spec.serving is None or not spec.nodes_with(NodeRole.inference_local):
        return ()
    return (ImageArtifact(spec.serving.image, f"{spec.serving.engine} serving engine of the local deployment "
                                              f"(model {spec.serving.model.name})"),)


def artifacts_text(stack: str, spec_file: str, artifacts: Artifacts) -> str:
    lines = [f"Artifacts of stack {stack} ({spec_file}, {artifacts.os})"]
    if artifacts.lab:
        lines.append("The lab: its mirror serves podforge stand-in packages with these names and versions.")
    lines += ["", f"Packages ({len(artifacts.packages)})"]
    rows = [(p.name, p.version, p.source, p.url + (f" {p.suite}" if p.suite else "")) for p in artifacts.packages]
    header = ("name", "version", "source", "url suite")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        lines.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
    lines += ["", f"Container images ({len(artifacts.images)})"]
    lines += [f"  {i.image}  {i.why}" for i in artifacts.images] or ["  none"]
    lines += ["", "Mirror each package with its dependencies from the same source (e.g. `apt-get download` of",
              "`apt-cache depends --recurse`); packages of the operating system come from its own archive."]
    return "\n".join(lines) + "\n"
