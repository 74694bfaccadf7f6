"""The lab hall's three operations: up (build and boot every host of the lab spec), status, down.

Each step is idempotent: `up` on a running lab checks every piece, changes nothing and returns quickly.
Progress goes to a callback, one line per step; failures raise LabError with one line.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

from components.lab import bridge_services, network, rootfs
from components.lab import host as lab_host
from components.lab.errors import LabError, sh
from components.lab.keys import ensure_key_pair, known_hosts_text
from components.lab.layout import LabDirs, read_pid
from components.lab.probe import sshd_answers, wait_for_sshd
from components.lab.services import LabService
from components.lab.supervisor import container_leader, read_host_state
from components.lab.topology import LabHost, LabTopology
from components.paths import CODE_DIR, project_root
from components.spec import ClusterSpec, load_stack_spec

Progress = Callable[[str], None]
REQUIRED_TOOLS = ("ip", "mount", "umount", "nsenter", "debootstrap", "systemd-nspawn")
SSHD_TIMEOUT_S = 90.0
SUPERVISOR_STOP_S = 30.0
LOCK_WAIT_S = 180.0  # longer than a first `lab up` that builds the image


def missing_tools() -> list[str]:
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


@dataclass
class UpReport:
    image_built_s: float | None = None  # None: the cached image was used
    changed: list[str] = field(default_factory=list)
    boot_s: dict[str, float] = field(default_factory=dict)  # host → seconds until sshd answered, for hosts started now
    elapsed_s: float = 0.0


def _state_entry(host: LabHost, dirs: LabDirs) -> dict[str, str]:
    return {"hostname": host.hostname, "address": str(host.address), "netns": host.netns, "veth": host.veth,
            "interface": host.interface, "root": str(dirs.host(host.hostname).root)}


@contextmanager
def _exclusive(dirs: LabDirs, progress: Progress) -> Iterator[None]:
    """One `lab up` or `lab down` at a time on a state directory; a second waits for the first (several test
    sessions share one lab, and each session's fixture runs `lab up`)."""
    dirs.root.mkdir(parents=True, exist_ok=True)
    with open(dirs.root / "lock", "w") as lock:
        deadline = time.monotonic() + LOCK_WAIT_S
        waiting = False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError(f"another podforge lab up/down has been running on {dirs.root} for over "
                                   f"{LOCK_WAIT_S:.0f} s") from None
                if not waiting:
                    progress(f"waiting for another podforge lab up/down on {dirs.root}")
                    waiting = True
                time.sleep(0.1)
        yield


def up(topo: LabTopology, dirs: LabDirs, progress: Progress = print) -> UpReport:
    with _exclusive(dirs, progress):
        return _up(topo, dirs, progress)


def _up(topo: LabTopology, dirs: LabDirs, progress: Progress) -> UpReport:
    started = time.monotonic()
    report = UpReport()
    missing = missing_tools()
    if missing:
        raise LabError(f"the lab needs {', '.join(missing)} (Debian: debootstrap systemd-container iproute2 "
                       "util-linux; `make setup` installs them)")
    dirs.root.mkdir(parents=True, exist_ok=True)
    _refuse_other_hosts(topo, dirs)

    mirror = rootfs.mirror_uri()
    if rootfs.cached(dirs.rootfs, dirs.rootfs_stamp):
        progress(f"image: Debian 12 rootfs cached in {dirs.rootfs}")
    else:
        progress(f"image: building Debian 12 rootfs with debootstrap from {mirror} (once; one to two minutes)")
        if read_pid(dirs.supervisor_pid) or any(lab_host.is_mounted(dirs.host(h.hostname).root) for h in topo.hosts):
            raise LabError("the lab's image must be rebuilt but hosts are running on it; run podforge lab down first")
        report.image_built_s = rootfs.build(dirs.rootfs, dirs.rootfs_stamp, mirror)
        report.changed.append("image")
        progress(f"image: built in {report.image_built_s:.0f} s")

    if ensure_key_pair(dirs.private_key, dirs.public_key, "podforge-lab-automation"):
        report.changed.append("automation key")
        progress(f"keys: automation key pair generated in {dirs.private_key}")
    automation_public = dirs.public_key.read_text()

    if network.ensure_bridge(topo):
        report.changed.append(f"bridge {topo.bridge}")
        progress(f"network: bridge {topo.bridge} {topo.bridge_address} up")
    for host in topo.hosts:
        hdirs = dirs.host(host.hostname)
        did = [what for what, changed in (
            ("network", network.ensure_host_network(topo, host)),
            ("overlay", lab_host.ensure_overlay(hdirs, dirs.rootfs, host.hostname)),
            ("identity", lab_host.ensure_identity(topo, host, hdirs, automation_public)),
        ) if changed]
        if did:
            report.changed.append(f"{host.hostname}: {', '.join(did)}")
            progress(f"host {host.hostname} {host.address}: {', '.join(did)} ready")

    state = dirs.read_state() or {}
    want = {"stack": topo.stack, "lab_id": state.get("lab_id") or secrets.token_hex(8), "bridge": topo.bridge,
            "bridge_address": str(topo.bridge_address), "hosts": [_state_entry(h, dirs) for h in topo.hosts]}
    if {k: state.get(k) for k in want} != want:
        dirs.write_state({**want, "created_at": state.get("created_at") or time.time()})
        report.changed.append("lab.json")
    known = known_hosts_text([(str(h.address), lab_host.host_public_key(dirs.host(h.hostname))) for h in topo.hosts])
    if not dirs.known_hosts.exists() or dirs.known_hosts.read_text() != known:
        dirs.known_hosts.write_text(known)
        report.changed.append("known_hosts")
        progress(f"keys: host keys pinned in {dirs.known_hosts}")

    # The bridge services start now and are waited for after the hosts, so their start overlaps the boot.
    started_services, services_pending = bridge_services.start(_spec_of(topo), dirs, str(topo.bridge_address.ip), progress)
    report.changed += started_services

    supervisor = read_pid(dirs.supervisor_pid)
    if supervisor is None:
        _kill_strays(dirs, topo)
    booting = [h for h in topo.hosts if not _host_running(dirs, h)]
    boot_started = time.monotonic()
    if supervisor is None:
        supervisor = _start_supervisor(dirs)
        report.changed.append("supervisor")
        progress(f"supervisor: started (pid {supervisor}), booting {len(booting)} hosts")
    elif booting:
        os.kill(supervisor, signal.SIGHUP)
        report.changed.append("supervisor: started " + ", ".join(h.hostname for h in booting))
        progress(f"supervisor: pid {supervisor} asked to start {', '.join(h.hostname for h in booting)}")

    silent = [h for h in topo.hosts if h in booting or not sshd_answers(h.address)]
    if silent:
        progress(f"sshd: waiting for {', '.join(h.hostname for h in silent)}")
        waited_from = time.monotonic()
        answered = wait_for_sshd([h.address for h in silent], SSHD_TIMEOUT_S)
        late = [h for h in silent if answered[h.address] is None]
        if late:
            raise LabError(f"sshd did not answer within {SSHD_TIMEOUT_S:.0f} s on "
                           + ", ".join(f"{h.hostname} ({h.address}; console: {dirs.host(h.hostname).console_log})"
                                       for h in late))
        for h in booting:  # boot time: from asking the supervisor to start the host until its sshd answered
            seconds = answered.get(h.address)
            if seconds is not None:
                report.boot_s[h.hostname] = waited_from - boot_started + seconds
    bridge_services.wait(services_pending, progress)
    report.elapsed_s = time.monotonic() - started
    boots = ", ".join(f"{name} {s:.1f} s" for name, s in report.boot_s.items())
    progress(f"lab up: {len(topo.hosts)} hosts answering SSH on {topo.subnet}"
             + (f"; booted {boots}" if boots else "; nothing changed" if not report.changed else "")
             + f" ({report.elapsed_s:.1f} s)")
    return report


def _spec_of(topo: LabTopology) -> ClusterSpec:
    if topo.spec is not None:
        return topo.spec
    return load_stack_spec(topo.stack)[1].spec


def _refuse_other_hosts(topo: LabTopology, dirs: LabDirs) -> None:
    state = dirs.read_state()
    if state and read_pid(dirs.supervisor_pid):
        running = {h["hostname"] for h in state.get("hosts", [])}
        if running != {h.hostname for h in topo.hosts}:
            raise LabError(f"the running lab has hosts {', '.join(sorted(running))}, the spec declares "
                           f"{', '.join(h.hostname for h in topo.hosts)}; run podforge lab down first")


def _host_running(dirs: LabDirs, host: LabHost) -> bool:
    pid = read_pid(dirs.host(host.hostname).pid_file)
    return pid is not None and container_leader(pid) is not None


def _start_supervisor(dirs: LabDirs) -> int:
    """Start the detached supervisor and wait until it has written its pid file."""
    dirs.supervisor_pid.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(CODE_DIR), os.environ.get("PYTHONPATH")]))}
    with open(dirs.supervisor_log, "ab") as log:
        starter = subprocess.run([sys.executable, "-m", "components.lab.supervisor", "--detach", str(dirs.root)],
                                 cwd=project_root(), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True, timeout=30)
    deadline = time.monotonic() + 10
    while starter.returncode == 0 and time.monotonic() < deadline:
        pid = read_pid(dirs.supervisor_pid)
        if pid is not None:
            return pid
        time.sleep(0.05)
    raise LabError(f"the lab supervisor did not start; see {dirs.supervisor_log}")


def _kill_strays(dirs: LabDirs, topo: LabTopology) -> None:
    """nspawn processes left by a supervisor that died: stop them so the new supervisor owns every host."""
    for host in topo.hosts:
        pid_file = dirs.host(host.hostname).pid_file
        pid = read_pid(pid_file)
        if pid and b"systemd-nspawn" in Path(f"/proc/{pid}/cmdline").read_bytes():
            _terminate(pid, 15.0)
        pid_file.unlink(missing_ok=True)


def _terminate(pid: int, grace: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _known_hosts_of(topo: LabTopology, dirs: LabDirs) -> list[LabHost]:
    """Hosts the spec declares plus any the last `up` recorded (the spec may have changed since)."""
    hosts = {h.hostname: h for h in topo.hosts}
    for entry in (dirs.read_state() or {}).get("hosts", []):
        if entry["hostname"] not in hosts:
            addr = IPv4Address(entry["address"])
            hosts[entry["hostname"]] = LabHost(entry["hostname"], addr, topo.subnet, topo.bridge_address.ip, entry["interface"])
    return list(hosts.values())


def _mounts_under(path: Path) -> list[Path]:
    """Mount points at or below `path`, deepest first."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = Path(line.split()[4].encode().decode("unicode_escape"))
        if point == path or path in point.parents:
            found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def down(topo: LabTopology, dirs: LabDirs, purge: bool = False, progress: Progress = print) -> list[str]:
    """Stop and remove everything `up` made; the image cache stays unless `purge`. What was removed."""
    with _exclusive(dirs, progress):
        removed = _down(topo, dirs, progress)
    if purge:
        if _mounts_under(dirs.root):
            raise LabError(f"not purging {dirs.root}: something is still mounted below it")
        shutil.rmtree(dirs.root)
        progress(f"removed state and image cache {dirs.root}")
    return removed


def _down(topo: LabTopology, dirs: LabDirs, progress: Progress) -> list[str]:
    removed = bridge_services.stop(dirs, progress)
    supervisor = read_pid(dirs.supervisor_pid)
    if supervisor:
        progress(f"supervisor: stopping pid {supervisor} and its hosts")
        _terminate(supervisor, SUPERVISOR_STOP_S)
        removed.append(f"supervisor {supervisor}")
    dirs.supervisor_pid.unlink(missing_ok=True)
    hosts = _known_hosts_of(topo, dirs)
    for host in hosts:
        hdirs = dirs.host(host.hostname)
        pid = read_pid(hdirs.pid_file)
        if pid and _alive(pid):
            _terminate(pid, 15.0)
            removed.append(f"{host.hostname} nspawn {pid}")
        hdirs.pid_file.unlink(missing_ok=True)
    for point in _mounts_under(dirs.root / "hosts"):
        done = sh(["umount", str(point)], step=f"unmounting {point}", check=False)
        if done.returncode != 0:  # still busy a moment after its processes exit: detach it
            sh(["umount", "-l", str(point)], step=f"unmounting {point}")
        removed.append(f"mount {point}")
    for host in hosts:
        removed += network.remove_host_network(host)
        lab_host.discard(dirs.host(host.hostname))
    removed += network.remove_bridge(topo)
    for stale in (dirs.state_file, dirs.known_hosts):
        stale.unlink(missing_ok=True)
    for line in removed:
        progress(f"removed {line}")
    progress("lab down: " + ("nothing was running" if not removed else f"{len(removed)} things removed")
             + f"; image cache in {dirs.rootfs.parent}")
    return removed


@dataclass
class HostStatus:
    hostname: str
    address: IPv4Address
    state: str  # running / stopped / powered off / failed / not built
    boots: int
    sshd: bool
    system: str  # `systemctl is-system-running` inside, or "-"
    failed_units: list[str]

    @property
    def healthy(self) -> bool:
        return self.state == "running" and self.sshd and self.system in ("running", "degraded")


@dataclass
class LabStatus:
    bridge: str
    bridge_up: bool
    supervisor: int | None
    hosts: list[HostStatus]
    services: list[tuple[LabService, bool]]  # declared on the bridge, and whether each answers
    # "HOST:PORT" of each service `lab up` runs for this spec → its pid (None: not running); the others the spec
    # declares on the bridge (Redfish, the array's API) are not served in the lab and only inform.
    served: dict[str, int | None] = field(default_factory=dict)

    def runs(self, service: LabService) -> bool:
        return f"{service.host}:{service.port}" in self.served

    @property
    def healthy(self) -> bool:
        return (self.bridge_up and self.supervisor is not None and all(h.healthy for h in self.hosts)
                and all(answers for svc, answers in self.services if self.runs(svc)))


def in_host(dirs: LabDirs, hostname: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a shell command inside a running host (its namespaces, as root), without SSH."""
    pid = read_pid(dirs.host(hostname).pid_file)
    leader = container_leader(pid) if pid else None
    if leader is None:
        raise LabError(f"{hostname} is not running")
    return subprocess.run(["nsenter", "-t", str(leader), "-m", "-u", "-i", "-n", "-p", "--",
                           "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
                           "/bin/sh", "-c", command], capture_output=True, text=True, timeout=timeout)


def status(topo: LabTopology, dirs: LabDirs, services: list[LabService] | None = None) -> LabStatus:
    bridge_up = network.link_exists(topo.bridge) and str(topo.bridge_address) in network.addresses(topo.bridge)
    hosts = []
    for host in topo.hosts:
        hdirs = dirs.host(host.hostname)
        saved = read_host_state(hdirs)
        running = _host_running(dirs, host)
        state = "running" if running else str(saved.get("state") or "not built") if hdirs.base.exists() else "not built"
        if state == "running" and not running:
            state = "stopped"
        system, failed = "-", []
        if running:
            done = in_host(dirs, host.hostname, "systemctl is-system-running; systemctl --failed --plain --no-legend "
                                                "| cut -d' ' -f1", timeout=15)
            lines = done.stdout.split()
            system, failed = (lines[0], lines[1:]) if lines else ("unknown", [])
        hosts.append(HostStatus(host.hostname, host.address, state, int(saved.get("boots") or 0),  # type: ignore[call-overload]
                                sshd_answers(host.address) if running else False, system, failed))
    # Without the bridge the lab addresses are routed off the machine: probing them would say nothing.
    probed = [(svc, bridge_up and svc.answers()) for svc in services or []]
    running = bridge_services.running(dirs)
    served = {f"{host}:{port}": running.get(name, ("", None))[1]
              for name, (host, port) in bridge_services.endpoints(_spec_of(topo), str(topo.bridge_address.ip)).items()}
    return LabStatus(topo.bridge, bridge_up, read_pid(dirs.supervisor_pid), hosts, probed, served)

