"""`podforge plan`: tree text, --json schema 1, --against a one-node change, exit codes."""

from __future__ import annotations

import json

import pytest

from components.cli import main
from components.offline import capture
from tests.unit.plan_roots import example_spec, stack_root

RESOURCE_KEYS = {"urn", "type", "name", "parent", "dependencies", "inputs"}


def test_plan_prints_the_tree_and_counts(capsys) -> None:
    assert main(["plan", "--stack", "lab"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "stack lab: 40 resources (offline preview)"
    assert lines[1] == "pulumi:pulumi:Stack  podforge-lab  (1 children)"
    assert lines[2] == "└─ podforge:cluster:GpuCluster  lab  (11 children)"
    assert "   ├─ podforge:hw:DgxNode  lab-dgx-01  (1 children)" in lines
    assert "   │  └─ pulumi-python:dynamic/podforge:NodeProvisioning  lab-dgx-01-provisioning" in lines
    assert "   ├─ podforge:storage:FlashStorageArray  lab-flash" in lines
    assert "   └─ pulumi-python:dynamic/podforge:RolloutWave  lab-wave-1" in lines  # between the lab's two waves
    assert "   │  ├─ vault:kmip/secretRole:SecretRole  lab-vault-kmip-lab-flash" in lines
    assert "       4  podforge:hw:DgxNode" in lines and "      40  total" in lines
    assert "       1  pulumi-python:dynamic/podforge:RolloutWave" in lines


def test_plan_folds_long_runs_of_siblings(capsys) -> None:
    assert main(["plan", "--stack", "superpod"]) == 0
    out = capsys.readouterr().out
    assert "… 15 more podforge:hw:DgxNode (all in --json)" in out
    assert "su1-dgx-20" in out and "su1-dgx-10" not in out
    assert "      20  podforge:hw:DgxNode" in out


def test_plan_json_is_schema_1(tmp_path, capsys) -> None:
    target = tmp_path / "plan.json"
    assert main(["plan", "--stack", "superpod", "--json", str(target)]) == 0
    plan = json.loads(target.read_text())
    assert set(plan) == {"schema", "stack", "resources", "counts"}
    assert plan["schema"] == 1 and plan["stack"] == "superpod"
    assert all(set(r) == RESOURCE_KEYS for r in plan["resources"])
    assert all(isinstance(r["dependencies"], list) and isinstance(r["inputs"], dict) for r in plan["resources"])
    assert sum(plan["counts"].values()) == len(plan["resources"]) == len({r["urn"] for r in plan["resources"]})
    assert plan["counts"]["podforge:hw:DgxNode"] == 20
    urns = {r["urn"] for r in plan["resources"]}
    assert all(r["parent"] in urns for r in plan["resources"] if r["parent"] is not None)
    # Values only known after creation are marked, never invented.
    role = next(r for r in plan["resources"] if r["type"] == "vault:pkiSecret/secretBackendIntermediateSetSigned:"
                                                           "SecretBackendIntermediateSetSigned")
    assert role["inputs"]["certificate"] == "[unknown]"


def test_plan_json_to_stdout_keeps_the_tree_on_stderr(capsys) -> None:
    assert main(["plan", "--stack", "lab", "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["schema"] == 1
    assert captured.err.startswith("stack lab: 40 resources")


def _one_node_changed(spec: str) -> str:
    changed = spec.replace("management_address: 10.199.77.12", "management_address: 10.199.77.22")
    assert changed != spec
    return changed


def test_against_reports_a_one_node_change_by_urn_and_input(tmp_path, capsys) -> None:
    (tmp_path / "old").mkdir()
    old = tmp_path / "old.json"
    old_root = stack_root(tmp_path / "old", "lab")
    assert main(["--project-dir", str(old_root), "plan", "--stack", "lab", "--json", str(old)]) == 0
    new_root = tmp_path / "new"
    new_root.mkdir()
    stack_root(new_root, "lab", spec_text=_one_node_changed(example_spec("lab")))
    capsys.readouterr()
    new = ["--project-dir", str(new_root), "plan", "--stack", "lab", "--against", str(old)]
    assert main([*new, "--detailed-exitcode"]) == 3
    out = capsys.readouterr().out
    diff = out.split(f"against {old}:", 1)[1].strip().splitlines()
    node = "urn:pulumi:lab::podforge::podforge:cluster:GpuCluster$podforge:hw:DgxNode::lab-dgx-02"
    provisioning = ("urn:pulumi:lab::podforge::podforge:cluster:GpuCluster$podforge:hw:DgxNode"
                    "$pulumi-python:dynamic/podforge:NodeProvisioning::lab-dgx-02-provisioning")
    # The node and the provisioning run it drives change; nothing else does.
    assert sorted(line for line in diff if line.startswith("~ ")) == [f"~ {provisioning}", f"~ {node}"]
    assert "    addresses.management: '10.199.77.12' → '10.199.77.22'" in diff
    assert "    vars.podforge_addresses.management: '10.199.77.12' → '10.199.77.22'" in diff
    # (3 inputs, or 4 when the lab is up: the pinned host key is looked up under the new address too)
    assert any(line.startswith("0 to add, 0 to remove, 2 to change (") for line in diff)
    assert diff[-1].startswith("note: ") and "cannot be seen offline" in diff[-1]
    # Without --detailed-exitcode a change is not an error.
    assert main(new) == 0


def test_against_an_unchanged_plan_exits_zero_with_detailed_exitcode(tmp_path, capsys) -> None:
    old = tmp_path / "old.json"
    assert main(["plan", "--stack", "lab", "--json", str(old)]) == 0
    assert main(["plan", "--stack", "lab", "--against", str(old), "--detailed-exitcode"]) == 0
    assert "no changes" in capsys.readouterr().out


def test_against_shows_added_resources(tmp_path, capsys) -> None:
    lab = tmp_path / "lab.json"
    assert main(["plan", "--stack", "lab", "--json", str(lab)]) == 0
    plan = json.loads(lab.read_text())
    node = next(r for r in plan["resources"] if r["name"] == "lab-dgx-04")
    plan["resources"].remove(node)
    lab.write_text(json.dumps(plan))
    assert main(["plan", "--stack", "lab", "--against", str(lab), "--detailed-exitcode"]) == 3
    assert f"+ {node['urn']}" in capsys.readouterr().out


def test_an_invalid_spec_exits_2_with_one_line_per_problem(tmp_path, capsys) -> None:
    bad = example_spec("lab").replace("management_address: 10.199.77.13", "management_address: 10.199.78.13")
    bad = bad.replace("rated_iops: 500000", "rated_iops: -1")
    stack_root(tmp_path, "lab", spec_text=bad)
    assert main(["--project-dir", str(tmp_path), "plan", "--stack", "lab"]) == 2
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert len(errors) == 2 and captured.out == ""
    assert any("nodes.2.management_address: '10.199.78.13' — expected an address inside" in e for e in errors)
    assert any("storage.arrays.0.rated_iops: -1 — expected" in e for e in errors)
    assert all(e.split(": ", 1)[0].rsplit(":", 1)[1].isdigit() for e in errors)  # FILE:LINE


@pytest.mark.parametrize("argv, message", [
    (["plan", "--stack", "nosuch"], "Pulumi.nosuch.yaml: --stack: 'nosuch' — expected a stack of the project: "
                                    "no Pulumi.nosuch.yaml in "),
    (["plan", "--stack", "lab", "--against", "absent.json"], "absent.json: --against"),
])
def test_bad_input_exits_2_without_a_traceback(argv, message, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_against_a_file_that_is_not_a_plan_exits_2(tmp_path, capsys) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": 7, "resources": []}))
    assert main(["plan", "--stack", "lab", "--against", str(other)]) == 2
    assert "expected a plan written by `podforge plan --json` (schema 1)" in capsys.readouterr().err


def test_a_plan_that_cannot_be_written_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys) -> None:
    target = tmp_path / "missing" / "dir" / "plan.json"
    assert main(["plan", "--stack", "lab", "--json", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"podforge: cannot write {target}: No such file or directory\n"
    assert not (tmp_path / "missing").exists()


def test_plan_and_policy_check_count_the_same_resources(capsys) -> None:
    # Both count every resource of the plan, the stack resource included, as `pulumi preview` does.
    graph = capture("superpod")
    assert main(["plan", "--stack", "superpod"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"stack superpod: {len(graph)} resources (offline preview)"
    assert main(["policy", "check", "--stack", "superpod"]) == 0
    assert f"specs/superpod.yaml, {len(graph)} resources," in capsys.readouterr().out.splitlines()[0]
