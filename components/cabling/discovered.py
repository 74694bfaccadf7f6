"""`ibnetdiscover` output parsed into nodes and links.

The default output (infiniband-diags, ibnetdiscover(8)) is a record per node: a header
`Switch PORTS "S-GUID" # "DESCRIPTION" base port 0 lid L lmc 0` or `Ca PORTS "H-GUID" # "DESCRIPTION"`, then a
line per connected port. A switch port line reads `[P] "REMOTE-ID"[RP](REMOTE-PORTGUID) # "REMOTE-DESCRIPTION"
lid L 4xHDR`, a CA port line `[P](PORTGUID) "REMOTE-ID"[RP] # lid L lmc 0 "REMOTE-DESCRIPTION" lid L 4xHDR`.
Every link is listed from both ends; it is kept once. Ports with no cable are not listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEADER = re.compile(r'^(Switch|Ca|Rt)\s+(\d+)\s+"([^"]+)"(?:\s*#\s*"([^"]*)")?')
_PORT = re.compile(r'^\[(\d+)\](?:\([0-9a-fA-F]+\))?\s*"([^"]+)"\[(\d+)\](?:\([0-9a-fA-F]+\))?\s*(?:#\s*(.*))?$')
_SPEED = re.compile(r"\b(\d+x[A-Z0-9]+)\s*$")
_KIND = {"Switch": "switch", "Ca": "ca", "Rt": "router"}


class DiscoveryError(ValueError):
    """Text that is not ibnetdiscover output: `line` is where (0 for the whole text)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Node:
    id: str
    """The node's ID as ibnetdiscover prints it: `S-` or `H-` and its GUID."""
    kind: str
    """switch, ca or router."""
    ports: int
    description: str

    @property
    def guid(self) -> str:
        return "0x" + self.id.split("-", 1)[-1].lstrip("0") if "-" in self.id else self.id


@dataclass(frozen=True)
class PortRef:
    node: str
    port: int


@dataclass(frozen=True)
class DiscoveredLink:
    a: PortRef
    b: PortRef
    speed: str | None
    """Width and speed as printed, e.g. `4xHDR`; None where the line gives none."""


@dataclass
class Topology:
    nodes: dict[str, Node] = field(default_factory=dict)
    links: list[DiscoveredLink] = field(default_factory=list)

    def peer(self) -> dict[PortRef, tuple[PortRef, str | None]]:
        out: dict[PortRef, tuple[PortRef, str | None]] = {}
        for link in self.links:
            out[link.a] = (link.b, link.speed)
            out[link.b] = (link.a, link.speed)
        return out


def parse_ibnetdiscover(text: str) -> Topology:
    """The topology in `text`; DiscoveryError (with the line number) where a node or port line cannot be read,
    or where the text holds no node at all."""
    topo = Topology()
    seen: set[frozenset[PortRef]] = set()
    current: Node | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header:
            kind, ports, node_id, desc = header.groups()
            current = Node(node_id, _KIND[kind], int(ports), desc if desc is not None else "")
            topo.nodes[node_id] = current
            continue
        if line.startswith("["):
            port = _PORT.match(line)
            if port is None or current is None:
                raise DiscoveryError(number, f"not an ibnetdiscover port line: {line[:80]!r}")
            local, remote, remote_port, comment = port.groups()
            here, there = PortRef(current.id, int(local)), PortRef(remote, int(remote_port))
            key = frozenset((here, there))
            if key in seen:
                continue
            seen.add(key)
            speed = _SPEED.search(comment or "")
            topo.links.append(DiscoveredLink(here, there, speed.group(1) if speed else None))
            continue
        current = None if "=" not in line else current  # vendid=, devid=, sysimgguid=, switchguid=, caguid=
    if not topo.nodes:
        raise DiscoveryError(0, "no Switch or Ca record: not ibnetdiscover output (run `ibnetdiscover > FILE` on "
                                "a node with an HCA on the fabric)")
    return topo
