"""What DGX OS 6 (Ubuntu 22.04) and DGX OS 7 (Ubuntu 24.04) actually ship for each piece podforge installs, read
from the sourced table `dgx_os.yaml` shipped in this package: package names per driver branch and OS release,
version formats, the commands and files each package holds, systemd units and what their ExecStart does.

Independent of components/artifacts.py and of the roles: the lab's stand-ins are generated from it
(components/standins) and tests/unit/test_oracle.py checks the roles against it. Pure: no I/O beyond reading the
packaged table. See docs/oracle.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from components.spec.cluster import ClusterSpec
from components.spec.nodes import NodeRole
from components.spec.software import dcgm_major

TABLE = "dgx_os.yaml"
CONDITIONS = ("gpu", "nvswitch", "hcas", "dcgm3", "dcgm4", "exporter", "never")


class OracleError(ValueError):
    """The spec names an OS the table has no release for, or the table is malformed."""


@dataclass(frozen=True)
class Unit:
    name: str
    package: str                 # name template of the package that ships it
    path: str
    exec_start: str
    install_section: bool
    text: str | None             # the unit file verbatim where the source gives it
    persistence_mode: str | None  # nvidia-persistenced only: what the packaged ExecStart leaves it at
    applies: str | None          # opensm builds: "archive" (Debian/Ubuntu) or "doca"
    source: str


@dataclass(frozen=True)
class Package:
    """One table row with its name resolved for a branch / CUDA major."""
    name: str
    template: str
    component: str               # the spec software.* entry whose version it takes (driver, nccl, ...)
    when: str
    summary: str
    depends: tuple[str, ...]
    commands: dict[str, str]
    files: tuple[dict[str, Any], ...]
    units: tuple[str, ...]
    origin: str                  # "vendor" or "site-built"
    version_format: str
    source: str
    listed: bool = True          # False: a dependency the artifacts list leaves to `apt-cache depends`


@dataclass(frozen=True)
class Needs:
    """What a stack's GPU nodes need, read from the spec (decides the rows' `when`)."""
    gpu: bool
    nvswitch: bool
    hcas: bool
    dcgm_major: int
    exporter: bool
    conditions: frozenset[str] = field(default_factory=frozenset)


@lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    data = yaml.safe_load(resources.files(__package__).joinpath(TABLE).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("schema") != 1:
        raise OracleError(f"{TABLE}: expected schema 1")
    for row in data["packages"]:
        if row.get("when") not in CONDITIONS:
            raise OracleError(f"{TABLE}: {row.get('name')}: when {row.get('when')!r} — expected one of {CONDITIONS}")
        if not str(row.get("source", "")).strip():
            raise OracleError(f"{TABLE}: {row.get('name')}: every row names its source")
    return data


def release_of(os: str) -> str:
    """`ubuntu-22.04` / `dgx-os-6` → `jammy`; the lab's `debian-12` → the release its stand-ins rehearse."""
    data = table()
    for release, info in data["releases"].items():
        if os in info["os"]:
            return str(release)
    if os in data.get("stand_in_for", {}):
        return str(data["stand_in_for"][os])
    raise OracleError(f"no DGX OS release in {TABLE} for os {os!r}: expected one of "
                      f"{sorted(o for r in data['releases'].values() for o in r['os'])}")


def is_stand_in(os: str) -> bool:
    """Whether the OS only rehearses a DGX OS release (the lab): its hosts get no vendor builds (e.g. OpenSM)."""
    return os in table().get("stand_in_for", {})


def ubuntu_version(os: str) -> str:
    return str(table()["releases"][release_of(os)]["ubuntu"])


def kernel_flavours(os: str) -> tuple[str, ...]:
    return tuple(table()["releases"][release_of(os)]["kernel_flavours"])


def cuda_major(nccl_version: str) -> str | None:
    """`2.28.9-1+cuda13.0` → `13`: NCCL's Debian version names the CUDA it was built for (NCCL Installation Guide)."""
    match = re.search(r"\+cuda(\d+)", nccl_version)
    return match.group(1) if match else None


def _fill(template: str, branch: str, cuda: str | None, flavour: str | None = None) -> str | None:
    if "{cuda}" in template and not cuda:
        return None
    if "{flavour}" in template and not flavour:
        return None
    return template.replace("{branch}", branch).replace("{cuda}", cuda or "").replace("{flavour}", flavour or "")


def _package(row: dict[str, Any], name: str, branch: str, cuda: str | None) -> Package:
    depends = tuple(d for d in (_fill(t, branch, cuda) for t in row.get("depends", [])) if d)
    return Package(name=name, template=row["name"], component=row["component"], when=row["when"],
                   summary=row.get("summary", ""), depends=depends, commands=dict(row.get("commands", {})),
                   files=tuple(row.get("files", [])), units=tuple(row.get("units", [])),
                   origin=row.get("origin", "vendor"), version_format=str(row.get("version_format", "")),
                   source=str(row["source"]).strip(), listed=bool(row.get("listed", True)))


def rows(os: str) -> list[dict[str, Any]]:
    release = release_of(os)
    return [r for r in table()["packages"] if release in r["releases"]]


def all_packages(os: str, branch: str, cuda: str | None = None) -> list[Package]:
    """Every package the table has for the OS release and branch (each kernel flavour of the release too)."""
    out: list[Package] = []
    for row in rows(os):
        flavours = kernel_flavours(os) if "{flavour}" in row["name"] else (None,)
        for flavour in flavours:
            name = _fill(row["name"], branch, cuda, flavour)
            if name:
                out.append(_package(row, name, branch, cuda))
    return out


def known_names(os: str, branch: str, cuda: str | None = None) -> set[str]:
    return {p.name for p in all_packages(os, branch, cuda)}


def needs(spec: ClusterSpec) -> Needs:
    gpu_nodes = spec.nodes_with(NodeRole.gpu_node)
    skus = [spec.sku_of(n) for n in gpu_nodes]
    major = dcgm_major(spec.software.dcgm.version)
    found = Needs(gpu=bool(gpu_nodes), nvswitch=any(s.has_nvswitch for s in skus),
                  hcas=any(s.compute_hcas or s.storage_hcas for s in skus), dcgm_major=major,
                  exporter=spec.software.dcgm_exporter is not None)
    conditions = {c for c, on in (("gpu", found.gpu), ("nvswitch", found.nvswitch), ("hcas", found.hcas),
                                  ("dcgm3", found.gpu and major < 4), ("dcgm4", found.gpu and major >= 4),
                                  ("exporter", found.gpu and found.exporter)) if on}
    return Needs(found.gpu, found.nvswitch, found.hcas, major, found.exporter, frozenset(conditions))


def stack_packages(spec: ClusterSpec) -> list[Package]:
    """The packages a stack's GPU nodes get, in table order: the rows whose `when` the spec meets, named for the
    spec's OS release, driver branch and NCCL's CUDA major. Dependencies are rows of their own (`depends`)."""
    want = needs(spec).conditions
    sw = spec.software
    return [p for p in all_packages(sw.os, sw.driver.branch, cuda_major(sw.nccl.version)) if p.when in want]


def unit(name: str) -> Unit | None:
    info = table()["units"].get(name)
    if info is None:
        return None
    return Unit(name=name, package=str(info["package"]), path=str(info["path"]),
                exec_start=str(info.get("exec_start", "")), install_section=bool(info.get("install_section", True)),
                text=info.get("text"), persistence_mode=info.get("persistence_mode"), applies=info.get("applies"),
                source=str(info["source"]).strip())


def unit_names() -> set[str]:
    return set(table()["units"])


def opensm_units(os: str, with_doca: bool) -> set[str]:
    """The OpenSM units a subnet-manager host has: DOCA-OFED's build (`opensmd`) where DOCA-OFED provides OpenSM,
    the archive build's (`opensm`, `opensm@`) elsewhere and on the lab's stand-in OS (Debian's package)."""
    build = "doca" if with_doca and not is_stand_in(os) else "archive"
    return {n for n, info in table()["units"].items() if info.get("applies") == build}


__all__ = ["CONDITIONS", "TABLE", "Needs", "OracleError", "Package", "Unit", "all_packages", "cuda_major",
           "is_stand_in", "kernel_flavours", "known_names", "needs", "opensm_units", "release_of", "rows",
           "stack_packages", "table", "ubuntu_version", "unit", "unit_names"]
