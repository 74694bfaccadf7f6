"""Refuse to reach a lab stack's hosts while the lab is down.

Lab addresses (10.199.77.0/24) exist only on the lab bridge; without it they would route out of this machine,
so commands that connect to a lab stack's nodes (rollout, verify) stop before sending anything.
"""

from __future__ import annotations

from components.spec.cluster import ClusterSpec

LAB_DOWN = "the lab is down (no bridge): run `podforge lab up` first"


def lab_is_down(spec: ClusterSpec) -> bool:
    """True for a lab stack whose bridge does not exist; False for any other stack."""
    if not spec.site.lab:
        return False
    from components.lab.network import link_exists
    from components.lab.topology import BRIDGE

    return not link_exists(BRIDGE)
