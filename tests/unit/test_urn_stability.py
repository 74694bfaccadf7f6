"""The URNs of both example stacks' plans are the recorded ones: no resource of `lab` or `superpod` is renamed,
re-parented, added or dropped (tests/fixtures/urns holds each stack's URN set, one per line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.offline import capture

URNS = Path(__file__).resolve().parents[1] / "fixtures" / "urns"


@pytest.mark.parametrize("stack", ["lab", "superpod"])
def test_the_plan_declares_exactly_the_recorded_urns(stack: str) -> None:
    recorded = set((URNS / f"{stack}.txt").read_text().split())
    planned = {r.urn for r in capture(stack).resources}
    assert sorted(planned - recorded) == [], "URNs the plan has and the record does not"
    assert sorted(recorded - planned) == [], "recorded URNs the plan no longer has"
