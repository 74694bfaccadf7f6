"""Long-lived processes `lab up` starts for the services on the bridge, each detached in its own session with
its pid and the recipe it was started from in STATE/services/NAME.{pid,json}; `lab down` stops them.

A pid counts only while /proc/PID/cmdline still names the service's own directory, so a reused pid is never
mistaken for (or killed as) a lab service. A service whose recipe (config, certificates) changed is restarted.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from components.lab.errors import LabError, last_line
from components.lab.layout import read_pid


@dataclass(frozen=True)
class Daemon:
    name: str                 # e.g. "repository", "vault", "kmip"
    services_dir: Path        # STATE/services: pid, recipe and log live here
    marker: str               # a string its command line always holds (its own directory): guards against pid reuse
    stop_signal: int = signal.SIGTERM  # what stop() sends first

    @property
    def pid_file(self) -> Path:
        return self.services_dir / f"{self.name}.pid"

    @property
    def recipe_file(self) -> Path:
        return self.services_dir / f"{self.name}.json"

    @property
    def log(self) -> Path:
        return self.services_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The running process of this service, or None."""
        pid = read_pid(self.pid_file)
        if pid is None:
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return None
        return pid if self.marker in cmdline else None

    def recipe(self) -> dict[str, str] | None:
        try:
            return json.loads(self.recipe_file.read_text())
        except (OSError, ValueError):
            return None

    def start(self, argv: Sequence[str], recipe: dict[str, str], env: dict[str, str], cwd: Path) -> int:
        """Start argv (argv[0] a full path) detached, its output in its log (0600: a dev-mode Vault prints its root
        token there); the recipe is recorded so the next `lab up` can tell whether it is still current."""
        self.log.touch(mode=0o600)
        pid = spawn_detached(argv, env, cwd, self.log)
        self.pid_file.write_text(f"{pid}\n")
        self.recipe_file.write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n")
        return pid

    def wait_ready(self, ready: Callable[[], bool], timeout: float) -> float:
        """Seconds until ready() held; LabError with the log's last line if the process died or stayed silent."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if ready():
                return time.monotonic() - started
            if self.pid() is None:
                raise LabError(f"{self.name}: exited at start: {last_line(self._log_tail())} (log {self.log})")
            time.sleep(0.05)
        raise LabError(f"{self.name}: not answering after {timeout:.0f} s: {last_line(self._log_tail())} (log {self.log})")

    def stop(self, grace: float = 10.0) -> int | None:
        """Stop the service's whole process group (stop_signal, then SIGKILL after `grace` s); the pid that was
        stopped, or None when none ran."""
        pid = self.pid()
        if pid is not None:
            _signal_group(pid, self.stop_signal)
            deadline = time.monotonic() + grace
            while self.pid() is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.pid() is not None:
                _signal_group(pid, signal.SIGKILL)
                while self.pid() is not None and time.monotonic() < deadline + 5:
                    time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        self.recipe_file.unlink(missing_ok=True)
        return pid

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the service leads its own session: its group holds its children too
    except ProcessLookupError:
        pass


def spawn_detached(argv: Sequence[str], env: dict[str, str], cwd: Path, log: Path) -> int:
    """Fork twice so the service is init's child, never a zombie of `lab up` (or of a test session that ran it),
    and leads its own session and process group; returns its pid once it has exec'd argv."""
    argv = list(argv)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        try:
            os.close(read_end)
            grandchild = os.fork()
            if grandchild:
                os.write(write_end, str(grandchild).encode())
                os._exit(0)
            # write_end stays open here: it is close-on-exec, so the parent's read ends only once the service
            # has exec'd (or died), and a pid() right after start sees the service's own command line.
            os.setsid()
            os.chdir(cwd)
            devnull = os.open(os.devnull, os.O_RDONLY)
            out = os.open(log, os.O_WRONLY | os.O_APPEND)
            os.dup2(devnull, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    if not data:
        raise LabError(f"could not start {argv[0]}")
    return int(data)
