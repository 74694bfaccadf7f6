"""The whole cluster spec: one YAML file under specs/ parses into one ClusterSpec."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from components.spec.access import Access
from components.spec.base import SpecModel
from components.spec.catalogue_models import Sku
from components.spec.fabric import Fabric, FabricPurpose
from components.spec.gateway import Gateway
from components.spec.keys import Keys
from components.spec.nodes import Node, NodeRole
from components.spec.operations import DrSite, Retention, Rollout, Serving
from components.spec.site import Networks, Site
from components.spec.software import Software
from components.spec.storage import Storage


def _named_entries(entries: Any) -> Any:
    """A site's catalogue entry takes its name from its key, so the name is written once."""
    if not isinstance(entries, dict):
        return entries
    return {key: {"name": key, **value} if isinstance(value, dict) else value for key, value in entries.items()}


class ClusterSpec(SpecModel):
    """A bare-metal GPU cluster, described once; everything podforge does is rendered from it."""

    site: Site
    networks: Networks
    catalogue: Annotated[dict[str, Sku], BeforeValidator(_named_entries)] = Field(
        default_factory=dict, description="Site-specific SKUs, keyed by SKU name (the built-in catalogue is "
                                          "always available).")
    nodes: list[Node] = Field(min_length=1)
    fabrics: list[Fabric] = Field(default_factory=list)
    storage: Storage = Field(default_factory=Storage)
    keys: Keys
    software: Software
    access: Access
    rollout: Rollout = Field(default_factory=Rollout)
    dr_site: DrSite | None = None
    retention: Retention = Field(default_factory=Retention)
    serving: Serving | None = None
    gateway: Gateway = Field(default_factory=Gateway, description="The inference gateway in front of the engine.")

    # Derived views, so components and renderers never re-derive the same facts.
    def sku_of(self, node: Node) -> Sku:
        from components.spec.catalogue import builtin_catalogue

        return {**builtin_catalogue(), **self.catalogue}[node.sku]

    def node(self, hostname: str) -> Node:
        return next(n for n in self.nodes if n.hostname == hostname)

    def nodes_with(self, role: NodeRole) -> list[Node]:
        return [n for n in self.nodes if role in n.roles]

    def compute_fabric(self) -> Fabric | None:
        return next((f for f in self.fabrics if f.purpose is FabricPurpose.compute), None)

    def waves(self) -> list[list[Node]]:
        """Nodes in rollout order, cut into waves of at most min(wave_size, max_unavailable)."""
        size = min(self.rollout.wave_size, self.rollout.max_unavailable)
        return [self.nodes[i:i + size] for i in range(0, len(self.nodes), size)]
