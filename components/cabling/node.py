"""One node's view of a fabric check: does each of its HCAs reach the leaf port the spec cables it to.

For `podforge verify` and the rollout's health gate: the same mapping as `compare`, restricted to one host, so
a node check and `podforge fabric check` can never disagree about a cable.

A node knows only its own cables (its host view, or the host vars the health gate runs with), so
`cables_intent` builds the intent of those: the node's HCA → leaf port links, the leaves they end on and the
node itself as the names discovered nodes map back to. Over the node's own HCAs it answers as the fabric-wide
intent does (tests/unit/test_verify_cabling.py checks this on planted faults): an HCA reaches its leaf port or it
does not; only the name of a wrong far end that is on none of the node's leaves is spelled out from the
discovered description instead of the spec name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from components.cabling.compare import map_topology, speed_label
from components.cabling.discovered import Topology
from components.cabling.intent import SPEED_OF_RATE, End, Intent, Link, hca_end, switch_end


@dataclass(frozen=True)
class HcaReach:
    hca: str
    """`HOST DEVICE`."""
    expected: End
    """The leaf port the spec cables the HCA to."""
    found: End | None
    """Where its cable ends in the discovered fabric; None when the HCA is not there or has no cable."""
    speed: str | None
    expected_speed: str | None = None
    """The speed the fabric's rate implies (`4xHDR`); compared only where the discovery reports one too."""

    @property
    def speed_ok(self) -> bool:
        return not (self.speed and self.expected_speed) or self.speed == self.expected_speed

    @property
    def ok(self) -> bool:
        return self.found == self.expected and self.speed_ok

    @property
    def reason(self) -> str:
        """One line: what is right, or what to do."""
        if self.found is None:
            return f"{self.hca}: no link found (expected to {self.expected.label}): cable it, or check its port state"
        if self.found != self.expected:
            return f"{self.hca}: reaches {self.found.label}, expected {self.expected.label}: move its cable"
        if not self.speed_ok:
            assert self.speed is not None and self.expected_speed is not None
            return (f"{self.hca}: reaches {self.expected.label} but up at {speed_label(self.speed)}, expected "
                    f"{speed_label(self.expected_speed)}: reseat or replace the cable")
        speed = f" at {speed_label(self.speed)}" if self.speed else ""
        return f"{self.hca}: reaches {self.expected.label}{speed}"

    def as_dict(self) -> dict[str, Any]:
        return {"hca": self.hca, "ok": self.ok, "reason": self.reason, "expected": self.expected.as_dict(),
                "found": self.found.as_dict() if self.found is not None else None, "speed": self.speed,
                "expected_speed": self.expected_speed}


def node_reach(intent: Intent, topo: Topology, hostname: str) -> list[HcaReach]:
    """For every HCA the spec cables `hostname` with into the intent's fabric, in spec order: where it leads."""
    mapped = map_topology(intent, topo)
    out = []
    for link in intent.links:
        for hca, leaf in ((link.a, link.b), (link.b, link.a)):
            if hca.kind == "hca" and hca.device == hostname:
                found = mapped.peers.get(hca)
                speed = next((s for lk, s in mapped.links.items() if hca in (lk.a, lk.b)), None)
                out.append(HcaReach(hca.name, leaf, found, speed, intent.speed))
    return out


@dataclass(frozen=True)
class Cable:
    """One of a node's HCA cables as its host view or host vars give it."""

    device: str
    switch: str
    port: int
    rate_gbps: int | None = None


def cables_intent(fabric: str, hostname: str, cables: Iterable[Cable]) -> Intent:
    """The intent of one node's own cables (module docstring); the speed is the one the HCAs' rate implies
    (all of them: one fabric, one rate), None where it maps to no InfiniBand speed or the rates differ."""
    cables = list(cables)
    links = tuple(Link.of(hca_end(hostname, c.device), switch_end(c.switch, c.port)) for c in cables)
    speeds = {SPEED_OF_RATE.get(c.rate_gbps) if c.rate_gbps is not None else None for c in cables}
    speed = speeds.pop() if len(speeds) == 1 else None
    return Intent(fabric, links, speed, tuple(dict.fromkeys(c.switch for c in cables)), (hostname,))


def cables_of(hcas: Iterable[Any]) -> list[Cable]:
    """The cabled HCAs of a host view's HcaPorts or of the host vars' HCA dicts (podforge_compute_hcas):
    every one with a leaf switch and port, in their order."""
    out = []
    for hca in hcas:
        get = hca.get if isinstance(hca, dict) else lambda name, h=hca: getattr(h, name, None)
        if get("switch") and get("port"):
            out.append(Cable(str(get("device")), str(get("switch")), int(get("port")), get("rate_gbps")))
    return out
