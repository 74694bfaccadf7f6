"""`podforge policy check`: exit 0 on the examples, 1 with a mandatory violation, 2 on invalid input."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from components.cli import main
from tests.unit.plan_roots import stack_root


@pytest.mark.parametrize("stack", ["lab", "superpod"])
def test_example_stacks_pass(stack, capsys):
    assert main(["policy", "check", "--stack", stack]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"policy check: stack {stack}")
    assert "0 mandatory violation(s)" in out


def test_a_mandatory_violation_exits_1(tmp_path: Path, capsys):
    # The lab has no DR site; its own config keeps that advisory, a stricter config makes it mandatory.
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({"dr-site-latency": "mandatory"}))
    assert main(["policy", "check", "--stack", "lab", "--config", str(strict)]) == 1
    out = capsys.readouterr().out
    assert "FAIL mlps-level3/dr-site-latency [mandatory]" in out
    assert "remedy: declare dr_site" in out


def test_output_file_and_format(tmp_path: Path, capsys):
    target = tmp_path / "policy.xml"
    assert main(["policy", "check", "--stack", "superpod", "--pack", "gpu-baseline", "--format", "junit",
                 "--output", str(target)]) == 0
    root = ET.fromstring(target.read_text())
    assert [s.get("name") for s in root.iter("testsuite")] == ["gpu-baseline"]
    assert "written to" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["policy", "check", "--stack", "no-such-stack"],
    ["policy", "check", "--stack", "lab", "--pack", "no-such-pack"],
    ["policy", "check", "--stack", "lab", "--format", "pdf"],
    ["policy", "check"],
])
def test_invalid_input_exits_2(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_invalid_policy_config_exits_2_with_one_line(tmp_path: Path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"dr-site-latency": "sometimes"}')
    assert main(["policy", "check", "--stack", "lab", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dr-site-latency.enforcementLevel: 'sometimes'" in err[0]


def test_an_output_that_cannot_be_written_exits_2_with_one_line(tmp_path: Path, capsys):
    target = tmp_path / "missing" / "policy.sarif"
    assert main(["policy", "check", "--stack", "lab", "--format", "sarif", "--output", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"podforge: cannot write {target}: No such file or directory\n"
    assert not (tmp_path / "missing").exists()


def test_the_policy_config_is_the_projects(tmp_path: Path, capsys):
    # A project's own policies/config/NAME.json applies to its stack: here it makes the lab's DR rule mandatory.
    project = stack_root(tmp_path, "lab")
    (project / "policies" / "config").mkdir(parents=True)
    (project / "policies" / "config" / "lab.json").write_text(json.dumps({"dr-site-latency": "mandatory"}))
    assert main(["--project-dir", str(project), "policy", "check", "--stack", "lab"]) == 1
    assert "FAIL mlps-level3/dr-site-latency [mandatory]" in capsys.readouterr().out
