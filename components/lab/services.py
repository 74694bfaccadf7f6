"""The services a lab spec expects on the lab bridge (package repository, Redfish BMCs, Vault API, KMIP,
the array's management API), read from the spec: `lab status` shows whether each answers. `lab up` runs
the repository, Vault API and KMIP (components.lab.bridge_services); the others only inform.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import IPv4Address
from urllib.parse import urlsplit

from components.spec import ClusterSpec

DEFAULT_PORTS = {"http": 80, "https": 443, "redfish": 443}


@dataclass(frozen=True)
class LabService:
    name: str
    host: str
    port: int

    def answers(self, timeout: float = 0.5) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return True
        except OSError:
            return False


def _endpoint(name: str, url: str) -> LabService | None:
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    if not parts.hostname or parts.scheme == "file":
        return None
    return LabService(name, parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme, 0))


def declared_services(spec: ClusterSpec, bridge: IPv4Address) -> list[LabService]:
    """Endpoints on the bridge address the spec names, once each (first name wins)."""
    found: list[LabService | None] = [_endpoint(f"apt source {s.name}", s.url) for s in spec.software.sources]
    bmcs: dict[str, list[str]] = {}  # one emulator may serve every node's BMC: name the endpoint once, by its nodes
    for n in spec.nodes:
        bmcs.setdefault(n.bmc.removeprefix("redfish://").split("/", 1)[0], []).append(n.hostname)
    for n in spec.nodes:
        hosts = bmcs[n.bmc.removeprefix("redfish://").split("/", 1)[0]]
        found.append(_endpoint(f"Redfish BMC of {n.hostname}" if len(hosts) == 1
                               else f"Redfish BMCs of {', '.join(hosts)}", n.bmc))
    if spec.keys.vault:
        found.append(_endpoint("Vault API", spec.keys.vault.address))
        if spec.keys.vault.kmip:
            found += [_endpoint("KMIP", str(a)) for a in spec.keys.vault.kmip.listen_addrs]
    found += [_endpoint(f"array {a.name} management", a.management) for a in spec.storage.arrays]
    unique: dict[tuple[str, int], LabService] = {}
    for service in found:
        if service and service.port and service.host == str(bridge):
            unique.setdefault((service.host, service.port), service)
    return list(unique.values())
