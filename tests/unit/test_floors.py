"""Every module of `components` and `policies` has one floor and imports only from its own floor or a lower one.

The floors are read from the table in docs/architecture.md, the one place they are written. Imports are read
with `ast` from the source, so the check sees every import a module makes: at the top, inside a function,
relative (`from . import x`) and through `importlib.import_module` with a literal name.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARCHITECTURE = REPO / "docs" / "architecture.md"
ROOTS = ("components", "policies")
"""The two top-level packages. In the table each stands for its own `__init__` only; every module below it is
placed by a longer name."""


@dataclass(frozen=True)
class Import:
    line: int
    target: str


def floor_table(text: str) -> dict[str, int]:
    """Name → floor, from the Markdown table whose header starts with `| floor |`; a name listed twice is an error."""
    floors: dict[str, int] = {}
    in_table = False
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        if not cells:
            in_table = False
            continue
        if cells[0].lower() == "floor":
            in_table = True
            continue
        if not in_table or not cells[0].isdigit():
            continue
        for name in re.findall(r"`([a-z_][a-z0-9_.]*)`", cells[1]):
            if name in floors:
                raise ValueError(f"{ARCHITECTURE.name}: {name} is on floor {floors[name]} and on floor {cells[0]}")
            floors[name] = int(cells[0])
    return floors


def floor_of(module: str, floors: dict[str, int]) -> int | None:
    """The floor of the longest table name that is `module` or a package above it (a root only for itself)."""
    covering = [name for name in floors
                if name == module or (module.startswith(name + ".") and name not in ROOTS)]
    return floors[max(covering, key=len)] if covering else None


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_modules() -> dict[str, Path]:
    return {module_name(p): p for root in ROOTS for p in sorted((REPO / root).rglob("*.py"))
            if "__pycache__" not in p.parts}


def _literal_prefix(node: ast.expr) -> str | None:
    """The module a literal `import_module` argument names; for an f-string, the package its literal start names."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value).rpartition(".")[0] or None
    return None


def _is_import_module(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or \
        (isinstance(func, ast.Name) and func.id == "import_module")


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> list[Import]:
    """Every import of a `components.*` or `policies.*` module in `source`, resolved to the module it loads:
    `from P import x` is `P.x` where that is a module in `known`, else `P`."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[:len(parts) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                candidate = f"{prefix}.{alias.name}"
                found.append(Import(node.lineno, candidate if candidate in known else prefix))
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            name = _literal_prefix(node.args[0])
            if name:
                found.append(Import(node.lineno, name))
    return sorted((i for i in found if i.target.split(".")[0] in ROOTS), key=lambda i: i.line)


@pytest.fixture(scope="module")
def floors() -> dict[str, int]:
    return floor_table(ARCHITECTURE.read_text(encoding="utf-8"))


def test_the_architecture_table_names_floors_zero_to_five(floors) -> None:
    assert sorted(set(floors.values())) == list(range(6)), "docs/architecture.md: floors 0 to 5, each with a name"
    assert set(ROOTS) <= set(floors), "the two top-level packages are on a floor (for their own __init__)"


def test_every_module_has_a_floor(floors) -> None:
    unplaced = [f"{path.relative_to(REPO)}: {module} is on no floor of docs/architecture.md"
                for module, path in product_modules().items() if floor_of(module, floors) is None]
    assert not unplaced, "\n".join(unplaced)


def test_no_module_imports_from_a_higher_floor(floors) -> None:
    modules = product_modules()
    known = set(modules)
    upward: list[str] = []
    for module, path in modules.items():
        own = floor_of(module, floors)
        if own is None:
            continue  # reported by test_every_module_has_a_floor
        for imp in imports_of(path.read_text(encoding="utf-8"), module, path.name == "__init__.py", known):
            theirs = floor_of(imp.target, floors)
            if theirs is not None and theirs > own:
                upward.append(f"{path.relative_to(REPO)}:{imp.line}: {module} (floor {own}) imports "
                              f"{imp.target} (floor {theirs})")
    assert not upward, "\n".join(upward)


def test_imports_are_resolved_wherever_they_are_written() -> None:
    source = (
        "import components.spec.loader\n"
        "from components import exitcodes\n"
        "from . import layout\n"
        "from .keys import KeyPair\n"
        "from .. import paths\n"
        "import importlib\n"
        "def later():\n"
        "    from components.cluster import GpuCluster\n"
        "    importlib.import_module(f'components.commands.{name}')\n"
        "    import pulumi\n")
    known = {"components.spec.loader", "components.exitcodes", "components.lab.layout", "components.lab.keys",
             "components.paths", "components.cluster"}
    found = imports_of(source, "components.lab.hall", False, known)
    assert [(i.line, i.target) for i in found] == [
        (1, "components.spec.loader"), (2, "components.exitcodes"), (3, "components.lab.layout"),
        (4, "components.lab.keys"), (5, "components.paths"), (8, "components.cluster"), (9, "components.commands")]


def test_a_module_takes_the_floor_of_the_longest_name_covering_it() -> None:
    floors = {"components": 0, "components.spec": 0, "components.lab": 2, "components.lab.keys": 3}
    assert floor_of("components.lab.keys", floors) == 3
    assert floor_of("components.lab.hall", floors) == 2
    assert floor_of("components.spec.loader", floors) == 0
    assert floor_of("components", floors) == 0
    assert floor_of("components.cluster", floors) is None, "the root covers its own __init__ only"


def test_a_name_on_two_floors_is_refused() -> None:
    with pytest.raises(ValueError, match=r"components\.spec is on floor 0 and on floor 1"):
        floor_table("| floor | names |\n| --- | --- |\n| 0 | `components.spec` |\n| 1 | `components.spec` |\n")
