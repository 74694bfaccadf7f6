"""diff_plans on small hand-made plans: added, removed, changed inputs, and blind secrets."""

from __future__ import annotations

from components.offline import diff_plans


def _plan(*resources: dict) -> dict:
    return {"schema": 1, "stack": "t", "resources": list(resources), "counts": {}}


def _r(urn: str, inputs: dict, deps: list[str] | None = None) -> dict:
    return {"urn": urn, "type": "t:m:T", "name": urn, "parent": None, "dependencies": deps or [], "inputs": inputs}


def test_added_removed_and_changed_by_urn_and_input_path() -> None:
    old = _plan(_r("a", {"x": 1, "l": [1, 2], "m": {"k": "v"}}), _r("gone", {}))
    new = _plan(_r("a", {"x": 2, "l": [1, 3], "m": {"k": "v", "n": True}}), _r("fresh", {}))
    diff = diff_plans(old, new)
    assert diff.added == ["fresh"] and diff.removed == ["gone"]
    assert [(c.path, c.old, c.new) for c in diff.changed if c.path != "m.n"] == [("l[1]", 2, 3), ("x", 1, 2)]
    assert any(c.path == "m.n" and c.new is True for c in diff.changed)
    text = diff.render()
    assert "+ fresh" in text and "- gone" in text and "~ a" in text and "    x: 1 → 2" in text
    assert "m.n: (absent) → True" in text and diff.has_changes


def test_a_secret_is_compared_blind_and_said_so() -> None:
    old = _plan(_r("a", {"key": "[secret]", "x": 1}))
    new = _plan(_r("a", {"key": "[secret]", "x": 1}))
    diff = diff_plans(old, new)
    assert not diff.has_changes and diff.secret_inputs == 1
    assert diff.render().splitlines() == [
        "no changes",
        "note: 1 secret input(s) show as [secret] on both sides; a change of a secret's value cannot be seen offline"]


def test_a_list_that_changes_length_is_one_change_and_dependencies_count() -> None:
    diff = diff_plans(_plan(_r("a", {"l": [1]}, ["b"])), _plan(_r("a", {"l": [1, 2]}, ["b", "c"])))
    assert [(c.path, c.old, c.new) for c in diff.changed] == [("l", [1], [1, 2]), ("(dependencies)", ["b"], ["b", "c"])]


def test_json_text_inputs_are_compared_as_the_objects_they_encode() -> None:
    old = _plan(_r("n", {"vars": '{"podforge_versions":{"dcgm":"1:4.4.1-1","nccl":"2.21.5"}}', "note": "{not json"}))
    new = _plan(_r("n", {"vars": '{"podforge_versions":{"dcgm":"1:4.5.0-1","nccl":"2.21.5"}}', "note": "{not json"}))
    diff = diff_plans(old, new)
    assert [(c.path, c.old, c.new) for c in diff.changed] == [("vars.podforge_versions.dcgm", "1:4.4.1-1", "1:4.5.0-1")]
    # A plan recorded before vars became JSON text compares with one recorded after.
    older = _plan(_r("n", {"vars": {"podforge_versions": {"dcgm": "1:4.4.1-1", "nccl": "2.21.5"}}, "note": "{not json"}))
    assert not diff_plans(older, old).has_changes
