"""The lab's supervisor: one detached process that runs every host's systemd-nspawn and starts a host
again when it reboots (nspawn exits 133 on a reboot inside the container).

Run by `podforge lab up` as `python -m components.lab.supervisor --detach STATE_DIR`; it reads the hosts from
STATE_DIR/lab.json. SIGHUP: start any host that is not running (`lab up` sends it). SIGTERM: shut every
host down cleanly (nspawn turns SIGTERM into an orderly poweroff), kill what is left after a grace period,
and exit. Each host's state (pid, boots, last exit) is in STATE_DIR/hosts/HOST/state.json.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from components.lab import cgroups
from components.lab.layout import HostDirs, LabDirs

REBOOT_EXIT = 133  # systemd-nspawn's exit status when the container's init asked for a reboot
CRASH_LIMIT = 3  # unexpected exits within CRASH_WINDOW_S before the supervisor stops restarting a host
CRASH_WINDOW_S = 60.0
STOP_GRACE_S = 15.0
# Capabilities nspawn grants by default that act on the machine itself rather than the container
# (docs/conventions.md, "The lab"): a lab host must not change the kernel's audit rules.
DROPPED_CAPABILITIES = ("CAP_AUDIT_CONTROL",)


def nspawn_argv(root: Path, netns: str, hostname: str) -> list[str]:
    """The one command line a lab host boots with: nspawn's default capabilities minus the dropped ones."""
    return ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "--boot", "-D", str(root),
            f"--network-namespace-path=/run/netns/{netns}", f"--machine={hostname}",
            f"--drop-capability={','.join(DROPPED_CAPABILITIES)}",
            # The host's own /etc/localtime is the base role's to set: nspawn's default (auto) would point it back
            # at the machine's zone on every boot, and a reboot would undo the role.
            "--timezone=off"]


def container_leader(nspawn_pid: int) -> int | None:
    """The container's PID 1 (systemd) as seen from the machine: the child of its nspawn process."""
    try:
        children = Path(f"/proc/{nspawn_pid}/task/{nspawn_pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                return int(child)
        except OSError:
            continue
    return None


def read_host_state(dirs: HostDirs) -> dict[str, object]:
    try:
        return json.loads((dirs.base / "state.json").read_text())
    except (OSError, ValueError):
        return {}


@dataclass
class Host:
    hostname: str
    netns: str
    dirs: HostDirs
    proc: subprocess.Popen[bytes] | None = None
    boots: int = 0
    last_exit: int | None = None
    crashes: list[float] = field(default_factory=list)
    state: str = "stopped"

    def save(self) -> None:
        data = {"hostname": self.hostname, "state": self.state, "nspawn_pid": self.proc.pid if self.proc else None,
                "boots": self.boots, "last_exit": self.last_exit, "updated_at": time.time()}
        tmp = self.dirs.base / "state.json.tmp"
        tmp.write_text(json.dumps(data) + "\n")
        tmp.replace(self.dirs.base / "state.json")
        if self.proc:
            self.dirs.pid_file.write_text(f"{self.proc.pid}\n")
        else:
            self.dirs.pid_file.unlink(missing_ok=True)


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {message}", flush=True)


class Supervisor:
    def __init__(self, lab: LabDirs):
        self.lab = lab
        self.hosts: dict[str, Host] = {}
        self.stopping = False
        self.reload = True

    def load(self) -> None:
        state = self.lab.read_state() or {}
        for entry in state.get("hosts", []):
            name = entry["hostname"]
            if name not in self.hosts:
                self.hosts[name] = Host(name, entry["netns"], self.lab.host(name))

    def start(self, host: Host) -> None:
        if not os.path.ismount(host.dirs.root) or not Path(f"/run/netns/{host.netns}").exists():
            host.state = "failed"
            log(f"{host.hostname}: not started: its overlay or network namespace is missing (run podforge lab up)")
            host.save()
            return
        with open(host.dirs.console_log, "ab") as console:  # the child keeps its own copy of the descriptor
            own = cgroups.prepare(cgroups.host_cgroups(host.hostname))
            host.proc = subprocess.Popen(nspawn_argv(host.dirs.root, host.netns, host.hostname),
                                         stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                         preexec_fn=lambda: cgroups.enter(own))
        host.boots += 1
        host.state = "running"
        log(f"{host.hostname}: started (boot {host.boots}, nspawn pid {host.proc.pid})")
        host.save()

    def reap(self, host: Host) -> None:
        """Handle a host whose nspawn exited: restart on reboot, stay off on poweroff, limit crash loops."""
        assert host.proc is not None
        code = host.proc.returncode
        host.proc, host.last_exit = None, code
        if self.stopping:
            host.state = "stopped"
        elif code == REBOOT_EXIT:
            log(f"{host.hostname}: rebooted (nspawn exit {code}); starting it again")
            host.save()
            self.start(host)
            return
        elif code == 0:
            host.state = "powered off"
            log(f"{host.hostname}: powered off (nspawn exit 0); `podforge lab up` starts it again")
        else:
            now = time.monotonic()
            host.crashes = [t for t in host.crashes if now - t < CRASH_WINDOW_S] + [now]
            if len(host.crashes) > CRASH_LIMIT:
                host.state = "failed"
                log(f"{host.hostname}: nspawn exited {code} {len(host.crashes)} times in {CRASH_WINDOW_S:.0f} s; "
                    f"not restarting (see {host.dirs.console_log})")
            else:
                log(f"{host.hostname}: nspawn exited {code}; starting it again")
                host.save()
                self.start(host)
                return
        host.save()

    def stop_all(self) -> None:
        running = [h for h in self.hosts.values() if h.proc and h.proc.poll() is None]
        for host in running:
            assert host.proc is not None
            host.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for host in running:
            assert host.proc is not None
            try:
                host.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{host.hostname}: did not shut down within {STOP_GRACE_S:.0f} s; killing it")
                host.proc.kill()
                host.proc.wait()
        for host in self.hosts.values():
            if host.proc:
                self.reap(host)
            cgroups.remove(cgroups.host_cgroups(host.hostname))
        log("all hosts stopped")

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        signal.signal(signal.SIGHUP, self._on_hup)
        self.lab.supervisor_pid.write_text(f"{os.getpid()}\n")
        log(f"supervisor {os.getpid()} watching {self.lab.state_file}")
        while not self.stopping:
            if self.reload:
                self.reload = False
                self.load()
                for host in self.hosts.values():
                    if host.proc is None:
                        host.crashes.clear()
                        self.start(host)
            for host in self.hosts.values():
                if host.proc and host.proc.poll() is not None:
                    self.reap(host)
            time.sleep(0.1)
        self.stop_all()
        self.lab.supervisor_pid.unlink(missing_ok=True)
        return 0

    def _on_term(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _on_hup(self, signum: int, frame: object) -> None:
        self.reload = True


def main(argv: list[str]) -> int:
    detach = argv[:1] == ["--detach"]
    argv = argv[1:] if detach else argv
    if len(argv) != 1:
        print("usage: python -m components.lab.supervisor [--detach] STATE_DIR", file=sys.stderr)
        return 2
    # --detach: the starter waits for this first process only; the supervisor lives on, parented to init.
    if detach and os.fork() > 0:
        os._exit(0)
    return Supervisor(LabDirs(Path(argv[0]))).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
