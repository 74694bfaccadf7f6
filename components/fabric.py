"""InfiniBandFabric: one fabric of the spec (compute or storage) as desired state.

Switches have no provider package: the component declares the fabric's switches, leaf-to-spine uplinks,
subnet managers (OpenSM hosts and priorities) and partitions. The subnet manager and partition config
files are rendered from the same spec (templates/) and installed by the subnet-manager role; a later step
attaches those actions here. Node cables are declared on each DgxNode (its leaf ports), not repeated here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.desired import known
from components.spec.fabric import Fabric

TYPE = "podforge:fabric:InfiniBandFabric"


@dataclass(frozen=True)
class InfiniBandFabricArgs:
    fabric: Fabric

    @classmethod
    def from_spec(cls, fabric: Fabric) -> InfiniBandFabricArgs:
        return cls(fabric)

    @property
    def partitions(self) -> list[dict[str, Any]]:
        return [{"name": p.name, "pkey": f"{p.pkey:#06x}", "ipoib": p.ipoib, "members": p.members,
                 "membership": p.membership} for p in self.fabric.partitions]

    @property
    def subnet_managers(self) -> list[dict[str, Any]]:
        """Highest priority first: the first is the intended master."""
        return [{"host": sm.host, "priority": sm.priority}
                for sm in sorted(self.fabric.subnet_managers, key=lambda sm: -sm.priority)]

    def desired_state(self) -> dict[str, Any]:
        f = self.fabric
        state: dict[str, Any] = {
            "name": f.name, "purpose": f.purpose.value, "transport": f.transport, "rateGbps": f.rate_gbps,
            "mtu": f.mtu, "routingEngine": f.routing_engine, "lmc": f.lmc,
            "switches": [{"name": s.name, "tier": s.tier.value, "model": s.model, "ports": s.ports, "rails": list(s.rails)}
                         | ({"managementAddress": s.management_address} if s.management_address else {})
                         for s in f.switches],
            "uplinks": [{"leaf": u.leaf, "leafPort": u.leaf_port, "spine": u.spine, "spinePort": u.spine_port}
                        for u in f.switch_links],
            "nodeCables": len(f.node_links),
            "subnetManagers": self.subnet_managers,
            "partitions": self.partitions,
        }
        if f.roce_gid_index is not None:
            state["roceGidIndex"] = f.roce_gid_index
        return state


class InfiniBandFabric(pulumi.ComponentResource):
    """A fabric; its name is the spec's fabric name."""

    partitions: pulumi.Output[list]
    subnet_managers: pulumi.Output[list]

    def __init__(self, name: str, args: InfiniBandFabricArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        state = args.desired_state()
        super().__init__(TYPE, name, state, opts)
        self.args = args
        self.partitions = known(state["partitions"])
        self.subnet_managers = known(state["subnetManagers"])
        self.register_outputs({"partitions": self.partitions, "subnetManagers": self.subnet_managers})
