"""Builds the lab's stand-in packages with `dpkg-deb --build` and writes a flat APT repository around them
(Packages, Packages.gz, Release), byte-for-byte the same on every build of the same spec.

A flat repository is the directory itself: `deb [trusted=yes] URL ./` in a sources list. It is unsigned; the
lab's hosts trust it by that option, and only the lab uses it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

from components.spec.cluster import ClusterSpec
from components.standins.contents import LABEL, StandinPackage, standin_sources

# Fixed timestamps make the .debs and the index reproducible; a date in the past, so APT never calls the
# Release file "not valid yet".
SOURCE_DATE_EPOCH = 1704067200  # 2024-01-01T00:00:00Z
MAINTAINER = "podforge lab <lab@podforge.invalid>"


class StandinBuildError(RuntimeError):
    pass


def _dpkg_deb() -> str:
    tool = shutil.which("dpkg-deb")
    if tool is None:
        raise StandinBuildError("dpkg-deb not found: install dpkg (Debian/Ubuntu have it) to build stand-in packages")
    return tool


def deb_filename(package: StandinPackage) -> str:
    version = package.version.split(":", 1)[-1]  # an epoch is not part of a .deb's file name
    return f"{package.name}_{version}_all.deb"


def control_text(package: StandinPackage) -> str:
    fields = [("Package", package.name), ("Version", package.version), ("Architecture", "all"),
              ("Maintainer", MAINTAINER), ("Section", "misc"), ("Priority", "optional")]
    if package.depends:
        fields.append(("Depends", ", ".join(package.depends)))
    fields.append(("Description", package.description))
    return "".join(f"{key}: {value}\n" for key, value in fields)


def build_deb(package: StandinPackage, out_dir: Path) -> Path:
    """One stand-in .deb in out_dir, built from a tree whose modes and times are fixed."""
    out = out_dir / deb_filename(package)
    with tempfile.TemporaryDirectory(prefix="standin-") as tmp:
        root = Path(tmp) / "root"
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(control_text(package))
        for f in package.files:
            target = root / f.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f.text)
            target.chmod(f.mode)
        for path in [root, *root.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
            elif path.parent.name == "DEBIAN":
                path.chmod(0o644)
            os.utime(path, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH))
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)}
        result = subprocess.run([_dpkg_deb(), "--root-owner-group", "-Zgzip", "--build", str(root), str(out)],
                                capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise StandinBuildError(f"dpkg-deb --build {package.name} {package.version}: {result.stderr.strip()}")
    return out


def _hashes(data: bytes) -> dict[str, str]:
    # APT indexes still carry MD5 and SHA1 next to SHA256; only SHA256 is trusted by current APT.
    return {"MD5sum": hashlib.md5(data).hexdigest(), "SHA1": hashlib.sha1(data).hexdigest(),
            "SHA256": hashlib.sha256(data).hexdigest()}


def packages_index(directory: Path, packages: list[StandinPackage]) -> str:
    stanzas = []
    for package in sorted(packages, key=lambda p: (p.name, p.version)):
        data = (directory / deb_filename(package)).read_bytes()
        control = control_text(package)
        # Index fields after the control fields, in the order dpkg-scanpackages writes them.
        extra = {"Filename": f"./{deb_filename(package)}", "Size": str(len(data)), **_hashes(data)}
        before, description = control.split("Description: ", 1)
        stanzas.append(before + "".join(f"{k}: {v}\n" for k, v in extra.items()) + "Description: " + description)
    return "\n".join(stanzas)


def release_text(files: dict[str, bytes]) -> str:
    lines = ["Origin: podforge", f"Label: {LABEL}s", "Suite: standins", "Codename: standins",
             f"Date: {formatdate(SOURCE_DATE_EPOCH, usegmt=True)}",
             f"Description: {LABEL} packages: real names and versions, simulated contents"]
    for field, algorithm in (("MD5Sum", "md5"), ("SHA1", "sha1"), ("SHA256", "sha256")):
        lines.append(f"{field}:")
        lines += [f" {hashlib.new(algorithm, data).hexdigest()} {len(data)} {name}" for name, data in files.items()]
    return "\n".join(lines) + "\n"


def build_repository(packages: list[StandinPackage], directory: Path) -> Path:
    """Build every package into `directory` and write its flat-repository index; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for package in packages:
        build_deb(package, directory)
    index = packages_index(directory, packages).encode()
    # mtime=0 and no file name in the gzip header keep Packages.gz reproducible.
    index_gz = gzip.compress(index, compresslevel=9, mtime=0)
    (directory / "Packages").write_bytes(index)
    (directory / "Packages.gz").write_bytes(index_gz)
    (directory / "Release").write_text(release_text({"Packages": index, "Packages.gz": index_gz}))
    return directory


def repository_dir(root: Path, url: str) -> Path:
    """Where a source's repository sits under the served root: `http://10.199.77.1:8081/standins` → root/standins."""
    return root / urlsplit(url).path.strip("/")


def build_stack_repositories(spec: ClusterSpec, root: Path, driver_versions: tuple[str, ...] = ()) -> dict[str, Path]:
    """Stand-ins of every package the spec pins, each in the repository of the source the spec names for it, laid
    out under `root` by URL path, so serving `root` answers the sources' URLs. Returns source name → directory."""
    url_of = {s.name: s.url for s in spec.software.sources}
    by_source: dict[str, tuple[str, list[StandinPackage]]] = {}
    for source, package in standin_sources(spec, driver_versions):
        by_source.setdefault(source, (url_of[source], []))[1].append(package)
    return {source: build_repository(pkgs, repository_dir(root, url)) for source, (url, pkgs) in by_source.items()}
