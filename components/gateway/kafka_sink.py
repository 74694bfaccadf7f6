"""The audit log's Kafka sink: every audit record, as it was written to the file log, produced to the spec's
`gateway.audit_topic` (docs/audit.md "Kafka").

`KafkaAuditSink` is a sink for `AuditLog.add_sink`. Calling it only puts the record on a bounded queue, so a
slow or absent broker never holds up a gateway call; one worker thread produces the records in `seq` order with
kafka-python's `KafkaProducer` (acks from every in-sync replica, idempotent, so a retried batch is neither
duplicated nor reordered). The value is the record's JSON line, byte for byte what the file log holds (so its
`hash` and `prev` verify on the consumer side); the key is the record's `seq` in decimal. Every record goes to
one partition (0 by default), because Kafka keeps order within a partition only and the chain is one order.

A broker that is down: the worker keeps trying to connect and the records wait in the queue (up to
`queue_size`); a record that finds the queue full makes the sink raise, which `AuditLog` counts in
`sink_errors`, and the record is still in the file log. Records the producer finally gives up on (after
`delivery_timeout_ms`) are counted in `failed` and their `seq` kept in `failed_seqs`, so they can be produced
again from the file.

The client library (`kafka-python`) is imported when the worker starts, so importing this module needs nothing.
source: kafka-python documentation, KafkaProducer (bootstrap_servers, acks, enable_idempotence,
bootstrap_timeout_ms, delivery_timeout_ms; send() returns a future with add_callback/add_errback),
https://kafka-python.readthedocs.io/en/master/apidoc/KafkaProducer.html; Apache Kafka documentation,
"Topics and Logs" (order is kept per partition), https://kafka.apache.org/documentation/#intro_concepts_and_terms
"""

from __future__ import annotations

import importlib.util
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CLIENT = "kafka-python"
"""The PyPI distribution that provides the `kafka` module this sink uses."""

_STOP = object()


class KafkaClientMissing(RuntimeError):
    """kafka-python is not installed: the spec names an audit topic but the gateway cannot produce to it."""


@dataclass(frozen=True)
class SinkStats:
    queued: int
    delivered: int
    failed: int
    dropped: int
    pending: int
    connected: bool
    last_error: str | None


def client_available() -> bool:
    return importlib.util.find_spec("kafka") is not None


class KafkaAuditSink:
    """Produce each audit record to `topic` on `bootstrap_servers`; see the module's docstring."""

    def __init__(self, topic: str, bootstrap_servers: list[str] | str, *, partition: int | None = 0,
                 queue_size: int = 10_000, connect_timeout_s: float = 5.0, retry_s: float = 1.0,
                 delivery_timeout_ms: int = 120_000, client_id: str = "podforge-gateway-audit",
                 on_delivered: Callable[[int, int], None] | None = None,
                 producer_factory: Callable[..., Any] | None = None) -> None:
        if producer_factory is None and not client_available():
            raise KafkaClientMissing(f"the spec names an audit topic ({topic}) but the Kafka client is not "
                                     f"installed: add {CLIENT} to the environment (requirements.lock)")
        self.topic = topic
        self.bootstrap_servers = [bootstrap_servers] if isinstance(bootstrap_servers, str) else list(bootstrap_servers)
        self.partition = partition
        self.connect_timeout_s = connect_timeout_s
        self.retry_s = retry_s
        self.delivery_timeout_ms = delivery_timeout_ms
        self.client_id = client_id
        self.on_delivered = on_delivered
        self._factory = producer_factory
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._producer: Any = None
        self._closing = threading.Event()
        self.queued = self.delivered = self.failed = self.dropped = 0
        self.failed_seqs: list[int] = []
        self.last_error: str | None = None
        self._worker = threading.Thread(target=self._run, name="audit-kafka-sink", daemon=True)
        self._worker.start()

    @classmethod
    def for_gateway(cls, gateway: Any, **kwargs: Any) -> KafkaAuditSink | None:
        """The sink the spec's gateway section asks for (`audit_topic`, `audit_bootstrap_servers`), or None."""
        if not getattr(gateway, "audit_topic", None):
            return None
        servers = getattr(gateway, "audit_bootstrap_servers", None)
        if not servers:
            raise ValueError("gateway.audit_topic is set but gateway.audit_bootstrap_servers is not: name the "
                             "Kafka brokers (`HOST:PORT`)")
        return cls(gateway.audit_topic, servers, **kwargs)

    # --- the sink -------------------------------------------------------------------------------------------

    def __call__(self, record: dict[str, Any], line: str) -> None:
        if self._closing.is_set():
            raise RuntimeError("the Kafka audit sink is closed")
        try:
            self._queue.put_nowait((int(record["seq"]), line.encode("utf-8")))
        except queue.Full:
            with self._lock:
                self.dropped += 1
            raise RuntimeError(f"Kafka audit queue full ({self._queue.maxsize} records): record "
                               f"{record['seq']} is in the file log only") from None
        with self._lock:
            self.queued += 1

    def stats(self) -> SinkStats:
        with self._lock:
            done = self.delivered + self.failed
            return SinkStats(self.queued, self.delivered, self.failed, self.dropped, self.queued - done,
                             self._producer is not None, self.last_error)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every queued record was delivered or given up on; False if the time ran out first."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self.delivered + self.failed < self.queued:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.2))
        return True

    def close(self, timeout_s: float = 30.0) -> SinkStats:
        """Deliver what is queued (within the time), then stop the worker and the producer."""
        self.flush(timeout_s)
        self._closing.set()
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            pass
        self._worker.join(timeout_s)
        producer = self._producer
        if producer is not None:
            try:
                producer.close(timeout=min(timeout_s, 5.0))
            except Exception as exc:  # closing is best effort; the counters already say what was delivered
                self.last_error = f"close: {exc}"
        return self.stats()

    # --- the worker -----------------------------------------------------------------------------------------

    def _connect(self) -> Any:
        factory = self._factory
        if factory is None:
            from kafka import KafkaProducer  # imported late: the dependency is needed only when a topic is named

            factory = KafkaProducer
        return factory(bootstrap_servers=self.bootstrap_servers, client_id=self.client_id, acks="all",
                       enable_idempotence=True, linger_ms=0,
                       bootstrap_timeout_ms=int(self.connect_timeout_s * 1000),
                       delivery_timeout_ms=self.delivery_timeout_ms)

    def _settle(self, seq: int, error: BaseException | None, offset: int | None = None) -> None:
        with self._idle:
            if error is None:
                self.delivered += 1
            else:
                self.failed += 1
                if len(self.failed_seqs) < 100_000:
                    self.failed_seqs.append(seq)
                self.last_error = f"record {seq}: {type(error).__name__}: {error}"
            self._idle.notify_all()
        if error is None and self.on_delivered is not None and offset is not None:
            self.on_delivered(seq, offset)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            seq, value = item
            while self._producer is None:  # hold the record (and so the order) until a broker answers
                if self._closing.is_set():
                    self._settle(seq, RuntimeError("closed before a broker answered"))
                    break
                try:
                    self._producer = self._connect()
                    with self._lock:
                        self.last_error = None
                except Exception as exc:  # no broker yet: retry; the records wait in the queue
                    with self._lock:
                        self.last_error = f"connect: {type(exc).__name__}: {exc}"
                    self._closing.wait(self.retry_s)
            if self._producer is None:
                continue
            try:
                future = self._producer.send(self.topic, key=str(seq).encode("ascii"), value=value,
                                             partition=self.partition)
            except Exception as exc:
                self._settle(seq, exc)
                continue
            future.add_callback(lambda md, s=seq: self._settle(s, None, getattr(md, "offset", None)))
            future.add_errback(lambda exc, s=seq: self._settle(s, exc))
