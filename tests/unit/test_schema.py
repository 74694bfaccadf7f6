"""`podforge schema` prints a valid JSON Schema (draft 2020-12) that editors can use on the examples."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from components.cli import main
from tests.unit.plan_roots import CHECKOUT

EXAMPLES = [CHECKOUT / "specs" / "lab.yaml", CHECKOUT / "specs" / "superpod.yaml"]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["schema"]) == 0
    return json.loads(out.getvalue())


def test_schema_is_a_valid_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["required"]) >= {"site", "networks", "nodes", "keys", "software", "access"}


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_schema_accepts_the_examples(schema: dict[str, Any], example: Path) -> None:
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in Draft202012Validator(schema).iter_errors(data)]
    assert errors == []


def test_schema_refuses_an_unknown_key(schema: dict[str, Any]) -> None:
    data = yaml.safe_load(EXAMPLES[0].read_text(encoding="utf-8"))
    data["nodes"][1]["serail"] = data["nodes"][1].pop("serial")
    errors = list(Draft202012Validator(schema).iter_errors(data))
    where = {tuple(e.absolute_path) for e in errors}
    assert ("nodes", 1) in where
    assert any("serail" in e.message for e in errors)


def test_schema_refuses_a_star_action(schema: dict[str, Any]) -> None:
    data = yaml.safe_load(EXAMPLES[0].read_text(encoding="utf-8"))
    data["access"]["roles"]["api_user"]["permissions"][0]["action"] = "inference:*"
    assert not Draft202012Validator(schema).is_valid(data)


def test_a_site_sku_needs_no_name_in_the_schema(schema: dict[str, Any]) -> None:
    """A catalogue entry takes its name from its key, so editors must not ask for `name`."""
    assert "name" not in schema["$defs"]["Sku"].get("required", [])
