"""Where the lab keeps its state: the `.lab/` directory of the project (git-ignored).

    .lab/rootfs/base, base.json     the Debian 12 image (debootstrap, cached) and what it was built from
    .lab/hosts/HOST/{upper,work,root}  the host's overlay: its own changes, overlayfs work dir, mount point
    .lab/hosts/HOST/nspawn.pid, console.log   the running container (written by the supervisor), its output
    .lab/id_ed25519(.pub)           the automation key pair, installed for root on every host
    .lab/known_hosts                every host's SSH host key under its management address (pinned)
    .lab/lab.json                   what `lab up` built: bridge, hosts, addresses (read by the supervisor)
    .lab/supervisor.pid, supervisor.log   the one supervisor that restarts rebooted hosts
    .lab/repository/, repository.json    the stand-in APT repository served on the bridge (cached) and its recipe
    .lab/services/                  the bridge services' processes, configs, CA and keys (0700; `lab down` drops it)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.paths import project_root

# Tests and CI may move the state elsewhere; the lab stack's known_hosts path assumes the default.
STATE_DIR_ENV = "PODFORGE_LAB_DIR"


def default_state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV) or project_root() / ".lab").resolve()


@dataclass(frozen=True)
class HostDirs:
    base: Path

    @property
    def upper(self) -> Path:
        return self.base / "upper"

    @property
    def work(self) -> Path:
        return self.base / "work"

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def pid_file(self) -> Path:
        return self.base / "nspawn.pid"

    @property
    def console_log(self) -> Path:
        return self.base / "console.log"


@dataclass(frozen=True)
class LabDirs:
    root: Path

    @property
    def rootfs(self) -> Path:
        return self.root / "rootfs" / "base"

    @property
    def rootfs_stamp(self) -> Path:
        return self.root / "rootfs" / "base.json"

    @property
    def private_key(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def public_key(self) -> Path:
        return self.root / "id_ed25519.pub"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def state_file(self) -> Path:
        return self.root / "lab.json"

    @property
    def supervisor_pid(self) -> Path:
        return self.root / "supervisor.pid"

    @property
    def supervisor_log(self) -> Path:
        return self.root / "supervisor.log"

    @property
    def repository(self) -> Path:
        return self.root / "repository"

    @property
    def repository_stamp(self) -> Path:
        return self.root / "repository.json"

    @property
    def services(self) -> Path:
        return self.root / "services"

    def host(self, hostname: str) -> HostDirs:
        return HostDirs(self.root / "hosts" / hostname)

    def read_state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def write_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)


def read_pid(path: Path) -> int | None:
    """The pid in `path` when that process is still alive (and no zombie), else None."""
    try:
        pid = int(path.read_text().split()[0])
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return None if state == "Z" else pid
