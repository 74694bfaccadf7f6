"""One node as provisioning sees it: how to reach it, which groups it is in, its vars and rendered files.

Both paths build the same HostTarget: `podforge rollout` from the spec (targets_from_spec), the
NodeProvisioning provider from its Pulumi inputs (HostTarget.from_inputs). Everything here is plain
data, so it can travel as Pulumi inputs and be hashed.
"""

from __future__ import annotations

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
                "vars": self.vars, "files": self.files}

    @classmethod
    def from_inputs(cls, props: dict[str, Any]) -> HostTarget:
        conn = props["connection"]
        return cls(hostname=props["hostname"], address=conn["address"], port=int(conn["port"]), user=conn["user"],
                   host_keys=tuple(conn["host_keys"]), groups=tuple(props["groups"]), vars=dict(props["vars"]),
                   files=dict(props["files"]))


def targets_from_spec(spec: ClusterSpec, root: Path = PROJECT_ROOT, known_hosts: Path | None = None) -> list[HostTarget]:
    """Every node of the spec, in spec order. `known_hosts` replaces the spec's pin file (tests, a moved lab)."""
    membership = groups(spec)
    out = []
    for node in spec.nodes:
        out.append(HostTarget(
            hostname=node.hostname, address=str(node.management_address), port=node.ssh.port, user=node.ssh.user,
            host_keys=tuple(known_hosts_lines(node, root, known_hosts)),
            groups=tuple(g for g, members in membership.items() if node.hostname in members),
            vars=host_vars(spec, node), files=rendered_files(spec, node)))
    return out
