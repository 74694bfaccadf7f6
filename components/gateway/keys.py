"""API keys: issued once, stored hashed, looked up in constant time.

A key is `pfk_ID_SECRET`: ID (12 hex digits) names the record, SECRET is 32 random bytes (base64url). The store
keeps the SHA-256 of the whole key, never the key: a key is 256 bits of randomness, so a fast hash cannot be
searched (a slow password hash protects low-entropy secrets; this one has none to protect). The file is JSON,
schema 1, mode 0600, written atomically:

    {"schema": 1, "keys": [{"id", "name", "role", "sha256", "created"}]}

The gateway reads it again when its modification time changes, so a key issued or revoked by
`podforge gateway key` takes effect without a restart. Default location: `state/STACK.gateway-keys.json` in the
project (`state/` is git-ignored; docs/conventions.md "State podforge writes"), or the spec's
`gateway.key_store`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from components.spec.access import AccessRole

SCHEMA = 1
PREFIX = "pfk_"
KEY_RE = re.compile(r"^pfk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class KeyStoreError(Exception):
    """The store cannot be read or written, or a request to it is wrong; one line for the user."""


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    role: str
    sha256: str
    created: str

    def public(self) -> dict[str, str]:
        """What may be shown about a key: everything but its hash."""
        return {"id": self.id, "name": self.name, "role": self.role, "created": self.created}


def default_path(root: Path, stack: str) -> Path:
    return root / "state" / f"{stack}.gateway-keys.json"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


class KeyStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime: int | None = None
        self._records: dict[str, KeyRecord] = {}

    def _load(self) -> dict[str, KeyRecord]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._mtime, self._records = None, {}
            return self._records
        if stat.st_mtime_ns == self._mtime:
            return self._records
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("schema") != SCHEMA:
                raise KeyStoreError(f"{self.path}: schema {data.get('schema')!r} — expected {SCHEMA}")
            records = {r["id"]: KeyRecord(**r) for r in data["keys"]}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyStoreError(f"{self.path}: not a key store ({type(exc).__name__}) — expected "
                                f"{{\"schema\": 1, \"keys\": [...]}}") from None
        self._mtime, self._records = stat.st_mtime_ns, records
        return records

    def _write(self, records: dict[str, KeyRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"schema": SCHEMA, "keys": [asdict(r) for r in records.values()]}, indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._mtime = None

    def records(self) -> list[KeyRecord]:
        with self._lock:
            return list(self._load().values())

    def issue(self, name: str, role: AccessRole | str) -> tuple[KeyRecord, str]:
        """A new key for `role`: its record, and the key itself, which is not kept anywhere."""
        role = AccessRole(role)
        if not NAME_RE.match(name):
            raise KeyStoreError(f"key name {name!r} — expected a DNS label (a-z, 0-9, '-', 1-63 characters)")
        with self._lock:
            records = dict(self._load())
            if any(r.name == name for r in records.values()):
                raise KeyStoreError(f"key name {name!r} — expected a new name (a key of that name exists; revoke "
                                    "it first)")
            key_id = secrets.token_hex(6)
            while key_id in records:
                key_id = secrets.token_hex(6)
            key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
            record = KeyRecord(key_id, name, role.value, _digest(key),
                               datetime.now(UTC).isoformat(timespec="seconds"))
            records[key_id] = record
            self._write(records)
        return record, key

    def revoke(self, key_id: str) -> KeyRecord | None:
        with self._lock:
            records = dict(self._load())
            record = records.pop(key_id, None)
            if record is not None:
                self._write(records)
        return record

    def lookup(self, key: str) -> KeyRecord | None:
        """The record of `key`, or None; the hash is compared in constant time."""
        match = KEY_RE.match(key)
        if not match:
            return None
        with self._lock:
            record = self._load().get(match.group(1))
        if record is None or not hmac.compare_digest(record.sha256, _digest(key)):
            return None
        return record
