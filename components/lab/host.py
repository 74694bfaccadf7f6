"""One lab host's disk: an overlay over the shared base image, and the files that make it this host
(hostname, machine id, its own SSH host key, the automation key for root, sshd's lab settings)."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from components.lab.errors import sh
from components.lab.keys import new_ed25519, write_private
from components.lab.layout import HostDirs
from components.lab.topology import LabHost, LabTopology

HOST_KEY = "etc/ssh/ssh_host_ed25519_key"
# Only the host key the lab generated; the image carries none (components/lab/rootfs.py).
SSHD_DROP_IN = "etc/ssh/sshd_config.d/00-podforge-lab.conf"


def is_mounted(path: Path) -> bool:
    return os.path.ismount(path)


def ensure_overlay(dirs: HostDirs, base: Path, hostname: str) -> bool:
    """Mount the host's overlay (base image below, the host's own changes above); True when mounted now."""
    if is_mounted(dirs.root):
        return False
    for d in (dirs.upper, dirs.work, dirs.root):
        d.mkdir(parents=True, exist_ok=True)
    sh(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={base},upperdir={dirs.upper},workdir={dirs.work}",
        str(dirs.root)], step=f"mounting {hostname}'s overlay on {dirs.root}")
    return True


def unmount_overlay(dirs: HostDirs, hostname: str) -> list[str]:
    if not is_mounted(dirs.root):
        return []
    sh(["umount", str(dirs.root)], step=f"unmounting {hostname}'s overlay {dirs.root}")
    return [f"mount {dirs.root}"]


def _write(root: Path, rel: str, text: str, mode: int = 0o644) -> bool:
    path = root / rel
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return True


def ensure_identity(topo: LabTopology, host: LabHost, dirs: HostDirs, automation_public: str) -> bool:
    """Write the files that make the mounted overlay this host; True when any changed.

    The host key is generated once per host and kept in the overlay, so a reboot or a second `lab up`
    presents the same key; it is pinned from there into known_hosts.
    """
    root = dirs.root
    changed = _write(root, "etc/hostname", f"{host.hostname}\n")
    hosts = "".join(f"{h.address}\t{h.hostname}\n" for h in topo.hosts)
    changed |= _write(root, "etc/hosts", f"127.0.0.1\tlocalhost\n{hosts}")
    machine_id = root / "etc/machine-id"
    if not machine_id.read_text().strip():
        machine_id.write_text(secrets.token_hex(16) + "\n")
        changed = True
    key = root / HOST_KEY
    if not key.exists() or not key.with_suffix(".pub").exists():
        private, public = new_ed25519(f"root@{host.hostname}")
        write_private(key, private)
        key.with_suffix(".pub").write_text(public + "\n")
        changed = True
    changed |= _write(root, SSHD_DROP_IN, f"# podforge lab: the host key generated for {host.hostname}; keys only.\n"
                                          f"HostKey /{HOST_KEY}\nPasswordAuthentication no\n"
                                          "KbdInteractiveAuthentication no\n")
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    changed |= _write(root, "root/.ssh/authorized_keys", automation_public if automation_public.endswith("\n")
                      else automation_public + "\n", 0o600)
    return changed


def host_public_key(dirs: HostDirs) -> str:
    return (dirs.root / HOST_KEY).with_suffix(".pub").read_text().strip()


def discard(dirs: HostDirs) -> None:
    """Remove the host's disk (its overlay's upper and work dirs); only when unmounted."""
    if dirs.base.exists() and not is_mounted(dirs.root):
        shutil.rmtree(dirs.base)
