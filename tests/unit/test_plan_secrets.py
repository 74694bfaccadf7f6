"""A secret planted in a stack's config never shows in plain text: not in the tree, the JSON, the diff or logs."""

from __future__ import annotations

import functools
import json

import components.commands.plan as plan_command
from components.cli import main
from components.offline import capture, capture_stack
from tests.unit.plan_roots import stack_root

CIPHERTEXT = "v1:PlantedCiphertextAAAAQmFzZTY0"
PLAINTEXT = "-----BEGIN " "OPENSSH PRIVATE KEY----- planted-automation-key-7f3e"


def _root(tmp_path):
    return stack_root(tmp_path, "superpod", extra_config={"podforge:sshPrivateKey": {"secure": CIPHERTEXT}})


def test_a_secure_config_value_is_registered_as_a_secret_on_every_node(tmp_path) -> None:
    graph = capture("superpod", _root(tmp_path), secrets={"podforge:sshPrivateKey": PLAINTEXT})
    nodes = graph.of_type("pulumi-python:dynamic/podforge:NodeProvisioning")
    assert nodes and all(n.inputs["private_key"] == "[secret]" for n in nodes)
    text = json.dumps(graph.as_json())
    assert PLAINTEXT not in text and "planted-automation-key" not in text and CIPHERTEXT not in text


def test_plan_output_json_and_diff_never_show_the_planted_secret(tmp_path, monkeypatch, capsys, caplog) -> None:
    (tmp_path / "project").mkdir()
    root = _root(tmp_path / "project")
    monkeypatch.setattr(plan_command, "capture_stack",
                        functools.partial(capture_stack, secrets={"podforge:sshPrivateKey": PLAINTEXT}))
    plan = tmp_path / "plan.json"
    project = ["--project-dir", str(root), "plan", "--stack", "superpod"]
    assert main([*project, "--json", str(plan)]) == 0
    assert main([*project, "--json", "-", "--against", str(plan), "--detailed-exitcode"]) == 0
    captured = capsys.readouterr()
    everything = captured.out + captured.err + plan.read_text() + caplog.text
    assert "[secret]" in plan.read_text()
    for leak in (PLAINTEXT, "planted-automation-key", CIPHERTEXT, "PlantedCiphertext"):
        assert leak not in everything
    assert "a change of a secret's value cannot be seen offline" in captured.err


def test_without_a_stand_in_the_program_sees_only_a_placeholder(tmp_path) -> None:
    graph = capture("superpod", _root(tmp_path))
    assert CIPHERTEXT not in json.dumps(graph.as_json())
    assert graph.named("pulumi-python:dynamic/podforge:NodeProvisioning", "su1-dgx-01-provisioning"
                       ).inputs["private_key"] == "[secret]"
