"""The lab's base image: one Debian 12 rootfs built with debootstrap, cached under .lab/ and shared read-only.

Lab hosts reach nothing outside the lab subnet, so every Debian package the roles need is baked in here, at
build time, from the machine's own Debian mirror. BASE_PACKAGES is the one list; docs/lab.md explains it.
A stamp file records what the cache was built from; a changed package list rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

from components.lab.errors import LabError, sh

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Bump when _prepare changes what the image holds: the cache is rebuilt on the next `lab up`.
IMAGE_REVISION = 1

# Everything a lab host has before Ansible touches it. Grouped by who needs it; keep it sorted within a group.
BASE_PACKAGES: dict[str, tuple[str, ...]] = {
    # a host booted by systemd, reachable over SSH, manageable by Ansible
    "host": ("dbus", "iproute2", "openssh-server", "python3", "sudo", "systemd-sysv"),
    # Ansible modules' own needs: apt (python3-apt), deb822_repository (python3-debian), become to an
    # unprivileged user (acl), sysctl (procps), timezone (tzdata), gpg-signed sources (gnupg)
    "ansible": ("acl", "ca-certificates", "gnupg", "procps", "python3-apt", "python3-debian", "tzdata"),
    # the base role (MLPS 2.0 level 3 OS baseline): time, audit, PAM password quality, log forwarding
    "base_role": ("auditd", "chrony", "libpam-pwquality", "rsyslog"),
    # storage clients (NFS mounts of the flash arrays' exports)
    "storage": ("nfs-common",),
    # the GPU roles' Debian dependencies (the NVIDIA/Mellanox packages come from the lab's stand-in
    # repository): container_runtime (containerd, runc), dcgm (node exporter), opensm on subnet managers
    "gpu_roles": ("containerd", "opensm", "prometheus-node-exporter", "runc"),
    # what a person debugging a lab host reaches for
    "debugging": ("iputils-ping", "less"),
}


def package_list() -> list[str]:
    """The flat, sorted package list debootstrap installs on top of minbase."""
    return sorted({pkg for group in BASE_PACKAGES.values() for pkg in group})


MIRROR_ENV = "PODFORGE_LAB_MIRROR"


def mirror_uri(sources_dir: Path = Path("/etc/apt/sources.list.d"), sources_list: Path = Path("/etc/apt/sources.list")) -> str:
    """PODFORGE_LAB_MIRROR, else the machine's own Debian mirror (deb822 `URIs:` or a one-line `deb` entry),
    else deb.debian.org."""
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV].rstrip("/")
    for file in sorted(sources_dir.glob("*.sources")):
        text = file.read_text(errors="replace")
        for stanza in re.split(r"\n\s*\n", text):
            if re.search(rf"^Suites:.*\b{SUITE}\b", stanza, re.M) and re.search(r"^Components:.*\bmain\b", stanza, re.M):
                uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if uris and not uris.group(1).rstrip("/").endswith("-security"):
                    return uris.group(1).rstrip("/")
    for file in [sources_list, *sorted(sources_dir.glob("*.list"))]:
        if file.exists():
            match = re.search(rf"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{SUITE}\s", file.read_text(errors="replace"), re.M)
            if match:
                return match.group(1).rstrip("/")
    return DEFAULT_MIRROR


def recipe() -> dict[str, object]:
    """What the cached image is a function of (the mirror is not: any Debian mirror serves the same packages);
    its hash decides whether the cache is still good."""
    return {"revision": IMAGE_REVISION, "suite": SUITE, "variant": "minbase", "packages": package_list()}


def recipe_hash() -> str:
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:16]


def cached(base: Path, stamp: Path) -> bool:
    """True when `base` holds a finished build of the current recipe."""
    if not stamp.exists() or not (base / "usr/lib/systemd/systemd").exists():
        return False
    try:
        return json.loads(stamp.read_text()).get("recipe_hash") == recipe_hash()
    except ValueError:
        return False


def build(base: Path, stamp: Path, mirror: str) -> float:
    """debootstrap the base image into `base`, replacing a stale one only once the new one is complete;
    return the seconds it took."""
    started = time.monotonic()
    partial = base.with_name(base.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        sh(["debootstrap", "--variant=minbase", f"--include={','.join(package_list())}", SUITE, str(partial), mirror],
           step=f"building the lab's Debian 12 image from {mirror}", timeout=1800)
    except LabError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _prepare(partial)
    stamp.unlink(missing_ok=True)
    if base.exists():
        shutil.rmtree(base)
    partial.rename(base)
    elapsed = time.monotonic() - started
    stamp.write_text(json.dumps({"recipe_hash": recipe_hash(), **recipe(), "mirror": mirror,
                                 "built_seconds": round(elapsed, 1),
                                 "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")
    return elapsed


def _prepare(root: Path) -> None:
    """Make the image a neutral template: no host keys or machine id of its own, apt pointed nowhere.

    Each host gets its own host key, machine id and hostname in its overlay (components/lab/host.py).
    The lab's hosts never reach the Internet, so the build mirror is removed from their apt sources;
    the roles add the lab's own repository (served on the lab bridge) when they need one.
    """
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (root / "etc/apt/sources.list").write_text("# lab hosts have no Internet mirror; see docs/lab.md\n")
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    if not (root / "usr/lib/systemd/systemd").exists():
        raise LabError(f"building the lab's image: {root} has no systemd after debootstrap")
