"""`podforge release status|observe|promote|rollback`: the state file, the refusals and the exit codes.

Prometheus is a stand-in here: a local HTTP server answering the Prometheus HTTP API's /api/v1/query with
fixed results, so `observe` runs its real queries over real HTTP against a labelled fake.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from components import release as m
from components.cli import main
from components.spec.release import Release
from tests.unit.plan_roots import example_spec, stack_root

RELEASE = """serving:
  release:
    active: {name: r1, image: vllm/vllm-openai:v0.11.0}
    candidate: {name: r2, image: vllm/vllm-openai:v0.11.1}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    text = example_spec("superpod").replace("\nserving:\n", "\n" + RELEASE, 1)
    return stack_root(tmp_path, "superpod", spec_text=text)


def _run(project: Path, *args: str) -> int:
    return main(["--project-dir", str(project), "release", *args])


def _state_file(project: Path) -> Path:
    return project / "state" / "superpod.release.json"


class StandInPrometheus(BaseHTTPRequestHandler):
    """Stand-in for Prometheus's /api/v1/query: answers each observation query from `answers` by its metric."""

    answers: ClassVar[dict[str, str | None]] = {}
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)["query"][0]
        type(self).seen.append(query)
        key = next(k for k in ("kube_pod_status_ready", "time_to_first_token", "e2e_request") if k in query)
        value = self.answers.get(key)
        result = [] if value is None else [{"metric": {}, "value": [time.time(), value]}]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInPrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    StandInPrometheus.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_status_starts_with_the_active_release_and_writes_nothing(project: Path, capsys) -> None:
    assert _run(project, "status", "--stack", "superpod") == 0
    out = capsys.readouterr().out
    assert "serving: r1" in out and "never observed" in out
    assert not _state_file(project).exists()


def test_status_json_reports_the_soak(project: Path, capsys) -> None:
    assert _run(project, "status", "--stack", "superpod", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["serving"] == "r1" and data["candidate"] == "r2" and data["promotable"] is False
    assert data["soak_seconds"] == 86400


def test_promote_without_observations_is_refused_with_exit_1(project: Path, capsys) -> None:
    assert _run(project, "promote", "--stack", "superpod") == 1
    assert "refused: candidate r2 never observed" in capsys.readouterr().err
    assert not _state_file(project).exists()


def test_rollback_with_nothing_before_is_refused(project: Path, capsys) -> None:
    assert _run(project, "rollback", "--stack", "superpod") == 1
    assert "nothing to roll back" in capsys.readouterr().err


def test_a_spec_without_release_is_invalid_input(tmp_path: Path, capsys) -> None:
    root = stack_root(tmp_path, "superpod")
    assert main(["--project-dir", str(root), "release", "status", "--stack", "superpod"]) == 2
    assert "declares no serving.release" in capsys.readouterr().err


def test_an_unreadable_state_file_is_invalid_input(project: Path, capsys) -> None:
    _state_file(project).parent.mkdir()
    _state_file(project).write_text("{not json")
    assert _run(project, "promote", "--stack", "superpod") == 2
    assert "unreadable release state" in capsys.readouterr().err


def test_observe_records_what_prometheus_says(project: Path, prometheus: str, capsys) -> None:
    StandInPrometheus.answers = {"kube_pod_status_ready": "1", "time_to_first_token": "0.35", "e2e_request": "14"}
    assert _run(project, "observe", "--stack", "superpod", "--prometheus", prometheus, "--namespace", "serving") == 0
    assert "within SLO" in capsys.readouterr().out
    state = m.ReleaseState.from_json(json.loads(_state_file(project).read_text()))
    assert state.observations[-1].p99_ttft_seconds == 0.35 and state.good_since is not None
    assert any('namespace="serving"' in q and 'podforge_io_release="r2"' in q for q in StandInPrometheus.seen)


def test_observe_outside_the_slo_exits_1_and_records_the_break(project: Path, prometheus: str, capsys) -> None:
    StandInPrometheus.answers = {"kube_pod_status_ready": "0.5", "time_to_first_token": "0.35", "e2e_request": None}
    assert _run(project, "observe", "--stack", "superpod", "--prometheus", prometheus, "--namespace", "serving") == 1
    out = capsys.readouterr().out
    assert "ready 50%" in out and "p99 latency unknown" in out
    state = m.ReleaseState.from_json(json.loads(_state_file(project).read_text()))
    assert state.good_since is None and state.last_problems


def test_observe_dry_run_writes_nothing(project: Path, prometheus: str) -> None:
    StandInPrometheus.answers = {"kube_pod_status_ready": "1", "time_to_first_token": "0.3", "e2e_request": "9"}
    assert _run(project, "observe", "--stack", "superpod", "--prometheus", prometheus, "--namespace", "serving",
                "--dry-run") == 0
    assert not _state_file(project).exists()


def test_observe_with_prometheus_unreachable_records_nothing(project: Path, capsys) -> None:
    assert _run(project, "observe", "--stack", "superpod", "--prometheus", "http://127.0.0.1:9",
                "--namespace", "serving", "--timeout", "2") == 1
    assert "could not be read" in capsys.readouterr().err
    assert not _state_file(project).exists()


def test_observe_refuses_a_url_that_is_not_http(project: Path, capsys) -> None:
    assert _run(project, "observe", "--stack", "superpod", "--prometheus", "prometheus:9090",
                "--namespace", "serving") == 2


def _soaked_state(project: Path) -> None:
    """A state file holding 24.1 hours of good observations up to a minute ago (as `observe` writes it)."""
    spec = Release.model_validate({"active": {"name": "r1", "image": "a"}, "candidate": {"name": "r2", "image": "b"}})
    now = time.time()
    state = m.initial(spec, now - 25 * 3600)
    t = now - 24.1 * 3600
    while t < now - 60:
        state = m.observe(state, spec, m.Observation(t, "r2", 1.0, 0.3, 10.0, "test"))
        t += 300
    _state_file(project).parent.mkdir(exist_ok=True)
    _state_file(project).write_text(json.dumps(state.to_json("superpod")))


def test_promote_dry_run_then_promote_then_rollback(project: Path, capsys) -> None:
    _soaked_state(project)
    before = _state_file(project).read_text()
    assert _run(project, "promote", "--stack", "superpod", "--dry-run") == 0
    assert "would switch traffic r1 → r2" in capsys.readouterr().out
    assert _state_file(project).read_text() == before
    assert _run(project, "promote", "--stack", "superpod") == 0
    out = capsys.readouterr().out
    assert '"podforge.io/release": "r2"' in out and "set release.active to r2" in out
    assert json.loads(_state_file(project).read_text())["serving"] == "r2"
    assert _run(project, "rollback", "--stack", "superpod", "--dry-run") == 0
    assert json.loads(_state_file(project).read_text())["serving"] == "r2"
    assert _run(project, "rollback", "--stack", "superpod") == 0
    data = json.loads(_state_file(project).read_text())
    assert (data["serving"], data["standby"]) == ("r1", "r2")
    assert [e["action"] for e in data["events"]][-2:] == ["promote", "rollback"]
