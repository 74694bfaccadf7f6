"""docs/spec.md stays true: it names every field of the spec, and its site-SKU example validates."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from components.spec import load_spec
from components.spec.cluster import ClusterSpec
from tests.unit.plan_roots import CHECKOUT

DOC = CHECKOUT / "docs" / "spec.md"


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    if model not in seen:
        seen.add(model)
        for info in model.model_fields.values():
            for arg in (info.annotation, *typing.get_args(info.annotation)):
                for inner in (arg, *typing.get_args(arg)):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        _models(inner, seen)
    return seen


def _mentioned(field: str, text: str) -> bool:
    """`field`, `section.field` or `field[]` (a list) appears in the text."""
    return any(form in text for form in (f"`{field}`", f".{field}`", f"`{field}[]`"))


def test_every_field_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(f"{model.__name__}.{name}" for model in _models(ClusterSpec, set())
                     for name in model.model_fields if not _mentioned(name, text))
    assert missing == []


def test_the_documented_site_sku_works(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(catalogue:\n.*?)```", text, re.DOTALL)
    assert example is not None
    spec = (CHECKOUT / "specs" / "lab.yaml").read_text(encoding="utf-8")
    spec = spec.replace("nodes:\n", example.group(1) + "\nnodes:\n", 1)
    path = tmp_path / "lab.yaml"
    path.write_text(spec, encoding="utf-8")
    loaded = load_spec(path).spec
    assert loaded.catalogue["hgx-a100-4"].name == "hgx-a100-4"
    assert [h.rail for h in loaded.catalogue["hgx-a100-4"].compute_hcas] == [0, 1, 2, 3]
