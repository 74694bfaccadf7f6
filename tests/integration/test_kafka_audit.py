"""The audit log's Kafka sink against a real Apache Kafka broker (one KRaft node from Maven Central's jars, run
with the machine's Java; tests/support/kafka_broker.py, docs/audit.md "Kafka").

Records written through `AuditLog` with the sink are read back from the topic: every one arrives, in `seq`
order, byte for byte the file log's line (so the hashes and the chain verify from the topic alone). A broker
that is down costs no record of the file log, and records written while it is down reach the topic once it is
up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.gateway.audit import AuditLog, verify_chain
from components.gateway.kafka_sink import KafkaAuditSink, client_available
from components.spec.gateway import Gateway
from tests.support.kafka_broker import Broker, KafkaUnavailable, free_port, java, kafka_broker, lib_dir

pytestmark = pytest.mark.servers

N = 300
TOPIC = "podforge-audit-requests"
LATE_TOPIC = "podforge-audit-late"


def _require() -> None:
    try:
        lib_dir()
        java()
    except KafkaUnavailable as exc:
        pytest.skip(str(exc))
    if not client_available():
        pytest.skip("the Kafka client library is not installed (kafka-python, requirements.lock)")


@dataclass
class Early:
    """Records written, through their own sink, before the broker was started on the sink's address."""
    log: AuditLog
    sink: KafkaAuditSink
    records: list[dict[str, Any]]
    delivered_before: int


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Early]]:
    """One broker for the module. Before it starts, 10 records are written through a sink aimed at its port."""
    _require()
    port = free_port()
    log = AuditLog(tmp_path_factory.mktemp("early") / "audit")
    sink = KafkaAuditSink(LATE_TOPIC, [f"127.0.0.1:{port}"], connect_timeout_s=1.0, retry_s=0.2)
    log.add_sink(sink)
    records = _append(log, 10)
    early = Early(log, sink, records, sink.stats().delivered)
    try:
        with kafka_broker(port=port) as b:
            yield b, early
    finally:
        sink.close(timeout_s=1.0)


@pytest.fixture
def broker(started: tuple[Broker, Early]) -> Broker:
    return started[0]


def _append(log: AuditLog, n: int, start: int = 0) -> list[dict[str, Any]]:
    """n records that differ in every field the gateway fills, some with personal-data categories."""
    out = []
    for i in range(start, start + n):
        cats = {"mobile": {"count": 1 + i % 3, "action": "mask"}} if i % 4 == 0 else {}
        out.append(log.append(identity=f"key-{i % 7}", role=("api_user", "data_analyst")[i % 2],
                              endpoint="/v1/chat/completions", model="deepseek-r1", categories=cats,
                              decision="deny" if i % 11 == 0 else "allow", status=403 if i % 11 == 0 else 200,
                              latency_ms=i / 10))
    return out


def _consume(bootstrap: str, topic: str, count: int, timeout_s: float = 30.0) -> list[tuple[bytes, bytes]]:
    """(key, value) of the first `count` messages of partition 0, from the beginning."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             auto_offset_reset="earliest")
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + timeout_s
        while len(got) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                got.extend((m.key, m.value) for m in batch)
        return got
    finally:
        consumer.close()


def _lines(log: AuditLog) -> list[str]:
    return [line for p in log.files() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_record_arrives_in_order_with_its_hash(broker: Broker, tmp_path: Path) -> None:
    """N records written through AuditLog reach the topic in seq order, key = seq, value = the file's line."""
    log = AuditLog(tmp_path / "audit")
    sink = KafkaAuditSink(TOPIC, [broker.bootstrap])
    log.add_sink(sink)
    written = _append(log, N)
    assert sink.flush(60), f"not every record was delivered: {sink.stats()}"
    stats = sink.close()
    assert (stats.delivered, stats.failed, stats.dropped, log.sink_errors) == (N, 0, 0, 0)

    got = _consume(broker.bootstrap, TOPIC, N)
    assert len(got) == N, f"{len(got)} of {N} records on the topic"
    assert [k.decode() for k, _ in got] == [str(r["seq"]) for r in written]
    assert [v.decode() for _, v in got] == _lines(log)
    on_topic = [json.loads(v) for _, v in got]
    assert [r["hash"] for r in on_topic] == [r["hash"] for r in written]
    assert [r["seq"] for r in on_topic] == list(range(N))
    # The topic alone carries a verifiable chain.
    copy = tmp_path / "from-topic.jsonl"
    copy.write_text("".join(v.decode() + "\n" for _, v in got), encoding="utf-8")
    assert verify_chain([copy]) == []


def test_the_spec_fields_make_the_sink(broker: Broker, tmp_path: Path) -> None:
    """gateway.audit_topic and audit_bootstrap_servers give a sink to that topic; no topic gives none."""
    assert KafkaAuditSink.for_gateway(Gateway()) is None
    gateway = Gateway.model_validate({"audit_topic": "podforge-audit-spec",
                                      "audit_bootstrap_servers": [broker.bootstrap]})
    sink = KafkaAuditSink.for_gateway(gateway)
    assert sink is not None
    log = AuditLog(tmp_path / "audit")
    log.add_sink(sink)
    written = _append(log, 5)
    sink.close()
    got = _consume(broker.bootstrap, "podforge-audit-spec", 5)
    assert [json.loads(v)["hash"] for _, v in got] == [r["hash"] for r in written]


def test_a_broker_that_is_down_costs_no_record_of_the_file_log(tmp_path: Path) -> None:
    """With nothing listening and a small queue, every record is in the file log and the chain is intact;
    records beyond the queue are counted as sink errors, none delivered."""
    _require()
    log = AuditLog(tmp_path / "audit")
    sink = KafkaAuditSink(TOPIC, [f"127.0.0.1:{free_port()}"], queue_size=5, connect_timeout_s=0.5, retry_s=0.2)
    log.add_sink(sink)
    written = _append(log, 20)
    stats = sink.close(timeout_s=1.0)
    lines = _lines(log)
    assert [json.loads(line)["hash"] for line in lines] == [r["hash"] for r in written]
    assert verify_chain(log.files()) == []
    assert stats.delivered == 0
    assert log.sink_errors == 20 - stats.queued > 0
    assert stats.dropped == log.sink_errors


def test_records_written_while_the_broker_is_down_arrive_once_it_is_up(started: tuple[Broker, Early]) -> None:
    """The sink holds records (in order) until a broker answers on its address, then delivers them all, and
    the records written after it came up follow them."""
    b, early = started
    assert early.delivered_before == 0
    late = _append(early.log, 10, start=10)
    assert early.sink.flush(60), f"not every record was delivered: {early.sink.stats()}"
    stats = early.sink.close()
    assert (stats.delivered, stats.failed, early.log.sink_errors) == (20, 0, 0)
    got = _consume(b.bootstrap, LATE_TOPIC, 20)
    assert [json.loads(v)["hash"] for _, v in got] == [r["hash"] for r in early.records + late]
