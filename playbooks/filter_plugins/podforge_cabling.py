"""The health gate's cabling filter: a node's `ibnetdiscover` output against the HCA cables of its host vars.

`{{ discovered | podforge_node_reach(podforge_hostname, podforge_compute_hcas) }}` is one entry per cabled HCA,
{hca, ok, reason, expected, found, speed, expected_speed}, from components.cabling.node: the same mapping as
`podforge fabric check` and the `hca/cabling` check of `podforge verify`. It runs on the controller (filters do),
in the Python podforge runs Ansible from. Output that is not ibnetdiscover's is one entry with ok false.
"""

from __future__ import annotations

from typing import Any

from components.cabling.discovered import DiscoveryError, parse_ibnetdiscover
from components.cabling.node import cables_intent, cables_of, node_reach


def podforge_node_reach(discovered: str, hostname: str, hcas: list[dict[str, Any]],
                        fabric: str = "compute") -> list[dict[str, Any]]:
    cables = cables_of(h for h in hcas if h.get("link_layer", "infiniband") == "infiniband")
    try:
        topology = parse_ibnetdiscover(discovered)
    except DiscoveryError as exc:
        return [{"hca": hostname, "ok": False, "reason": f"ibnetdiscover output unreadable at line {exc.line}: {exc}",
                 "expected": None, "found": None, "speed": None, "expected_speed": None}]
    return [r.as_dict() for r in node_reach(cables_intent(fabric, hostname, cables), topology, hostname)]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"podforge_node_reach": podforge_node_reach}
