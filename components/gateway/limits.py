"""Backpressure: per-role and per-caller concurrency and rate limits, and the bounded queue in front of the
engines. Every refusal carries the seconds after which a retry may succeed (the 429's `Retry-After`).

The engine slots are the gateway's batch: at most `engine_concurrency` requests are in flight to the engines
(which batch them, vLLM's continuous batching); up to `queue_size` more wait, each until its deadline.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from components.spec.access import AccessRole
from components.spec.gateway import GatewayLimits, RateLimit


class Refused(Exception):
    """A request refused for load: 429 with Retry-After."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass
class _Bucket:
    limit: RateLimit
    tokens: float
    stamp: float
    in_flight: int = 0

    def refill(self, now: float) -> None:
        self.tokens = min(float(self.limit.burst), self.tokens + (now - self.stamp) * self.limit.rate_per_s)
        self.stamp = now

    def wait_for_token(self) -> float:
        return (1.0 - self.tokens) / self.limit.rate_per_s


@dataclass
class Lease:
    """Held while a request runs; release() gives its concurrency back (once)."""

    buckets: list[_Bucket] = field(default_factory=list)

    def release(self) -> None:
        for bucket in self.buckets:
            bucket.in_flight -= 1
        self.buckets = []


class Limiter:
    """Token buckets and in-flight counts, one per role and one per caller (key id or token subject).

    Single-threaded (the event loop); idle callers' buckets are dropped once full again, so a flood of subjects
    does not grow the table without bound."""

    MAX_CALLERS = 100_000

    def __init__(self, limits: GatewayLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._roles: dict[str, _Bucket] = {}
        self._callers: dict[str, _Bucket] = {}

    def _bucket(self, table: dict[str, _Bucket], key: str, limit: RateLimit, now: float) -> _Bucket:
        bucket = table.get(key)
        if bucket is None:
            if len(table) >= self.MAX_CALLERS:
                self._prune(table, now)
            bucket = table[key] = _Bucket(limit, float(limit.burst), now)
        bucket.refill(now)
        return bucket

    @staticmethod
    def _prune(table: dict[str, _Bucket], now: float) -> None:
        for key in [k for k, b in table.items() if b.in_flight == 0]:
            b = table[key]
            b.refill(now)
            if b.tokens >= b.limit.burst:
                del table[key]

    def role_limit(self, role: str) -> RateLimit:
        return self.limits.per_role.get(AccessRole(role), self.limits.role_default) if role in AccessRole.__members__ \
            else self.limits.role_default

    def admit(self, caller: str, roles: list[str]) -> Lease:
        """Take one request's share of every limit, or raise Refused taking nothing."""
        now = self.clock()
        buckets = [(f"caller {caller}", self._bucket(self._callers, caller, self.limits.per_key, now))]
        buckets += [(f"role {r}", self._bucket(self._roles, r, self.role_limit(r), now)) for r in roles]
        for what, bucket in buckets:
            if bucket.in_flight >= bucket.limit.concurrency:
                raise Refused(f"concurrency limit of the {what}", 1)
        for what, bucket in buckets:
            if bucket.tokens < 1.0:
                raise Refused(f"rate limit of the {what}", bucket.wait_for_token())
        for _, bucket in buckets:
            bucket.tokens -= 1.0
            bucket.in_flight += 1
        return Lease([b for _, b in buckets])


class EngineSlots:
    """At most `engine_concurrency` requests at the engines; at most `queue_size` waiting, each until its
    deadline. Full queue or missed deadline: Refused."""

    def __init__(self, limits: GatewayLimits) -> None:
        self.limits = limits
        self._free = limits.engine_concurrency
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def in_flight(self) -> int:
        return self.limits.engine_concurrency - self._free

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        if len(self._waiters) >= self.limits.queue_size:
            raise Refused("the queue is full", self.limits.queue_timeout_s)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.limits.queue_timeout_s)
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return  # granted at the deadline: keep the slot
            waiter.cancel()
            raise Refused("the queue's deadline passed", self.limits.queue_timeout_s) from None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()
            else:
                waiter.cancel()
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
