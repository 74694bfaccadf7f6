"""One node as provisioning sees it, and the inventory of a set of them.

A HostTarget is how to reach a node (address, port, user, pinned host key lines), its groups, its vars and its
rendered files. `podforge rollout` and `podforge inventory` take it from the host view (HostTarget.of), the
NodeProvisioning provider from its Pulumi inputs (HostTarget.from_inputs). `inventory()` is the one inventory
assembler: `podforge inventory` prints what it returns and the runner writes it for every run.

As inputs, `vars` and `files` travel as canonical JSON text (sorted keys): the same data, but one string
instead of a few hundred nested values per node, which halves what the SDK serializes for a large
cluster; the Pulumi CLI shows a diff of two JSON strings as a diff of their objects, and `podforge plan
--against` does the same. Inputs recorded before (objects) are still read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.access import connection_vars, host_keys, known_hosts_file
from components.host import HostView, group_members


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
    known_hosts_file: str | None = None
    """The file ssh reads the pin from; None: the pinned lines go to ssh themselves. Not an input of the hash
    or of the resource: where a pin is kept does not change what a node looks like."""

    @classmethod
    def of(cls, view: HostView, pins: tuple[str, ...], known_hosts: Path | None = None) -> HostTarget:
        """The target of a host view with its pinned lines (components.access.host_keys, same `known_hosts`)."""
        login = view.login
        file = known_hosts_file(view, known_hosts)
        return cls(hostname=view.hostname, address=login.address, port=login.port, user=login.user, host_keys=pins,
                   groups=view.groups, vars=view.host_vars(), files=view.files(),
                   known_hosts_file=str(file.absolute()) if file is not None else None)

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


def host_targets(views: Mapping[str, HostView], known_hosts: Path | None = None) -> list[HostTarget]:
    """The targets of `views`, in their order. `known_hosts` replaces the spec's pins (tests, a moved lab)."""
    pins = host_keys(views.values(), known_hosts)
    return [HostTarget.of(view, pins[name], known_hosts) for name, view in views.items()]


def inventory(targets: Iterable[HostTarget], key_file: str | Path | None = None
              ) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """(hostname → every var of the host: connection, domain vars, rendered files; group → members): the inventory
    of `targets`, with `key_file` as the automation key (None: the ssh-agent)."""
    targets = list(targets)
    key = str(key_file) if key_file is not None else None
    hosts = {t.hostname: {**connection_vars(t.address, t.port, t.user, t.host_keys, t.known_hosts_file, key),
                          **t.vars, "podforge_files": t.files} for t in targets}
    return hosts, group_members(targets)


def json_text(value: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, no spaces, non-ASCII kept (the same data always gives the same text)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _mapping(value: str | dict[str, Any]) -> dict[str, Any]:
    decoded = json.loads(value) if isinstance(value, str) else value
    if not isinstance(decoded, dict):
        raise TypeError(f"expected a JSON object, got {type(decoded).__name__}")
    return dict(decoded)
