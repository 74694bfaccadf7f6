"""The gateway's side of the audit trail: one record per call, appended to components.gateway.audit's
hash-chained AuditLog, and read back for `GET /admin/audit`.

A record holds the time, the identity (key id or token subject), the role, the endpoint, the model, the
categories of personal data found and the action taken on each, the decision, the status and the latency;
never a prompt, a completion or a value found in them.
"""

from __future__ import annotations

import importlib
import json
from collections import deque
from pathlib import Path
from typing import Any, Protocol


class AuditSink(Protocol):
    def append(self, record: dict[str, Any]) -> None: ...

    def read(self, limit: int) -> list[dict[str, Any]]: ...


def default_path(root: Path, stack: str) -> Path:
    return root / "state" / f"{stack}.gateway-audit.jsonl"


class ChainedAudit:
    """components.gateway.audit.AuditLog at `path` (its files are `STEM-TIME-SEQ.jsonl` beside it), kept for
    `retention_days` (the spec's `retention.audit_log_days`)."""

    def __init__(self, path: Path, retention_days: int | None = None) -> None:
        audit = importlib.import_module("components.gateway.audit")
        days = audit.MIN_RETENTION_DAYS if retention_days is None else retention_days
        self.path = path
        self.log = audit.AuditLog(path, retention_days=days)

    def append(self, record: dict[str, Any]) -> None:
        found = record.get("personal_data") or {}
        categories: dict[str, dict[str, Any]] = {}
        for direction in ("prompt", "completion"):  # one entry per category: both directions counted, the
            for category, entry in (found.get(direction) or {}).items():  # prompt's action first
                merged = categories.setdefault(category, {"count": 0, "action": entry["action"]})
                merged["count"] += entry["count"]
        self.log.append(identity=record["identity"], role=record["role"], endpoint=record["endpoint"],
                        model=record.get("model"), categories=categories,
                        decision="allow" if record.get("decision") == "allow" else "deny",
                        status=record["status"], latency_ms=record["latency_ms"])

    def read(self, limit: int) -> list[dict[str, Any]]:
        """The last `limit` records, oldest first, across the log's files."""
        tail: deque[str] = deque(maxlen=limit)
        for path in self.log.files():
            with path.open(encoding="utf-8") as lines:
                tail.extend(line for line in lines if line.strip())
        return [json.loads(line) for line in tail]
