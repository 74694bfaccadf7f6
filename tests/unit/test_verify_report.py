"""The verify report: counting per node and in all, exit codes, JSON, and how hosts are matched to nodes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from components.cli import main
from components.commands import verify as verify_command
from components.spec import load_stack_spec
from components.verify import runner
from components.verify.results import CheckResult, NodeReport, Report, Status
from tests.unit.test_verify_checks import UNPROVISIONED, h200_node, provisioned_h200


def _report(*statuses: Status) -> Report:
    node = NodeReport("n1", "local://", "gpu-h200-1",
                      [CheckResult("gpu", f"c{i}", s, f"detail {i}") for i, s in enumerate(statuses)])
    return Report("h200", [node])


def test_counts_every_status_and_only_failed_is_wrong() -> None:
    report = _report(Status.passed, Status.passed, Status.simulated, Status.not_present, Status.not_present)
    assert report.counts == {"passed": 2, "failed": 0, "simulated": 1, "not present": 2}
    assert report.ok
    assert not _report(Status.passed, Status.failed).ok
    assert _report().counts == {"passed": 0, "failed": 0, "simulated": 0, "not present": 0}


def test_text_and_json_report() -> None:
    report = _report(Status.passed, Status.not_present)
    text = report.text()
    assert "node n1 (local://, gpu-h200-1)" in text
    assert "  not present  gpu/c1  detail 1" in text
    assert text.endswith("stack h200: 1 node(s); 1 passed, 0 failed, 0 simulated, 1 not present")
    data = report.as_dict()
    assert data["schema"] == 1 and data["counts"]["not present"] == 1
    assert data["nodes"][0]["results"][0] == {"area": "gpu", "check": "c0", "status": "passed", "detail": "detail 0"}
    assert CheckResult("gpu", "x", Status.simulated, "lab host").reason == "simulated: lab host"


def test_hosts_match_nodes_by_option_name_address_or_the_only_node() -> None:
    _, superpod = load_stack_spec("superpod")
    first = superpod.spec.nodes[0]
    assert runner.match_node(superpod.spec, "paramiko://root@su1-dgx-02:22", None, None).node.hostname == "su1-dgx-02"
    by_address = runner.match_node(superpod.spec, f"paramiko://{first.management_address}", None, None)
    assert by_address.node is first
    assert runner.match_node(superpod.spec, "local://", "x", "su1-dgx-03").node.hostname == "su1-dgx-03"
    with pytest.raises(runner.VerifyTargetError, match="matches no node"):
        runner.match_node(superpod.spec, "local://", "somebox", None)
    _, h200 = load_stack_spec("h200")
    target = runner.match_node(h200.spec, "local://", "somebox", None)
    assert target.node.hostname == "h200-node-01" and "not named in the spec" in (target.note or "")


def test_verify_exits_1_only_on_a_failed_check(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setattr(runner, "open_shell", lambda target, key: provisioned_h200())
    out = tmp_path / "report.json"
    assert main(["verify", "--stack", "h200", "--hosts", "local://", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["counts"] == {"passed": 8, "failed": 0, "simulated": 0, "not present": 8}
    assert "stack h200: 1 node(s); 8 passed, 0 failed, 0 simulated, 8 not present" in capsys.readouterr().out

    monkeypatch.setattr(runner, "open_shell", lambda target, key: h200_node())  # as captured: never provisioned
    assert main(["verify", "--stack", "h200", "--hosts", "local://"]) == 1
    text = capsys.readouterr().out
    assert all(f"failed       {name}" in text for name in UNPROVISIONED), text
    assert "stack h200: 1 node(s); 4 passed, 4 failed, 0 simulated, 8 not present" in text


def test_unreachable_host_is_one_failed_result(monkeypatch) -> None:
    def refuse(target: object, key: object) -> None:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(runner, "open_shell", refuse)
    _, loaded = load_stack_spec("h200")
    report = runner.verify("h200", loaded.spec, ["paramiko://root@h200-node-01"])
    assert [(r.name, r.status) for r in report.nodes[0].results] == [("node/reachable", Status.failed)]


def test_a_host_matching_no_node_is_bad_input(capsys) -> None:
    assert verify_command.main(["--stack", "superpod", "--hosts", "paramiko://root@elsewhere"]) == 2
    assert "matches no node of the spec" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia/version").exists(),
                    reason="this machine has an NVIDIA driver")
def test_verify_on_this_machine_without_a_gpu_exits_1_naming_the_failed_checks(tmp_path: Path, capsys) -> None:
    out = tmp_path / "report.json"
    assert main(["verify", "--stack", "h200", "--hosts", "local://", "--json", str(out)]) == 1
    text = capsys.readouterr().out
    results = {f"{r['area']}/{r['check']}": r for r in json.loads(out.read_text())["nodes"][0]["results"]}
    failed = {name for name, r in results.items() if r["status"] == "failed"}
    assert {"gpu/driver_loaded", "gpu/inventory", "gpu/persistence_mode", "gpu/ecc"} <= failed
    assert results["gpu/driver_loaded"]["detail"].startswith("no NVIDIA kernel module loaded")
    for name in failed:
        assert f"failed       {name}" in text
    assert all(r["detail"].startswith("not required: ") for r in results.values() if r["status"] == "not present")
