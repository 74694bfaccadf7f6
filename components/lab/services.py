"""The services a lab spec expects on the lab bridge (package repository, Redfish BMCs, Vault API, KMIP,
the array's management API), read from the spec: `lab status` shows whether each answers. `lab up` builds
the hosts; these services are started by their own commands, so they inform and do not decide the status.
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
    found += [_endpoint(f"Redfish BMC of {n.hostname}", n.bmc) for n in spec.nodes]
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
