"""The captured resource graph: every registration the program made, with inputs as registered.

Secret values are replaced by SECRET and values unknown at preview by UNKNOWN when captured, so a graph
never holds a secret in plain text and can be printed or written as it is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

SECRET = "[secret]"
UNKNOWN = "[unknown]"
PLAN_SCHEMA = 1


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    parent: str | None
    dependencies: tuple[str, ...]
    inputs: dict[str, Any]
    custom: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
                "dependencies": list(self.dependencies), "inputs": self.inputs}


@dataclass
class Graph:
    """What one run of the program declared, in tree order (parents first, siblings by type and name)."""

    stack: str
    resources: list[Resource] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.resources = _tree_order(self.resources)
        self._by_urn = {r.urn: r for r in self.resources}

    def __getitem__(self, urn: str) -> Resource:
        return self._by_urn[urn]

    def __len__(self) -> int:
        return len(self.resources)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, type_: str, name: str) -> Resource:
        return next(r for r in self.resources if r.type == type_ and r.name == name)

    def children(self, urn: str) -> list[Resource]:
        return [r for r in self.resources if r.parent == urn]

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r.type for r in self.resources).items()))

    def as_json(self) -> dict[str, Any]:
        """Schema 1 of `podforge plan --json` (docs/conventions.md)."""
        return {"schema": PLAN_SCHEMA, "stack": self.stack, "resources": [r.as_json() for r in self.resources],
                "counts": self.counts()}


def _tree_order(resources: list[Resource]) -> list[Resource]:
    by_parent: dict[str | None, list[Resource]] = {}
    urns = {r.urn for r in resources}
    for r in resources:
        by_parent.setdefault(r.parent if r.parent in urns else None, []).append(r)
    ordered: list[Resource] = []
    stack = sorted(by_parent.get(None, []), key=_sibling_key, reverse=True)
    while stack:
        r = stack.pop()
        ordered.append(r)
        stack.extend(sorted(by_parent.get(r.urn, []), key=_sibling_key, reverse=True))
    return ordered


def _sibling_key(r: Resource) -> tuple[str, str]:
    return r.type, r.name
