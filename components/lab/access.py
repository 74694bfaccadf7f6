"""A running lab as tests and tools see it: its hosts, the pinned known_hosts, the automation key, and two
ways into a host: as root through its namespaces (no SSH, works while sshd is down) or over SSH with the
host key checked against known_hosts."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import paramiko

from components.lab import hall
from components.lab.layout import LabDirs
from components.lab.topology import LabTopology


@dataclass(frozen=True)
class LabAccess:
    topology: LabTopology
    dirs: LabDirs

    @property
    def hosts(self) -> list[tuple[str, str]]:
        """(hostname, management address) of every host, in spec order."""
        return [(h.hostname, str(h.address)) for h in self.topology.hosts]

    @property
    def known_hosts(self) -> Path:
        return self.dirs.known_hosts

    @property
    def private_key(self) -> Path:
        return self.dirs.private_key

    @property
    def state_dir(self) -> Path:
        return self.dirs.root

    @property
    def bridge_address(self) -> str:
        return str(self.topology.bridge_address.ip)

    def address(self, hostname: str) -> str:
        return str(self.topology.host(hostname).address)

    def run(self, hostname: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `sh -c command` as root inside the host through nsenter; check the returncode yourself."""
        return hall.in_host(self.dirs, hostname, command, timeout=timeout)

    def ssh(self, hostname: str, user: str = "root", timeout: float = 10) -> paramiko.SSHClient:
        """An SSH client logged in with the automation key; unknown or changed host keys are refused."""
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(self.address(hostname), username=user, key_filename=str(self.private_key), timeout=timeout,
                       banner_timeout=timeout, auth_timeout=timeout, look_for_keys=False, allow_agent=False)
        return client

    def up(self) -> hall.UpReport:
        return hall.up(self.topology, self.dirs, progress=lambda line: None)

    def down(self) -> list[str]:
        return hall.down(self.topology, self.dirs, progress=lambda line: None)
