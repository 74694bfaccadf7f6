"""The spec's cabling of one fabric as port pairs, and the link speed it implies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from components.spec.cluster import ClusterSpec
from components.spec.fabric import Fabric

# The node description an HCA reports is `HOST DEVICE`: rdma-ndd's default format is "%h %d" (short hostname,
# device name), written into a 64-byte buffer (source: linux-rdma/rdma-core, rdma-ndd/rdma-ndd.c,
# DEFAULT_ND_FORMAT and update_node_desc; doc/rst/rdma-ndd.8.in.rst "Node Description format"). So a
# description holds at most 63 characters.
NODE_DESC_MAX = 63

# Link rate in Gb/s → the width and speed ibnetdiscover prints for a 4-lane link at that rate ("4xHDR").
# Per-lane data rates FDR 14 (4X: 56 Gb/s), EDR 25 (100), HDR 50 (200), NDR 100 (400)
# (source: https://atgbics.com/pages/direct-attach-infiniband-port-speed-overview; QDR 4X 40 Gb/s:
# https://www.advancedclustering.com/act_kb/infiniband-types-speeds/). A rate not listed is not checked.
SPEED_OF_RATE = {40: "4xQDR", 56: "4xFDR", 100: "4xEDR", 200: "4xHDR", 400: "4xNDR"}


def expected_speed(fabric: Fabric) -> str | None:
    """`4xHDR` for a 200 Gb/s fabric; None where the rate maps to no InfiniBand 4X speed (then none is checked)."""
    if fabric.transport != "infiniband":
        return None
    return SPEED_OF_RATE.get(fabric.rate_gbps)


class End(NamedTuple):
    """One end of a cable: a switch port, or a port of a node's HCA (`name` is then `HOST DEVICE`). A tuple:
    hashing and ordering tens of thousands of them stays cheap."""

    kind: Literal["hca", "switch", "unknown"]
    name: str
    port: int

    @property
    def device(self) -> str:
        """What the end is on: the switch, the host (an HCA pair of one host is one device), or the unknown node."""
        return self.name.split(" ", 1)[0] if self.kind == "hca" else self.name

    @property
    def label(self) -> str:
        """How a technician finds it: `su1-leaf-r3 port 12`, `su1-dgx-07 mlx5_3` (HCA port 1 goes unsaid)."""
        if self.kind == "hca":
            return self.name if self.port == 1 else f"{self.name} port {self.port}"
        return f"{self.name} port {self.port}"

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "name": self.name, "port": self.port}


def hca_end(host: str, device: str, port: int = 1) -> End:
    return End("hca", f"{host} {device}", port)


def switch_end(switch: str, port: int) -> End:
    return End("switch", switch, port)


class Link(NamedTuple):
    """A cable: its two ends in a fixed order (the lower end first), so a link read from either side is equal."""

    a: End
    b: End

    @classmethod
    def of(cls, one: End, other: End) -> Link:
        return cls(one, other) if one <= other else cls(other, one)

    @property
    def label(self) -> str:
        return f"{self.a.label} ↔ {self.b.label}"


@dataclass(frozen=True)
class Intent:
    """The cabling the spec gives one fabric."""

    fabric: str
    links: tuple[Link, ...]
    """Node links then switch links, in spec order."""
    speed: str | None
    """The speed every link should come up at (`4xHDR`), or None where the spec's rate maps to none."""
    switches: tuple[str, ...]
    """Every switch of the spec (any fabric): a discovered switch maps back to one by its node description."""
    hosts: tuple[str, ...]
    """Every node of the spec: a discovered HCA maps back by its description `HOST DEVICE`."""

    def peers(self) -> dict[End, End]:
        """Each cabled end → the end its cable should reach."""
        out: dict[End, End] = {}
        for link in self.links:
            out[link.a] = link.b
            out[link.b] = link.a
        return out


def intent(spec: ClusterSpec, fabric: Fabric) -> Intent:
    """The fabric's intended cabling: node_links (HCA port 1 ↔ leaf port) and switch_links (leaf ↔ spine port)."""
    links = [Link.of(hca_end(c.node, c.hca), switch_end(c.switch, c.port)) for c in fabric.node_links]
    links += [Link.of(switch_end(s.leaf, s.leaf_port), switch_end(s.spine, s.spine_port))
              for s in fabric.switch_links]
    switches = tuple(s.name for f in spec.fabrics for s in f.switches)
    return Intent(fabric.name, tuple(links), expected_speed(fabric), switches, tuple(n.hostname for n in spec.nodes))


def fabric_named(spec: ClusterSpec, name: str | None) -> list[Fabric]:
    """The fabric called `name`, or every fabric of the spec; ValueError naming the choices for an unknown one."""
    if name is None:
        return list(spec.fabrics)
    found = [f for f in spec.fabrics if f.name == name]
    if not found:
        names = ", ".join(f.name for f in spec.fabrics) or "none"
        raise ValueError(f"no fabric {name!r} in the spec (fabrics: {names})")
    return found
