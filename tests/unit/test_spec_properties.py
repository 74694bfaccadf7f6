"""Generated specs: every valid one validates; one planted mistake is blamed on the right field path."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from components.spec import SpecError, load_spec
from tests.unit.spec_strategies import MUTATIONS, Mutation, valid_specs

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def write(workdir: Path, spec: dict[str, Any]) -> Path:
    path = workdir / "generated.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@SETTINGS
@given(spec=valid_specs())
def test_generated_valid_specs_validate(workdir: Path, spec: dict[str, Any]) -> None:
    path = write(workdir, spec)
    try:
        loaded = load_spec(path)
    except SpecError as exc:
        pytest.fail(f"a valid spec was refused:\n{exc}\n---\n{path.read_text(encoding='utf-8')}")
    assert [n.hostname for n in loaded.spec.nodes] == [n["hostname"] for n in spec["nodes"]]
    assert sum(len(f.node_links) for f in loaded.spec.fabrics) == sum(len(f["node_links"]) for f in spec["fabrics"])


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.__name__ for m in MUTATIONS])
@settings(SETTINGS, max_examples=10)
@given(spec=valid_specs(), data=st.data())
def test_one_mistake_is_blamed_on_its_field(workdir: Path, mutation: Mutation, spec: dict[str, Any],
                                            data: st.DataObject) -> None:
    expected = mutation(spec, data.draw)
    assume(expected is not None)
    path = write(workdir, spec)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    problems = caught.value.problems
    assert expected in {p.path for p in problems}, f"{mutation.__name__}: expected {expected}, got:\n{caught.value}"
    lines = len(path.read_text(encoding="utf-8").splitlines())
    for problem in problems:
        assert problem.file == str(path)
        assert 1 <= problem.line <= lines, str(problem)
