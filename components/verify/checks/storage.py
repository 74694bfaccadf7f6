"""Storage check: every export the spec mounts on this node is mounted at its mount point."""

from __future__ import annotations

from components.spec.storage import ExportProtocol
from components.verify.checks import Check, Outcome, absent, bad, ok, stand_in, unneeded
from components.verify.expectations import NodeExpectation
from components.verify.mounts import parse_mounts
from components.verify.shell import NodeShell

NFS_TYPES = {"nfs", "nfs4"}


def mounts(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    wanted = [m for m in expect.mounts if m.protocol is not ExportProtocol.nvme_of]  # NVMe-oF is a block device
    if not wanted:
        return unneeded(f"the spec mounts no file export on {expect.hostname}")
    mounted = {m.mount_point: m for m in parse_mounts(shell.read("/proc/mounts") or "")}
    planned = {m.mount_point for m in parse_mounts(shell.read("/etc/fstab") or "")}
    problems, missing = [], []
    for want in wanted:
        entry = mounted.get(want.mount_point)
        if entry is None:
            missing.append(want)
            continue
        if entry.fstype not in NFS_TYPES:
            problems.append(f"{want.mount_point} is {entry.fstype}, not NFS")
        elif want.protocol is ExportProtocol.nfs_rdma and "proto=rdma" not in entry.options:
            problems.append(f"{want.mount_point} is mounted without proto=rdma")
    if missing and not problems:
        names = ", ".join(m.mount_point for m in missing)
        if expect.lab:
            return stand_in(f"lab host: {names} not mounted (the lab mounts NFS only where the machine allows it)")
        if not any(m.mount_point in planned for m in missing):
            return absent(f"{names} neither mounted nor in /etc/fstab (the node was not provisioned)")
    problems.extend(f"{m.mount_point} ({m.export}) not mounted" for m in missing)
    if problems:
        return bad("; ".join(problems))
    return ok(f"{len(wanted)} export(s) mounted: " + ", ".join(f"{m.export} on {m.mount_point}" for m in wanted))


CHECKS = (
    Check("storage", "mounts", "the spec's exports are mounted with their protocol", mounts),
)
