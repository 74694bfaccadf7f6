"""The applied-state file: per host, the input hash last applied successfully (and when).

`podforge rollout` keeps it in the project, beside the lab's or stack's state: `.lab/rollout-state.json` for
a lab site, `state/<stack>.json` otherwise. It holds hashes and counts only, never a key or a variable.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from components.paths import project_root
from components.spec.cluster import ClusterSpec

SCHEMA = 1


def state_path(stack: str, spec: ClusterSpec, root: Path | None = None) -> Path:
    """The state file in the project `root` (default: the project)."""
    root = root or project_root()
    return root / ".lab" / "rollout-state.json" if spec.site.lab else root / "state" / f"{stack}.json"


def load_state(path: Path) -> dict[str, dict[str, Any]]:
    """host → {"input_hash", "applied_at", "changed"}; a missing or unreadable file is an empty state."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    hosts = data.get("hosts") if isinstance(data, dict) and data.get("schema") == SCHEMA else None
    return hosts if isinstance(hosts, dict) else {}


def record(path: Path, hostname: str, input_hash: str, changed: int) -> None:
    """Write one host's applied hash."""
    hosts = load_state(path)
    hosts[hostname] = {"input_hash": input_hash, "applied_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "changed": changed}
    _write(path, hosts)


def forget(path: Path, hostname: str) -> None:
    """Drop a host's applied hash (it failed after a change: the next rollout must run it again)."""
    hosts = load_state(path)
    if hosts.pop(hostname, None) is not None:
        _write(path, hosts)


def _write(path: Path, hosts: dict[str, dict[str, Any]]) -> None:
    # Atomic (temp file + rename): an interrupted run leaves the previous state, never half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".rollout-state.")
    with os.fdopen(fd, "w") as out:
        json.dump({"schema": SCHEMA, "hosts": dict(sorted(hosts.items()))}, out, indent=2)
        out.write("\n")
    os.replace(tmp, path)
