"""One node as provisioning sees it: how to reach it, which groups it is in, its vars and rendered files.

Both paths build the same HostTarget: `podforge rollout` from the spec (targets_from_spec), the
NodeProvisioning provider from its Pulumi inputs (HostTarget.from_inputs). Everything here is plain
data, so it can travel as Pulumi inputs and be hashed.

As inputs, `vars` and `files` travel as canonical JSON text (sorted keys): the same data, but one string
instead of a few hundred nested values per node, which halves what the SDK serializes for a large
cluster; the Pulumi CLI shows a diff of two JSON strings as a diff of their objects, and `podforge plan
--against` does the same. Inputs recorded before (objects) are still read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.render.inventory import groups, host_vars, known_hosts_lines, rendered_files
from components.spec.cluster import ClusterSpec
from components.spec.loader import PROJECT_ROOT


@dataclass(frozen=True)
class HostTarget:
    hostname: str
    address: str
    port: int
    user: str
    host_keys: tuple[str, ...]  # pinned known_hosts lines for this host; never empty when it is run
    groups: tuple[str, ...]
    vars: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def connection(self) -> dict[str, Any]:
        return {"address": self.address, "port": self.port, "user": self.user, "host_keys": list(self.host_keys)}

    def to_inputs(self) -> dict[str, Any]:
        """Plain data for Pulumi inputs (snake_case keys; the SDK passes them through unchanged)."""
        return {"hostname": self.hostname, "connection": self.connection(), "groups": list(self.groups),
                "vars": json_text(self.vars), "files": json_text(self.files)}

    @classmethod
    def from_inputs(cls, props: dict[str, Any]) -> HostTarget:
        conn = props["connection"]
        return cls(hostname=props["hostname"], address=conn["address"], port=int(conn["port"]), user=conn["user"],
                   host_keys=tuple(conn["host_keys"]), groups=tuple(props["groups"]), vars=_mapping(props["vars"]),
                   files=_mapping(props["files"]))


def json_text(value: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, no spaces, non-ASCII kept (the same data always gives the same text)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _mapping(value: str | dict[str, Any]) -> dict[str, Any]:
    decoded = json.loads(value) if isinstance(value, str) else value
    if not isinstance(decoded, dict):
        raise TypeError(f"expected a JSON object, got {type(decoded).__name__}")
    return dict(decoded)


def targets_from_spec(spec: ClusterSpec, root: Path = PROJECT_ROOT, known_hosts: Path | None = None) -> list[HostTarget]:
    """Every node of the spec, in spec order. `known_hosts` replaces the spec's pin file (tests, a moved lab)."""
    membership = {group: set(members) for group, members in groups(spec).items()}  # sets: a lookup per node and group
    out = []
    for node in spec.nodes:
        out.append(HostTarget(
            hostname=node.hostname, address=str(node.management_address), port=node.ssh.port, user=node.ssh.user,
            host_keys=tuple(known_hosts_lines(node, root, known_hosts)),
            groups=tuple(g for g, members in membership.items() if node.hostname in members),
            vars=host_vars(spec, node), files=rendered_files(spec, node)))
    return out
