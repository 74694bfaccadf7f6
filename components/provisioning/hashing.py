"""Input hashing: one sha256 per host over everything that decides what a run does to it.

Equal hash ⇒ the same playbooks with the same inputs were already applied, so the host is skipped
without a connection (the provider's diff, `podforge rollout`'s state file). The private key is not
an input of the hash: changing the automation key does not change what a node looks like.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from components.paths import PLAYBOOKS_DIR
from components.provisioning.target import HostTarget

_SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}


def playbooks_hash(directory: Path = PLAYBOOKS_DIR) -> str:
    """Content hash of every file under playbooks/ (paths and bytes), independent of where the tree lives."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not _SKIPPED_PARTS & set(p.parts)):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def normalized(value: Any) -> Any:
    """The form a value keeps through Pulumi's wire format: no None members, integral numbers as int,
    tuples as lists; so the rollout path (from the spec) and the provider (from its inputs) hash alike."""
    if isinstance(value, dict):
        return {str(k): normalized(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [normalized(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical(value: Any) -> bytes:
    return json.dumps(normalized(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def input_hash(target: HostTarget, playbooks: str) -> str:
    """sha256 over (connection, groups, vars, rendered files, playbooks content hash)."""
    document = {"connection": target.connection(), "groups": sorted(target.groups), "vars": target.vars,
                "files": target.files, "playbooks": playbooks}
    return hashlib.sha256(canonical(document)).hexdigest()
