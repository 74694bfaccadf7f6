"""Backpressure: per-key and per-role rate and concurrency limits, the bounded engine queue and its deadline
(429 with Retry-After), the body size limit (413) and the slow-client timeout (408)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from components.gateway.app import GatewayRuntime, create_app
from components.gateway.auditing import ChainedAudit
from components.gateway.keys import KeyStore
from components.gateway.limits import EngineSlots, Limiter, Refused
from components.gateway.standin_engine import create_standin
from components.spec.gateway import Gateway, GatewayLimits, RateLimit
from tests.unit.test_gateway import MODEL, Engines, rig

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}


def _run(tmp_path: Path, lab, limits: GatewayLimits, delay_s: float,
         scenario: Callable[[httpx.AsyncClient, dict[str, str], ChainedAudit], Awaitable[Any]]) -> Any:
    """Runs `scenario` against the app on one event loop, so requests really overlap."""
    store = KeyStore(tmp_path / "keys.json")
    _, key = store.issue("app", "api_user")
    audit = ChainedAudit(tmp_path / "audit.jsonl")
    runtime = GatewayRuntime(lab.access, Gateway(limits=limits), ["http://engine-a"], store, audit,
                             transport=Engines({"engine-a": create_standin(delay_s=delay_s)}))
    app = create_app(runtime)

    async def main() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            try:
                return await scenario(client, {"Authorization": f"Bearer {key}"}, audit)
            finally:
                await app.state.pool.stop()

    return asyncio.run(main())


def test_the_per_key_rate_limit_is_a_429_with_retry_after(tmp_path: Path, lab) -> None:
    limits = GatewayLimits(per_key=RateLimit(concurrency=8, rate_per_s=0.01, burst=2))

    async def scenario(client, key, audit):
        return [await client.post("/v1/chat/completions", headers=key, json=BODY) for _ in range(3)]

    responses = _run(tmp_path, lab, limits, 0.0, scenario)
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert int(responses[2].headers["retry-after"]) >= 1
    error = responses[2].json()["error"]
    assert error["type"] == "rate_limited"
    assert error["message"].startswith("refused: rate limit of the caller key:")


def test_the_per_role_rate_limit_covers_every_key_of_the_role(tmp_path: Path, lab) -> None:
    limits = GatewayLimits(per_role={"api_user": RateLimit(concurrency=8, rate_per_s=0.01, burst=1)})
    with rig(tmp_path, lab.access, Gateway(limits=limits)) as r:
        assert r.chat(r.key("api_user", "one")).status_code == 200
        refused = r.chat(r.key("api_user", "two"))
        assert refused.status_code == 429
        assert refused.json()["error"]["message"] == "refused: rate limit of the role api_user"
        assert "retry-after" in refused.headers


def test_the_per_key_concurrency_limit_refuses_the_request_over_it(tmp_path: Path, lab) -> None:
    limits = GatewayLimits(per_key=RateLimit(concurrency=1, rate_per_s=100, burst=100))

    async def scenario(client, key, audit):
        return await asyncio.gather(*(client.post("/v1/chat/completions", headers=key, json=BODY) for _ in range(2)))

    statuses = sorted(r.status_code for r in _run(tmp_path, lab, limits, 0.5, scenario))
    assert statuses == [200, 429]


def test_a_full_queue_is_a_429_at_once(tmp_path: Path, lab) -> None:
    limits = GatewayLimits(engine_concurrency=1, queue_size=0)

    async def scenario(client, key, audit):
        return await asyncio.gather(*(client.post("/v1/chat/completions", headers=key, json=BODY) for _ in range(2)))

    responses = _run(tmp_path, lab, limits, 0.5, scenario)
    refused = [r for r in responses if r.status_code == 429]
    assert sorted(r.status_code for r in responses) == [200, 429]
    assert refused[0].json()["error"] == {"type": "overloaded", "message": "refused: the queue is full"}
    assert refused[0].headers["retry-after"] == "10"


def test_a_request_waiting_past_the_queue_deadline_is_a_429(tmp_path: Path, lab) -> None:
    limits = GatewayLimits(engine_concurrency=1, queue_size=4, queue_timeout_s=0.05)

    async def scenario(client, key, audit):
        return await asyncio.gather(*(client.post("/v1/chat/completions", headers=key, json=BODY) for _ in range(2)))

    responses = _run(tmp_path, lab, limits, 1.0, scenario)
    assert sorted(r.status_code for r in responses) == [200, 429]
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["message"] == "refused: the queue's deadline passed"
    assert refused.headers["retry-after"] == "1"


def test_queued_requests_get_their_turn(tmp_path: Path, lab) -> None:
    limits = GatewayLimits(engine_concurrency=1, queue_size=4, queue_timeout_s=30)

    async def scenario(client, key, audit):
        return await asyncio.gather(*(client.post("/v1/chat/completions", headers=key, json=BODY) for _ in range(3)))

    assert [r.status_code for r in _run(tmp_path, lab, limits, 0.05, scenario)] == [200, 200, 200]


def test_a_streamed_call_gives_its_slot_and_share_back(tmp_path: Path, lab) -> None:
    limits = GatewayLimits(engine_concurrency=1, queue_size=0, per_key=RateLimit(concurrency=1, rate_per_s=100, burst=100))
    with rig(tmp_path, lab.access, Gateway(limits=limits)) as r:
        key = r.key("api_user")
        for _ in range(3):
            assert r.chat(key, "hello", stream=True).status_code == 200
        assert r.app.state.slots.in_flight == 0


def test_a_body_over_the_limit_is_a_413(tmp_path: Path, lab) -> None:
    with rig(tmp_path, lab.access, Gateway(limits=GatewayLimits(max_body_bytes=2048))) as r:
        key = r.key("api_user")
        big = r.chat(key, "x" * 4096)
        assert big.status_code == 413
        assert big.json()["error"]["type"] == "body_too_large"

        def chunks():  # no Content-Length: the limit holds while reading
            for _ in range(8):
                yield b"x" * 1024
        streamed = r.client.post("/v1/chat/completions", headers=key, content=chunks())
        assert streamed.status_code == 413
        assert r.engines.sent == []


def test_a_client_that_sends_its_body_too_slowly_gets_a_408(tmp_path: Path, lab) -> None:
    store = KeyStore(tmp_path / "keys.json")
    _, key = store.issue("app", "api_user")
    runtime = GatewayRuntime(lab.access, Gateway(limits=GatewayLimits(client_timeout_s=0.1)), ["http://engine-a"],
                             store, ChainedAudit(tmp_path / "audit.jsonl"), transport=Engines({"engine-a": create_standin()}))
    app = create_app(runtime)
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        parts = [b'{"model": "', b'x"}']

        async def receive() -> dict[str, Any]:
            if parts:
                part = parts.pop(0)
                if not parts:
                    await asyncio.sleep(5)  # the rest of the body never comes in time
                return {"type": "http.request", "body": part, "more_body": bool(parts)}
            await asyncio.sleep(5)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "method": "POST", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
                 "query_string": b"", "root_path": "", "scheme": "http", "server": ("gateway", 80),
                 "headers": [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")]}
        await app(scope, receive, send)
        await app.state.pool.stop()

    asyncio.run(main())
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 408


def test_token_buckets_refill_at_their_rate() -> None:
    now = [0.0]
    limiter = Limiter(GatewayLimits(per_key=RateLimit(concurrency=5, rate_per_s=2, burst=1)), clock=lambda: now[0])
    limiter.admit("key:a", ["api_user"]).release()
    with pytest.raises(Refused) as refused:
        limiter.admit("key:a", ["api_user"])
    assert refused.value.retry_after == 1
    now[0] = 0.5  # one token back at 2 per second
    limiter.admit("key:a", ["api_user"]).release()
    limiter.admit("key:b", ["api_user"]).release()  # another key has its own bucket


def test_a_refusal_takes_nothing() -> None:
    limiter = Limiter(GatewayLimits(per_key=RateLimit(concurrency=1, rate_per_s=100, burst=100),
                                    role_default=RateLimit(concurrency=1, rate_per_s=100, burst=100)))
    lease = limiter.admit("key:a", ["api_user"])
    with pytest.raises(Refused):
        limiter.admit("key:b", ["api_user"])  # the role is full
    lease.release()
    limiter.admit("key:b", ["api_user"])


def test_engine_slots_hand_over_in_order() -> None:
    async def main() -> list[int]:
        slots = EngineSlots(GatewayLimits(engine_concurrency=1, queue_size=2, queue_timeout_s=5))
        order: list[int] = []
        await slots.acquire()

        async def waiter(n: int) -> None:
            await slots.acquire()
            order.append(n)
            slots.release()

        tasks = [asyncio.create_task(waiter(n)) for n in (1, 2)]
        await asyncio.sleep(0)
        with pytest.raises(Refused):
            await slots.acquire()  # two waiting: the queue is full
        slots.release()
        await asyncio.gather(*tasks)
        assert slots.in_flight == 0 and slots.waiting == 0
        return order

    assert asyncio.run(main()) == [1, 2]
