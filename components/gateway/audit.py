"""The gateway's audit log: one JSON line per call, hash-chained, append-only, rotated, kept for the spec's
retention (docs/audit.md).

Each record holds when, who (identity and role), what (endpoint, model), the personal-data categories found
with the action taken on each (counts, never values), the decision, the status and the latency. It carries
`prev`, the SHA-256 of the record before it (the first record of a log carries 64 zeros), and `hash`, the
SHA-256 of its own canonical JSON without `hash`. Editing a record changes its hash; deleting or reordering
records breaks the `prev` links and the `seq` numbers; `verify_chain` finds all three. Rotation starts a new
file and the chain runs on across files. String fields are desensitized before they are written, so a value
that reached a field by mistake (an e-mail address as an identity) is masked in the log.

A sink (`add_sink`) receives every record after it is written, e.g. a Kafka producer; a failing sink is
counted, never allowed to lose a record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.gateway.desensitize import redact

GENESIS = "0" * 64
MIN_RETENTION_DAYS = 180
"""The floor the spec's `retention.audit_log_days` must meet (the source article: at least 180 days)."""
FIELDS = ("seq", "time", "identity", "role", "endpoint", "model", "categories", "decision", "status", "latency_ms",
          "prev", "hash")
DECISIONS = ("allow", "deny")

Sink = Callable[[dict[str, Any], str], None]


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes a record's hash is taken over: sorted keys, no spaces, UTF-8, without `hash`."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def _clean(value: str | None) -> str | None:
    return None if value is None else redact(str(value)).text


class AuditLog:
    """Append records to `DIRECTORY/audit-<UTC time>-<first seq>.jsonl`, rotating by size or age. Given a file
    path ending in `.jsonl` instead (the spec's `gateway.audit_log`), the files are `<stem>-<time>-<seq>.jsonl`
    beside it."""

    def __init__(self, directory: Path, *, retention_days: int = MIN_RETENTION_DAYS, max_bytes: int = 64 << 20,
                 max_age: dt.timedelta = dt.timedelta(days=1),
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        if retention_days < MIN_RETENTION_DAYS:
            raise ValueError(f"retention.audit_log_days is {retention_days}; audit records are kept at least "
                             f"{MIN_RETENTION_DAYS} days")
        path = Path(directory)
        self.directory, self.prefix = (path.parent, path.stem) if path.suffix == ".jsonl" else (path, "audit")
        self.retention_days = retention_days
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.clock = clock
        self.sinks: list[Sink] = []
        self.sink_errors = 0
        self._lock = threading.Lock()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._file: Path | None = None
        self._opened: dt.datetime | None = None
        self._seq, self._prev = self._resume()

    @classmethod
    def for_spec(cls, spec: Any, directory: Path, **kwargs: Any) -> AuditLog:
        """A log kept as long as the spec's `retention.audit_log_days` says."""
        return cls(directory, retention_days=spec.retention.audit_log_days, **kwargs)

    def add_sink(self, sink: Sink) -> None:
        """Call `sink(record, line)` after each record is written (a Kafka producer, a metrics counter)."""
        self.sinks.append(sink)

    def files(self) -> list[Path]:
        """The log's files, oldest first (their names sort by time)."""
        return sorted(self.directory.glob(f"{self.prefix}-*.jsonl"))

    def _resume(self) -> tuple[int, str]:
        """Continue the chain of the newest file already there."""
        for path in reversed(self.files()):
            last = None
            with path.open("rb") as fh:
                for line in fh:
                    if line.strip():
                        last = line
            if last is not None:
                record = json.loads(last)
                self._file = path
                return int(record["seq"]) + 1, str(record["hash"])
        return 0, GENESIS

    def _target(self, now: dt.datetime) -> Path:
        f = self._file
        if f is not None and f.exists():
            if self._opened is None:
                self._opened = dt.datetime.fromtimestamp(f.stat().st_mtime, dt.UTC)
            if f.stat().st_size < self.max_bytes and now - self._opened < self.max_age:
                return f
        self._file = self.directory / f"{self.prefix}-{now.strftime('%Y%m%dT%H%M%S%fZ')}-{self._seq:012d}.jsonl"
        self._opened = now
        return self._file

    def append(self, *, identity: str | None, role: str | None, endpoint: str, model: str | None = None,
               categories: dict[str, dict[str, Any]] | None = None, decision: str = "allow", status: int = 200,
               latency_ms: float = 0.0) -> dict[str, Any]:
        """Write one record and return it. `categories` maps a category to `{"count": n, "action": a}`
        (Redaction.summary()); values never go in."""
        if decision not in DECISIONS:
            raise ValueError(f"decision {decision!r}: expected one of {', '.join(DECISIONS)}")
        cats = {str(c): {"count": int(v.get("count", 0)), "action": str(v.get("action", ""))}
                for c, v in sorted((categories or {}).items())}
        with self._lock:
            now = self.clock()
            record: dict[str, Any] = {
                "seq": self._seq, "time": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
                "identity": _clean(identity), "role": _clean(role), "endpoint": _clean(endpoint),
                "model": _clean(model), "categories": cats, "decision": decision, "status": int(status),
                "latency_ms": round(float(latency_ms), 3), "prev": self._prev}
            record["hash"] = record_hash(record)
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            path = self._target(now)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
            self._seq += 1
            self._prev = record["hash"]
        for sink in list(self.sinks):
            try:
                sink(record, line)
            except Exception:  # a sink must never cost a record; the count is exported instead
                self.sink_errors += 1
        return record

    def prune(self, now: dt.datetime | None = None) -> list[Path]:
        """Delete whole files whose newest record is older than the retention; the current file stays. The
        chain stays verifiable from the oldest file kept."""
        now = now or self.clock()
        limit = now - dt.timedelta(days=self.retention_days)
        removed = []
        for path in self.files()[:-1]:
            newest = None
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    newest = json.loads(line)["time"]
            if newest is None or dt.datetime.fromisoformat(newest.replace("Z", "+00:00")) < limit:
                path.unlink()
                removed.append(path)
            else:
                break
        return removed


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def verify_chain(paths: Iterable[Path | str]) -> list[Problem]:
    """Every break in the chain of the files, given oldest first: an edited record (its hash), a deleted or
    reordered one (`prev` and `seq`), a line that is no record. The first record checked anchors the chain
    (older files may have been pruned)."""
    problems: list[Problem] = []
    prev_hash: str | None = None
    prev_seq: int | None = None
    for path in paths:
        name = str(path)
        with open(path, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    seq, stored, prev = int(record["seq"]), str(record["hash"]), str(record["prev"])
                except (ValueError, KeyError, TypeError):
                    problems.append(Problem(name, number, "not an audit record (JSON with seq, prev and hash)"))
                    prev_hash = prev_seq = None
                    continue
                if record_hash(record) != stored:
                    problems.append(Problem(name, number, f"record {seq} was changed: its content does not match "
                                                          "its hash"))
                if prev_hash is not None and prev != prev_hash:
                    problems.append(Problem(name, number, f"record {seq}: prev does not match the hash of the "
                                                          f"record before it (seq {prev_seq}): a record was "
                                                          "deleted, inserted or moved"))
                if prev_seq is not None and seq != prev_seq + 1:
                    problems.append(Problem(name, number, f"record {seq} follows record {prev_seq}: expected "
                                                          f"{prev_seq + 1}"))
                prev_hash, prev_seq = stored, seq
    return problems
