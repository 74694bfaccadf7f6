"""Storage check: every export the spec mounts on this node is mounted at its mount point.

NFS exports are mounted as nfs/nfs4 (with proto=rdma for nfs-rdma); an NVMe-oF namespace is mounted as a
local filesystem on its block device. A mount the spec gives the node that is not mounted fails. Only on a lab
host, where the kernel cannot mount every export, a mount that is planned (an /etc/fstab entry or a systemd
mount unit) but not mounted is simulated.
"""

from __future__ import annotations

import re

from components.spec.storage import ExportProtocol
from components.verify.checks import Check, Outcome, bad, ok, stand_in, unneeded
from components.verify.expectations import NodeExpectation
from components.verify.mounts import parse_mounts
from components.verify.shell import NodeShell

NFS_TYPES = {"nfs", "nfs4"}
SYSTEMD_UNIT_DIR = "/etc/systemd/system"


def mount_unit_name(mount_point: str) -> str:
    """The systemd mount unit of a path (`systemd-escape --path --suffix=mount`): /raid/scratch → raid-scratch.mount."""
    path = mount_point.strip("/")
    if not path:
        return "-.mount"
    escaped = re.sub(r"[^A-Za-z0-9:_./]", lambda m: "".join(f"\\x{b:02x}" for b in m.group().encode()), path)
    if escaped.startswith("."):
        escaped = "\\x2e" + escaped[1:]
    return escaped.replace("/", "-") + ".mount"


def _planned(shell: NodeShell, mount_point: str, fstab: set[str]) -> bool:
    return mount_point in fstab or shell.read(f"{SYSTEMD_UNIT_DIR}/{mount_unit_name(mount_point)}") is not None


def mounts(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    wanted = list(expect.mounts)
    if not wanted:
        return unneeded(f"the spec mounts no export on {expect.hostname}")
    mounted = {m.mount_point: m for m in parse_mounts(shell.read("/proc/mounts") or "")}
    fstab = {m.mount_point for m in parse_mounts(shell.read("/etc/fstab") or "")}
    problems, missing = [], []
    for want in wanted:
        entry = mounted.get(want.mount_point)
        if entry is None:
            missing.append(want)
        elif want.protocol == ExportProtocol.nvme_of:
            if entry.fstype in NFS_TYPES:
                problems.append(f"{want.mount_point} is {entry.fstype}, not the NVMe-oF namespace's filesystem")
        elif entry.fstype not in NFS_TYPES:
            problems.append(f"{want.mount_point} is {entry.fstype}, not NFS")
        elif want.protocol == ExportProtocol.nfs_rdma and "proto=rdma" not in entry.options:
            problems.append(f"{want.mount_point} is mounted without proto=rdma")
    unplanned = [m for m in missing if not _planned(shell, m.mount_point, fstab)]
    if expect.lab and missing and not problems and not unplanned:
        names = ", ".join(m.mount_point for m in missing)
        return stand_in(f"lab host: {names} planned, not mounted (the lab mounts only where the machine allows it)")
    problems.extend(f"{m.mount_point} ({m.export}) not mounted" + ("" if m in unplanned else " (planned, not mounted)")
                    for m in missing)
    if unplanned and len(unplanned) == len(wanted):
        problems.append("none is in /etc/fstab or a mount unit (the node was not provisioned?)")
    if problems:
        return bad("; ".join(problems))
    return ok(f"{len(wanted)} export(s) mounted: " + ", ".join(f"{m.export} on {m.mount_point}" for m in wanted))


CHECKS = (
    Check("storage", "mounts", "the spec's exports are mounted with their protocol", mounts),
)
