"""A pack's rules are the modules of its `rules` package, each defining POLICY: adding a rule is adding a file."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from pulumi_policy import Policy


def rule_policies(package: str, path: Iterable[str]) -> list[Policy]:
    """POLICY of every module in `package` (a rules package's `__name__`, `__path__`), in module-name order."""
    names = sorted(m.name for m in pkgutil.iter_modules(list(path)) if not m.name.startswith("_"))
    return [importlib.import_module(f"{package}.{name}").POLICY for name in names]
