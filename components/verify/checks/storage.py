"""Storage check: every export the spec mounts on this node is mounted at its mount point.

NFS exports are mounted as nfs/nfs4 (with proto=rdma for nfs-rdma); an NVMe-oF namespace is mounted as a
local filesystem on its block device (/dev/nvme…). A mount the spec gives the node that is not mounted fails.
Only on a lab host, where the kernel cannot mount every export, a mount that is planned (an /etc/fstab entry or a
systemd mount unit) but not mounted is simulated; a mount unit whose Type= or Options= contradict the export's
protocol fails there too.
"""

from __future__ import annotations

import re

from components.host import Mount
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


def _unit_fields(text: str) -> dict[str, str]:
    """Key=value lines of a unit file's [Mount] section."""
    fields: dict[str, str] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Mount]" and "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            fields[key.strip()] = value.strip()
    return fields


def _unit_problem(shell: NodeShell, want: Mount) -> str | None:
    """What a mount unit says that contradicts the export's protocol (None: nothing, or no unit)."""
    text = shell.read(f"{SYSTEMD_UNIT_DIR}/{mount_unit_name(want.mount_point)}")
    if text is None:
        return None
    unit = _unit_fields(text)
    kind, options = unit.get("Type"), unit.get("Options", "").split(",")
    name = mount_unit_name(want.mount_point)
    if kind is not None and (kind in NFS_TYPES) != (want.protocol != ExportProtocol.nvme_of):
        return f"{name} mounts Type={kind}, not {'NFS' if want.protocol != ExportProtocol.nvme_of else 'a filesystem'}"
    if want.protocol == ExportProtocol.nfs_rdma and "Options" in unit and "proto=rdma" not in options:
        return f"{name} mounts without proto=rdma"
    if want.protocol == ExportProtocol.nvme_of and "What" in unit and not unit["What"].startswith("/dev/"):
        return f"{name} mounts {unit['What']}, not the namespace's block device"
    return None


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
            elif not entry.source.startswith("/dev/"):
                problems.append(f"{want.mount_point} is mounted from {entry.source}, not an NVMe-oF block device")
        elif entry.fstype not in NFS_TYPES:
            problems.append(f"{want.mount_point} is {entry.fstype}, not NFS")
        elif want.protocol == ExportProtocol.nfs_rdma and "proto=rdma" not in entry.options:
            problems.append(f"{want.mount_point} is mounted without proto=rdma")
    problems.extend(p for m in missing if (p := _unit_problem(shell, m)) is not None)
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
