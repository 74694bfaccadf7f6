"""A running lab as tests and tools see it: its hosts, the pinned known_hosts, the automation key, and two
ways into a host: as root through its namespaces (no SSH, works while sshd is down) or over SSH with the
host key pinned from the lab's known_hosts (components.access)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import paramiko

from components.access import connect, host_pattern, known_hosts_lines, pinned_client
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
        """An SSH client logged in with the lab's automation key; any key but the host's pinned one is refused."""
        address = self.address(hostname)
        client = pinned_client(known_hosts_lines(self.known_hosts, host_pattern(address, 22)))
        return connect(client, address, 22, user, self.private_key, timeout)

    def up(self) -> hall.UpReport:
        return hall.up(self.topology, self.dirs, progress=lambda line: None)

    def down(self) -> list[str]:
        return hall.down(self.topology, self.dirs, progress=lambda line: None)
