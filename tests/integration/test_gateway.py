"""The gateway and two stand-in engine replicas as real processes (`podforge gateway serve`, `podforge engine
standin`) on 127.0.0.1 ports: a plain and a streamed chat completion end to end, desensitized; failover when
one replica is killed; the stand-in's vLLM metrics; a header flood refused by the real server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.servers import LOOPBACK, free_port
from tests.support.cli_process import start_cli, stop, wait_healthy
from tests.unit.plan_roots import CHECKOUT

pytestmark = pytest.mark.servers
MODEL = "deepseek-ai/DeepSeek-R1"
PHONE = "13812345678"


class Stack:
    def __init__(self, gateway: str, engines: list[tuple[str, subprocess.Popen]], key: str, audit: Path) -> None:
        self.gateway, self.engines, self.key, self.audit = gateway, engines, key, audit

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def chat(self, content: str, **extra) -> httpx.Response:
        return httpx.post(f"{self.gateway}/v1/chat/completions", headers=self.headers, timeout=30.0,
                          json={"model": MODEL, "messages": [{"role": "user", "content": content}], **extra})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One gateway and two replicas for the module; the tests that kill replicas come last."""
    tmp_path = tmp_path_factory.mktemp("gateway")
    procs: list[subprocess.Popen] = []
    try:
        engines = []
        for n in range(2):
            url = f"http://{LOOPBACK}:{free_port()}"
            log = tmp_path / f"engine-{n}.log"
            proc = start_cli(["engine", "standin", "--listen", url.removeprefix("http://")], log)
            procs.append(proc)
            engines.append((url, proc, log))
        for url, proc, log in engines:
            wait_healthy(url, proc, log)
        store, audit = tmp_path / "keys.json", tmp_path / "audit" / "gateway.jsonl"
        issued = subprocess.run([sys.executable, "-m", "components.cli", "gateway", "key", "--stack", "lab", "--role",
                                 "api_user", "--name", "integration", "--key-store", str(store)],
                                cwd=CHECKOUT, capture_output=True, text=True, timeout=60, check=True)
        gateway = f"http://{LOOPBACK}:{free_port()}"
        log = tmp_path / "gateway.log"
        args = ["gateway", "serve", "--stack", "lab", "--listen", gateway.removeprefix("http://"),
                "--key-store", str(store), "--audit-log", str(audit)]
        for url, _, _ in engines:
            args += ["--engine", url]
        proc = start_cli(args, log)
        procs.append(proc)
        wait_healthy(gateway, proc, log)
        yield Stack(gateway, [(u, p) for u, p, _ in engines], issued.stdout.strip(), audit)
    finally:
        for proc in procs:
            stop(proc)


def test_a_chat_completion_end_to_end(stack: Stack) -> None:
    response = stack.chat(f"call me at {PHONE}")
    assert response.status_code == 200
    content = response.json()["choices"][0]["message"]["content"]
    assert content == "call me at [mobile]"  # what reached the stand-in engine, echoed back
    assert response.json()["system_fingerprint"] == "podforge-standin"


def test_a_streamed_chat_completion_end_to_end(stack: Stack) -> None:
    with httpx.stream("POST", f"{stack.gateway}/v1/chat/completions", headers=stack.headers, timeout=30.0,
                      json={"model": MODEL, "stream": True,
                            "messages": [{"role": "user", "content": f"电话 {PHONE}，谢谢"}]}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    content = "".join(c["delta"].get("content") or "" for d in data[:-1] for c in json.loads(d)["choices"])
    assert content == "电话 [mobile]，谢谢"


def test_the_stand_in_serves_vllm_metrics(stack: Stack) -> None:
    stack.chat("count these words")
    texts = [httpx.get(f"{url}/metrics", timeout=5.0).text for url, _ in stack.engines]
    assert all("vllm:num_requests_waiting{" in t and "vllm:kv_cache_usage_perc{" in t for t in texts)
    assert any('vllm:request_success_total{engine="0",model_name="deepseek-ai/DeepSeek-R1",finished_reason="stop"} 1'
               in t for t in texts)


def test_the_real_server_refuses_a_header_flood_and_keeps_serving(stack: Stack) -> None:
    flood = {f"X-Flood-{i}": "v" * 100 for i in range(300)}
    response = httpx.get(f"{stack.gateway}/health", headers=flood, timeout=10.0)
    assert 400 <= response.status_code < 500
    assert stack.chat("still here").status_code == 200


def test_the_audit_log_holds_the_calls_and_no_personal_data(stack: Stack) -> None:
    stack.chat(f"my phone is {PHONE}")
    httpx.post(f"{stack.gateway}/v1/chat/completions", json={"model": MODEL, "messages": []}, timeout=10.0)
    files = sorted(stack.audit.parent.glob("gateway-*.jsonl"))
    records = [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]
    assert [(r["status"], r["decision"]) for r in records][-2:] == [(200, "allow"), (401, "deny")]
    assert PHONE not in "".join(f.read_text() for f in files)


def test_failover_when_a_replica_is_killed(stack: Stack) -> None:
    assert stack.chat("before").status_code == 200
    assert stack.engines[0][1].poll() is None and stack.engines[1][1].poll() is None
    _, killed = stack.engines[0]
    stop(killed)
    statuses = [stack.chat(f"after {n}").status_code for n in range(6)]
    statuses += [stack.chat("streamed", stream=True).status_code for _ in range(2)]
    assert statuses == [200] * 8
    health = httpx.get(f"{stack.gateway}/health", timeout=5.0).json()
    assert health["engines"] == 2 and health["engines_healthy"] == 1


def test_every_replica_gone_is_a_503(stack: Stack) -> None:
    for _, proc in stack.engines:
        stop(proc)
    response = stack.chat("anyone?")
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "engine_unavailable"
