"""Every package, source tarball and container image a stack needs from outside the operating system's own archive, with exact
versions and the source each comes from: the list an air-gapped site mirrors, and the set the lab's stand-in
repository is built from (components/standins).

Package names come from the oracle table of what DGX OS ships (components/oracle/dgx_os.yaml, each row sourced);
versions are the spec's pins verbatim (software.*.version), so the list says exactly what the roles ask APT for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from components import oracle
from components.spec.cluster import ClusterSpec
from components.spec.nodes import NodeRole
from components.spec.software import NCCL_TESTS_UPSTREAM, PackageSource, Pinned, dcgm_major


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
class FileArtifact:
    """A file the nodes fetch from the site's artifact mirror, checked against its pinned checksum."""
    name: str
    version: str
    url: str             # where the nodes fetch it (the spec's mirror URL)
    sha256: str
    upstream: str        # where its publisher releases it, for people building the mirror
    why: str


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
    files: tuple[FileArtifact, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {"os": self.os, "lab": self.lab, "packages": [asdict(p) for p in self.packages],
                "files": [asdict(f) for f in self.files], "images": [asdict(i) for i in self.images]}


def _source(spec: ClusterSpec, name: str) -> PackageSource:
    return next(s for s in spec.software.sources if s.name == name)


def _cuda_major(nccl_version: str) -> str | None:
    """`2.28.9-1+cuda13.0` → `13`: NCCL's Debian version names the CUDA it was built for."""
    return oracle.cuda_major(nccl_version)


DCGM_EXPORTER_PACKAGE = "datacenter-gpu-manager-exporter"  # the oracle's exporter row (components/oracle/dgx_os.yaml)


def dcgm_packages(version: str, nccl_version: str, os: str = "ubuntu-22.04") -> list[str]:
    """DCGM 3 is one package; DCGM 4 splits into a core package and one per CUDA major (diagnostics need it).
    Names from the oracle table's DCGM rows for the OS release."""
    want = "dcgm3" if dcgm_major(version) < 4 else "dcgm4"
    return [p.name for p in oracle.all_packages(os, "000", _cuda_major(nccl_version))
            if p.component == "dcgm" and p.when == want]


_WHY = {
    "driver": "GPU nodes (driver branch {branch})",
    "fabric_manager": "NVSwitch SKUs: {nvswitch}",
    "doca_ofed": "SKUs with InfiniBand/RoCE HCAs: {hcas}",
    "nccl": "NCCL on GPU nodes",
    "container_toolkit": "GPU containers (CDI specs)",
    "dcgm": "GPU health, diagnostics and metrics",
    "dcgm_exporter": "GPU metrics for Prometheus on :9400",
}


def stack_artifacts(spec: ClusterSpec) -> Artifacts:
    """The packages the oracle table (components/oracle) names for the spec's OS release, driver branch and GPU
    nodes, each at the version the spec pins for the software entry it belongs to."""
    sw = spec.software
    gpu_nodes = spec.nodes_with(NodeRole.gpu_node)
    if not gpu_nodes:
        return Artifacts(sw.os, spec.site.lab, (), _images(spec))
    tests = sw.nccl_tests
    files = (FileArtifact("nccl-tests", tests.version, tests.url, tests.sha256,
                          NCCL_TESTS_UPSTREAM.format(version=tests.version),
                          "source release the nccl role builds all_reduce_perf from (the acceptance gate); NVIDIA "
                          "publishes no package"),)
    skus = {spec.sku_of(n).name: spec.sku_of(n) for n in gpu_nodes}
    facts = {"branch": sw.driver.branch,
             "nvswitch": ", ".join(sorted(name for name, sku in skus.items() if sku.has_nvswitch)),
             "hcas": ", ".join(sorted(name for name, sku in skus.items() if sku.compute_hcas or sku.storage_hcas))}
    packages: list[PackageArtifact] = []
    for package in oracle.stack_packages(spec):
        if not package.listed:
            continue
        pin: Pinned | None = getattr(sw, package.component)
        if pin is None:
            continue
        # NSCQ ships at the driver's version but exists for the NVSwitch SKUs: say why it is there.
        why = _WHY["fabric_manager" if package.when == "nvswitch" else package.component].format(**facts)
        source = _source(spec, pin.source)
        packages.append(PackageArtifact(package.name, pin.version, package.component, source.name, source.url,
                                        source.suite, why))
    return Artifacts(sw.os, spec.site.lab, tuple(packages), _images(spec), files)


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
    lines += ["", f"Source tarballs ({len(artifacts.files)})"]
    lines += [f"  {f.name} {f.version}  {f.url}  sha256 {f.sha256}  (upstream {f.upstream})" for f in artifacts.files] \
        or ["  none"]
    lines += ["", f"Container images ({len(artifacts.images)})"]
    lines += [f"  {i.image}  {i.why}" for i in artifacts.images] or ["  none"]
    lines += ["", "Mirror each package with its dependencies from the same source (e.g. `apt-get download` of",
              "`apt-cache depends --recurse`); packages of the operating system come from its own archive."]
    return "\n".join(lines) + "\n"
