"""What the session's one rollout of the site play over the lab left (tests/integration/conftest.py makes it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from components.provisioning.rollout import RolloutReport


@dataclass
class SiteRollout:
    """The session's rollout and what it left: the report, its state file, its progress lines and a copy of
    every file the runner rendered for it (the planted-secret test reads them instead of running again)."""

    report: RolloutReport
    state_file: Path
    lines: list[str]
    rendered: list[str]
