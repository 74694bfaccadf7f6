"""The policy packs podforge ships, loaded by importing their rules (the packs' `__main__` is never run here)."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

from pulumi_policy import Policy

from components.spec.loader import PROJECT_ROOT

PACKS = {"mlps-level3": "mlps_level3", "gpu-baseline": "gpu_baseline"}
"""Pack name → directory under policies/ (CONVENTIONS.md)."""


@dataclass(frozen=True)
class Pack:
    name: str
    directory: str
    description: str
    policies: tuple[Policy, ...]


def load_packs(names: list[str] | None = None) -> list[Pack]:
    """The named packs (all when None), their policies in declaration order. Unknown names raise KeyError."""
    # `policies` lives at the project root, next to `components`; a console script does not have it on its path.
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.append(str(PROJECT_ROOT))
    packs = []
    for name in names or list(PACKS):
        directory = PACKS[name]
        rules = importlib.import_module(f"policies.{directory}.rules")
        packs.append(Pack(rules.PACK, directory, rules.DESCRIPTION, tuple(rules.POLICIES)))
    return packs
