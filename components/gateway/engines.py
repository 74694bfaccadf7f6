"""The engine replicas behind the gateway: OpenAI-compatible base URLs, health-checked, with failover.

Every `health_interval_s` each replica's `GET /health` is called (vLLM's OpenAI server answers 200 with an empty
body when its engine is alive and 503 when the engine is dead: vllm/entrypoints/serve/instrumentator/health.py,
docs.vllm.ai API reference `vllm.entrypoints.serve.instrumentator.health`), and its `GET /v1/models`
read for the models it serves. A request goes to the healthy replicas in turn (round robin); a replica that
refuses the connection, times out or answers 5xx before anything was sent to the client is marked down and the
next one is tried; replicas marked down are tried last, so a recovered replica is found without waiting for the
next check.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


class NoEngine(Exception):
    """No replica answered: 503 (none reachable) or 504 (timeouts)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Replica:
    url: str
    healthy: bool = True
    models: list[str] = field(default_factory=list)
    failures: int = 0


@dataclass
class EngineReply:
    status: int
    body: Any
    replica: Replica


class EnginePool:
    def __init__(self, urls: list[str], timeout_s: float, health_interval_s: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.replicas = [Replica(u.rstrip("/")) for u in urls]
        self.timeout = httpx.Timeout(timeout_s, connect=min(5.0, timeout_s))
        self.health_interval_s = health_interval_s
        self._turn = itertools.count()
        self._client = httpx.AsyncClient(timeout=self.timeout, transport=transport,
                                         limits=httpx.Limits(max_connections=None, max_keepalive_connections=64))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.check()
        self._task = asyncio.create_task(self._checker())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    async def _checker(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval_s)
            await self.check()

    async def _check_one(self, replica: Replica) -> None:
        try:
            health = await self._client.get(f"{replica.url}/health", timeout=min(5.0, self.health_interval_s))
            replica.healthy = health.status_code == 200
            if replica.healthy:
                listing = await self._client.get(f"{replica.url}/v1/models", timeout=5.0)
                if listing.status_code == 200:
                    data = listing.json().get("data", [])
                    replica.models = [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
        except (httpx.HTTPError, ValueError, AttributeError):
            replica.healthy = False

    async def check(self) -> None:
        await asyncio.gather(*(self._check_one(r) for r in self.replicas))

    @property
    def healthy(self) -> list[Replica]:
        return [r for r in self.replicas if r.healthy]

    def models(self) -> list[str]:
        return sorted({m for r in self.replicas if r.healthy for m in r.models})

    def order(self) -> list[Replica]:
        """Healthy replicas from the next one in turn, then the ones marked down."""
        healthy = self.healthy
        if healthy:
            start = next(self._turn) % len(healthy)
            healthy = healthy[start:] + healthy[:start]
        return healthy + [r for r in self.replicas if not r.healthy]

    def _down(self, replica: Replica) -> None:
        replica.healthy = False
        replica.failures += 1

    async def _first(self, path: str, body: dict[str, Any], stream: bool) -> tuple[Replica, httpx.Response]:
        """The first replica's response that is not a 5xx or a transport error; each failed replica marked down."""
        timed_out = False
        for replica in self.order():
            request = self._client.build_request("POST", f"{replica.url}{path}", json=body)
            try:
                response = await self._client.send(request, stream=stream)
            except httpx.TimeoutException:
                timed_out = True
                self._down(replica)
                continue
            except httpx.HTTPError:
                self._down(replica)
                continue
            if response.status_code >= 500:
                await response.aclose()
                self._down(replica)
                continue
            replica.healthy = True
            return replica, response
        raise self._none(timed_out)

    async def post(self, path: str, body: dict[str, Any]) -> EngineReply:
        """The first replica's answer that is not a 5xx or a transport error."""
        replica, response = await self._first(path, body, stream=False)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        return EngineReply(response.status_code, payload, replica)

    def _none(self, timed_out: bool) -> NoEngine:
        if not self.replicas:
            return NoEngine(503, "no engine replica is configured")
        if timed_out:
            return NoEngine(504, "no engine replica answered in time")
        return NoEngine(503, "no engine replica is available")

    @contextlib.asynccontextmanager
    async def stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[tuple[int, Replica, httpx.Response]]:
        """The first replica that answers (status and headers); the caller reads its lines. Failover happens only
        before the answer: once lines reach the client, a broken stream is the client's to retry."""
        replica, response = await self._first(path, body, stream=True)
        try:
            yield response.status_code, replica, response
        finally:
            await response.aclose()
