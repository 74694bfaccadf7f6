"""Per-stack policy settings: the project's `policies/config/<stack>.json`, the file
`pulumi preview --policy-pack-config` takes.

The file maps a policy name (or `all`) to an enforcement level (`"advisory"`) or to an object holding
`enforcementLevel` and the policy's properties (`{"enforcementLevel": "advisory", "maxLatencyMs": 50}`).
The same file serves every pack; a name no pack knows is an input error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel

from components import paths
from components.policy.packs import Pack
from components.spec import SpecError
from components.spec.problems import Problem

CONFIG_DIR = Path("policies") / "config"
_LEVELS = {level.value: level for level in EnforcementLevel}


@dataclass(frozen=True)
class PolicySettings:
    enforcement_level: EnforcementLevel | None = None
    properties: dict[str, Any] = field(default_factory=dict)


def config_path(stack: str, root: Path | None = None) -> Path:
    """The stack's policy config in the project `root` (default: the project)."""
    return (root or paths.project_root()) / CONFIG_DIR / f"{stack}.json"


def load_policy_config(stack: str, packs: list[Pack], root: Path | None = None,
                       path: Path | None = None) -> dict[str, PolicySettings]:
    """Policy name → settings (`all` applies to every policy a name does not override). Absent file: {}.

    `path` (a command-line `--config`) replaces the project's file for `stack`."""
    root = root or paths.project_root()
    path = path or config_path(stack, root)
    if not path.is_file():
        return {}
    shown = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise SpecError([Problem(shown, getattr(exc, "lineno", 0), "", path.name, f"valid JSON ({exc})")]) from None
    if not isinstance(data, dict):
        raise SpecError([Problem(shown, 1, "", type(data).__name__, "an object keyed by policy name")])
    known = {p.name for pack in packs for p in pack.policies} | {"all"}
    problems: list[Problem] = []
    settings: dict[str, PolicySettings] = {}
    for name, value in data.items():
        if name not in known:
            problems.append(Problem(shown, 0, name, value, f"a policy name of the packs ({', '.join(sorted(known))})"))
            continue
        if not isinstance(value, str | dict):
            problems.append(Problem(shown, 0, name, value, "an enforcement level or an object"))
            continue
        level, props = (value, {}) if isinstance(value, str) else (
            value.get("enforcementLevel"), {k: v for k, v in value.items() if k != "enforcementLevel"})
        if level is not None and (not isinstance(level, str) or level not in _LEVELS):
            problems.append(Problem(shown, 0, f"{name}.enforcementLevel", level, f"one of {', '.join(_LEVELS)}"))
            continue
        settings[name] = PolicySettings(_LEVELS[level] if level else None, props)
    if problems:
        raise SpecError(problems)
    return settings
