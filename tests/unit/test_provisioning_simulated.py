"""Simulated tasks (`simulated: …` from a lab stand-in) are counted as simulated, not ok, per host and in the
rollout summary; a host with simulated tasks is reported `simulated`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from components.host import host_views
from components.provisioning.rollout import HostOutcome, RolloutReport, roll_out
from components.provisioning.runner import HostResult, RunResult, TaskEvent, _on_runner_event, _result
from components.provisioning.target import host_targets
from components.spec import load_stack_spec


def _event(host: str, task: str, kind: str = "runner_on_ok", **res: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": host, "task": task, "res": res}}


@dataclass
class _Runner:
    """What run_playbook reads of ansible-runner's result: the play recap and the exit status."""

    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    rc: int = 0
    status: str = "successful"


def _run(events_in: list[dict[str, Any]], stats: dict[str, dict[str, int]], hosts: list[str]) -> RunResult:
    events: list[TaskEvent] = []
    failures: dict[str, tuple[str, str, str]] = {}
    for event in events_in:
        _on_runner_event(event, events, failures, None)
    targets = [SimpleNamespace(hostname=h) for h in hosts]  # all _result reads of a target
    counted = {h: sum(1 for e in events if e.host == h and e.simulated) for h in hosts}
    return _result("site.yml", _Runner(stats), targets, failures, counted)  # type: ignore[arg-type]


def test_a_simulated_task_is_counted_simulated_not_ok() -> None:
    events: list[TaskEvent] = []
    _on_runner_event(_event("h", "Report chronyd as simulated", msg="simulated: chronyd needs CAP_SYS_TIME"),
                     events, {}, None)
    _on_runner_event(_event("h", "Install chrony", changed=True), events, {}, None)
    _on_runner_event(_event("h", "Check a file", msg="all good"), events, {}, None)
    assert [e.simulated for e in events] == [True, False, False]
    assert events[0].outcome == "ok" and events[1].outcome == "changed"


def test_host_results_count_simulated_tasks_apart_and_report_the_host_simulated() -> None:
    result = _run([_event("lab", "Report chronyd as simulated", msg="simulated: chronyd needs CAP_SYS_TIME"),
                   _event("lab", "Report auditd as simulated", msg="simulated: auditd needs CAP_AUDIT_CONTROL"),
                   _event("lab", "Install chrony", changed=True), _event("real", "Install chrony", changed=True)],
                  {"ok": {"lab": 5, "real": 3}, "changed": {"lab": 1, "real": 1}, "processed": {"lab": 1, "real": 1}},
                  ["lab", "real"])
    lab, real = result.hosts["lab"], result.hosts["real"]
    assert (lab.ok, lab.changed, lab.simulated, lab.status, lab.result) == (3, 1, 2, "changed", "simulated")
    assert lab.succeeded
    assert lab.describe() == "lab: simulated (ok=3 changed=1 simulated=2)"
    assert (real.ok, real.simulated, real.result) == (3, 0, "changed")
    assert real.describe() == "real: changed (ok=3 changed=1 simulated=0)"


def test_a_failed_host_is_failed_whatever_it_simulated() -> None:
    result = _run([_event("lab", "Report chronyd as simulated", msg="simulated: chronyd needs CAP_SYS_TIME"),
                   _event("lab", "Harden sshd", kind="runner_on_failed", msg="sshd -t failed")],
                  {"ok": {"lab": 1}, "failures": {"lab": 1}, "processed": {"lab": 1}}, ["lab"])
    host = result.hosts["lab"]
    assert (host.status, host.result, host.simulated, host.failed_task) == ("failed", "failed", 1, "Harden sshd")


def test_the_rollout_summary_has_a_simulated_column_and_count() -> None:
    report = RolloutReport([HostOutcome("lab-dgx-01", 1, "changed", 30, 4, simulated=6),
                            HostOutcome("su1-dgx-01", 1, "ok", 36, 0),
                            HostOutcome("lab-dgx-02", 2, "skipped", detail="inputs unchanged")])
    lines = report.summary().splitlines()
    assert lines[0].split() == ["host", "wave", "result", "ok", "changed", "simulated", "detail"]
    assert lines[1].split() == ["lab-dgx-01", "1", "simulated", "30", "4", "6"]
    assert lines[2].split() == ["su1-dgx-01", "1", "ok", "36", "0", "0"]
    assert lines[-1] == "1 simulated, 1 ok, 1 skipped"


def test_roll_out_carries_the_simulated_count_into_the_report(tmp_path: Path, monkeypatch) -> None:
    pins = tmp_path / "known_hosts"
    pins.write_text("".join(f"10.199.77.1{n} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL{n}\n" for n in range(1, 5)))
    targets = host_targets(host_views(load_stack_spec("lab")[1].spec), pins)[:2]
    lines: list[str] = []

    def site(to_run, on_event=None, **_kwargs):
        on_event(TaskEvent("lab-dgx-01", "base : Report chronyd as simulated", "ok",
                           "simulated: chronyd needs CAP_SYS_TIME"))
        on_event(TaskEvent("lab-dgx-02", "base : Install chrony", "changed"))
        return RunResult("site.yml", 0, {"lab-dgx-01": HostResult("lab-dgx-01", "ok", ok=10, simulated=1),
                                         "lab-dgx-02": HostResult("lab-dgx-02", "changed", ok=11, changed=1)})

    monkeypatch.setattr("components.provisioning.rollout.run_site", site)
    report = roll_out([targets], tmp_path / "state.json", health_gate=False, progress=lines.append)
    assert [(h.host, h.status, h.result, h.simulated) for h in report.hosts] == [
        ("lab-dgx-01", "ok", "simulated", 1), ("lab-dgx-02", "changed", "changed", 0)]
    assert "  wave 1  lab-dgx-01  base : Report chronyd as simulated  simulated: chronyd needs CAP_SYS_TIME" in lines
    assert "  wave 1  lab-dgx-02  base : Install chrony  changed" in lines
    assert report.summary().splitlines()[-1] == "1 simulated, 1 changed"
