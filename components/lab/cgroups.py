"""One cgroup per lab host. systemd-nspawn --keep-unit runs its container in the cgroup it was started in
(creating `payload` and `supervisor` below it), so hosts started side by side from one process would share
one `payload` cgroup and trip over each other's units (exit status 219/CGROUP). Each host's nspawn is
therefore moved, before it execs, into its own cgroup below the supervisor's, in the hierarchies nspawn
uses: the unified (v2) one and, on hybrid machines, the v1 `name=systemd` one.
"""

from __future__ import annotations

import os
from pathlib import Path


def _mount_points() -> dict[str, Path]:
    """'unified' → the cgroup2 mount, 'name=systemd' → the v1 systemd hierarchy's mount, where present."""
    found: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        fstype, options = fields[sep + 1], fields[sep + 3]
        point = Path(fields[4])
        if fstype == "cgroup2":
            found.setdefault("unified", point)
        elif fstype == "cgroup" and "name=systemd" in options.split(","):
            found.setdefault("name=systemd", point)
    return found


def _current() -> dict[str, str]:
    """This process's cgroup path per hierarchy ('unified' for `0::`)."""
    current: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, controllers, path = line.split(":", 2)
        if hid == "0" and controllers == "":
            current["unified"] = path
        elif "name=systemd" in controllers.split(","):
            current["name=systemd"] = path
    return current


def host_cgroups(hostname: str) -> list[Path]:
    """The host's cgroup directories (not yet created), one per hierarchy nspawn uses."""
    mounts, current = _mount_points(), _current()
    return [mounts[h] / current[h].lstrip("/") / f"podforge-lab-{hostname}" for h in mounts if h in current]


def prepare(cgroups: list[Path]) -> list[Path]:
    """Create the cgroups; those that could not be created are left out (nspawn still runs, shared)."""
    made = []
    for cg in cgroups:
        try:
            cg.mkdir(exist_ok=True)
            made.append(cg)
        except OSError:
            continue
    return made


def enter(cgroups: list[Path]) -> None:
    """Move the calling process into the cgroups (run in the child between fork and exec)."""
    for cg in cgroups:
        with open(cg / "cgroup.procs", "w") as procs:
            procs.write(str(os.getpid()))


def remove(cgroups: list[Path]) -> None:
    """Remove the cgroups and the empty cgroups nspawn left below them, deepest first."""
    for cg in cgroups:
        if not cg.exists():
            continue
        for sub in sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            try:
                sub.rmdir()
            except OSError:
                pass
        try:
            cg.rmdir()
        except OSError:
            pass
