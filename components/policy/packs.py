"""The policy packs podforge ships, loaded by importing their rules (the packs' `__main__` is never run here)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from pulumi_policy import Policy

PACKS = {"mlps-level3": "mlps_level3", "gpu-baseline": "gpu_baseline"}
"""Pack name → its package under `policies` (docs/conventions.md), installed beside `components`."""


@dataclass(frozen=True)
class Pack:
    name: str
    directory: str
    description: str
    policies: tuple[Policy, ...]


def load_packs(names: list[str] | None = None) -> list[Pack]:
    """The named packs (all when None), their policies in declaration order. Unknown names raise KeyError."""
    packs = []
    for name in names or list(PACKS):
        directory = PACKS[name]
        rules = importlib.import_module(f"policies.{directory}.rules")
        packs.append(Pack(rules.PACK, directory, rules.DESCRIPTION, tuple(rules.POLICIES)))
    return packs
