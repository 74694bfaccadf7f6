"""A real Apache Kafka broker for the tests: one KRaft node (broker and controller in one JVM) on 127.0.0.1.

tools/fetch-kafka.sh copies the broker's jars from Maven Central (tools/kafka/pom.xml pins the version) into a
cache outside the clone and links that directory into the venv as `kafka-lib`. `kafka_broker()` writes a
`server.properties`, formats the storage with a generated cluster id (`kafka.tools.StorageTool format`, the
class behind `bin/kafka-storage.sh`), starts `kafka.Kafka server.properties` with the machine's Java, waits
until the broker answers on its port and stops it afterwards.

source: Apache Kafka documentation, "Quick Start" (KRaft: kafka-storage.sh format -t CLUSTER_ID -c
server.properties, then kafka-server-start.sh, which runs `kafka.Kafka`) and "Broker Configs" (process.roles,
node.id, controller.quorum.voters, listeners, controller.listener.names), https://kafka.apache.org/documentation/
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


class KafkaUnavailable(Exception):
    """The jars or Java are not there (the fetch was skipped): the tests that need them skip with this reason."""


class KafkaError(Exception):
    """The broker did not come up: a failure, with the tail of its log."""


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / "broker.log"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no broker log)"


def lib_dir() -> Path:
    """The broker's jars: $PODFORGE_KAFKA_LIB, else the `kafka-lib` link tools/fetch-kafka.sh puts into the venv."""
    explicit = os.environ.get("PODFORGE_KAFKA_LIB")
    lib = Path(explicit) if explicit else Path(sys.executable).parent.parent / "kafka-lib"
    if not any(lib.glob("kafka_2.13-*.jar")):
        raise KafkaUnavailable("no Kafka broker jars (kafka_2.13-*.jar) in the venv's kafka-lib: the fetch was "
                               "skipped (`make setup` with KAFKA=fetch copies them, tools/fetch-kafka.sh)")
    return lib


def java() -> str:
    found = shutil.which("java")
    if found is None:
        raise KafkaUnavailable("no `java` on PATH: the Kafka broker needs Java 17 or newer")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def cluster_id() -> str:
    """A cluster id as `kafka-storage.sh random-uuid` prints it: 16 random bytes, URL-safe base64, no padding
    (org.apache.kafka.common.Uuid.toString). One that begins with "-" is drawn again: the storage tool's argument
    parser would read it as an option (a CI run failed on exactly that)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):
            return text


def server_properties(directory: Path, host: str, port: int, controller_port: int) -> str:
    """A single combined node; every internal topic with one replica (there is one broker)."""
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{host}:{controller_port}",
        f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        f"advertised.listeners=PLAINTEXT://{host}:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={directory / 'data'}",
        "num.partitions=1",
        "auto.create.topics.enable=true",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "",
    ])


LOG4J2 = """\
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
"""


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_ready(broker: Broker, deadline: float) -> None:
    """Until the port accepts and the log says the broker started (its metadata is loaded): before that a
    client's metadata request may still fail."""
    while time.monotonic() < deadline:
        if broker.process.poll() is not None:
            raise KafkaError(f"the Kafka broker exited with {broker.process.returncode}:\n{broker.log_tail()}")
        if _accepts(broker.host, broker.port):
            try:
                text = broker.log.read_text(errors="replace")
            except OSError:
                text = ""
            if "started (kafka.server.KafkaRaftServer)" in text or "Kafka Server started" in text:
                return
        time.sleep(0.1)
    raise KafkaError(f"the Kafka broker did not start within {START_TIMEOUT_S:.0f} s:\n{broker.log_tail()}")


@contextmanager
def kafka_broker(host: str = "127.0.0.1", *, port: int | None = None, heap: str = "256m") -> Iterator[Broker]:
    """Start one KRaft node on `port` (default: a free one) of `host`, yield it once it serves, stop it (and
    delete its data)."""
    lib = lib_dir()
    java_bin = java()
    directory = Path(tempfile.mkdtemp(prefix="podforge-kafka-"))
    try:
        port, controller_port = port or free_port(host), free_port(host)
        props = directory / "server.properties"
        props.write_text(server_properties(directory, host, port, controller_port))
        log4j = directory / "log4j2.properties"
        log4j.write_text(LOG4J2.format(log=directory / "broker.log"))
        base = [java_bin, f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{lib}/*"]
        fmt = subprocess.run([*base, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id()}", "-c", str(props)],
                             capture_output=True, text=True, timeout=120)
        if fmt.returncode != 0:
            raise KafkaError(f"kafka.tools.StorageTool format exited with {fmt.returncode}:\n"
                             f"{(fmt.stdout + fmt.stderr)[-3000:]}")
        out = (directory / "stdout.log").open("wb")
        process = subprocess.Popen([*base, "kafka.Kafka", str(props)], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        broker = Broker(host, port, directory, process)
        try:
            _wait_ready(broker, time.monotonic() + START_TIMEOUT_S)
            yield broker
        finally:
            stop(broker)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def stop(broker: Broker, timeout_s: float = 20.0) -> None:
    """SIGTERM (a controlled shutdown), then SIGKILL if it has not exited within the timeout."""
    if broker.process.poll() is None:
        broker.process.terminate()
        try:
            broker.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            broker.process.kill()
            broker.process.wait(10)
