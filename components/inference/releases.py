"""Which release takes traffic in the serving stack: the release state `podforge release` keeps, read at deploy.

`podforge release promote|rollback --stack STACK` writes the switch to `state/STACK.release.json` of the project
(components/commands/release.py, docs/release.md); the InferenceStack of that stack reads the same file and puts
`components.release.service_selector(state, spec)` into the engine Service's selector. Without the file the
spec's active release takes traffic (`components.release.initial`). Plain reading, no Pulumi.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from components import release as machine
from components.spec import ClusterSpec


class ReleaseStateError(ValueError):
    """The release state cannot be used for the spec: one line saying which file, what and what would fix it."""


def release_state(spec: ClusterSpec, stack: str, root: Path, now: float | None = None) -> machine.ReleaseState | None:
    """The state of the stack's releases: read from its file, else the initial one; None without
    `serving.release`."""
    rel = spec.serving.release if spec.serving is not None else None
    if rel is None:
        return None
    path = machine.state_path(root, stack)
    if not path.exists():
        return machine.initial(rel, time.time() if now is None else now)
    try:
        return machine.ReleaseState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, TypeError, ValueError) as exc:
        raise ReleaseStateError(f"{path}: unreadable release state ({exc}); fix it or move it away to start from "
                                "the spec's active release") from None


def selector(state: machine.ReleaseState, spec: ClusterSpec) -> dict[str, str]:
    """The Service selector of the release that takes traffic; refused when that release is not declared (the
    Service would select no pod)."""
    rel = spec.serving.release if spec.serving is not None else None
    if rel is None:
        return {}
    declared = [v.name for v in (rel.active, rel.candidate) if v is not None]
    if state.serving not in declared:
        raise ReleaseStateError(f"the release state says {state.serving} takes traffic, but serving.release "
                                f"declares only {', '.join(declared)}: declare {state.serving} again (as active or "
                                "candidate) or roll back with `podforge release rollback`")
    return machine.service_selector(state, rel)
