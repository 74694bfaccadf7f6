"""`podforge plan --against OLD.json`: what a change adds, removes and alters, by URN and input.

Both sides are schema-1 plans. A secret shows as "[secret]" on both sides, so a change of a secret's value
cannot be seen here; the diff says so whenever a secret input is present. An input holding JSON text (a
NodeProvisioning's `vars` and `files`) is compared as the object it encodes, as the Pulumi CLI shows it:
`vars.podforge_versions.dcgm`, not one long string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from components.offline.graph import SECRET, UNKNOWN

MISSING = object()


@dataclass(frozen=True)
class Change:
    urn: str
    path: str
    """Input path, e.g. `addresses.management` or `leafPorts[3].port`."""
    old: Any
    new: Any


@dataclass
class PlanDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    secret_inputs: int = 0
    """Inputs that are secret on either side: their value changes are invisible offline."""

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def render(self) -> str:
        lines = [f"+ {urn}" for urn in self.added] + [f"- {urn}" for urn in self.removed]
        by_urn: dict[str, list[Change]] = {}
        for c in self.changed:
            by_urn.setdefault(c.urn, []).append(c)
        for urn, changes in by_urn.items():
            lines.append(f"~ {urn}")
            lines.extend(f"    {c.path}: {_show(c.old)} → {_show(c.new)}" for c in changes)
        summary = (f"{len(self.added)} to add, {len(self.removed)} to remove, {len(by_urn)} to change "
                   f"({len(self.changed)} inputs)")
        lines.append(summary if self.has_changes else "no changes")
        if self.secret_inputs:
            lines.append(f"note: {self.secret_inputs} secret input(s) show as {SECRET} on both sides; "
                         "a change of a secret's value cannot be seen offline")
        return "\n".join(lines)


def diff_plans(old: dict[str, Any], new: dict[str, Any]) -> PlanDiff:
    olds = {r["urn"]: r for r in old["resources"]}
    news = {r["urn"]: r for r in new["resources"]}
    diff = PlanDiff(added=sorted(news.keys() - olds.keys()), removed=sorted(olds.keys() - news.keys()))
    for urn in sorted(olds.keys() & news.keys()):
        changes: list[Change] = []
        diff.secret_inputs += _walk(urn, "", olds[urn]["inputs"], news[urn]["inputs"], changes)
        if sorted(olds[urn].get("dependencies", [])) != sorted(news[urn].get("dependencies", [])):
            changes.append(Change(urn, "(dependencies)", olds[urn].get("dependencies"), news[urn].get("dependencies")))
        if olds[urn].get("parent") != news[urn].get("parent"):
            changes.append(Change(urn, "(parent)", olds[urn].get("parent"), news[urn].get("parent")))
        diff.changed.extend(changes)
    for urn in diff.added:
        diff.secret_inputs += _count_secrets(news[urn]["inputs"])
    return diff


def _walk(urn: str, path: str, old: Any, new: Any, out: list[Change]) -> int:
    """Append the differences between two input values; return how many secrets were compared blind."""
    if old == SECRET or new == SECRET:
        return 1
    old, new = _decoded(old), _decoded(new)
    if isinstance(old, dict) and isinstance(new, dict):
        secrets = 0
        for key in sorted(old.keys() | new.keys()):
            sub = f"{path}.{key}" if path else key
            if key not in new:
                out.append(Change(urn, sub, old[key], MISSING))
            elif key not in old:
                out.append(Change(urn, sub, MISSING, new[key]))
                secrets += _count_secrets(new[key])
            else:
                secrets += _walk(urn, sub, old[key], new[key], out)
        return secrets
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return sum(_walk(urn, f"{path}[{i}]", o, n, out) for i, (o, n) in enumerate(zip(old, new, strict=True)))
    if old != new:
        out.append(Change(urn, path, old, new))
    return 0


def _decoded(value: Any) -> Any:
    """The object or array a JSON-text input encodes; anything else as it is."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        if isinstance(decoded, (dict, list)):
            return decoded
    return value


def _count_secrets(value: Any) -> int:
    if value == SECRET:
        return 1
    if isinstance(value, dict):
        return sum(_count_secrets(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_secrets(v) for v in value)
    return 0


def _show(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    if value == UNKNOWN or value == SECRET:
        return value
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."
