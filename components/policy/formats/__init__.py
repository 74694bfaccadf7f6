"""Output formats of `podforge policy check`: text, json, junit, sarif and report (auditor's evidence).

Every format renders one `CheckReport`: the evaluation, where each finding sits in the spec, the commit
and the time of the check.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi_policy import Policy

from components.policy.evaluate import Evaluation, Finding, Outcome
from components.policy.locations import Location, SpecLocator


@dataclass
class CheckReport:
    evaluation: Evaluation
    locator: SpecLocator
    commit: str = "unknown"
    time: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def location(self, finding: Finding) -> Location:
        policy = self.policy(finding)
        return self.locator.locate(finding, getattr(policy, "spec_field", ()) if policy else ())

    def policy(self, finding: Finding) -> Policy | None:
        return next((o.policy for o in self.evaluation.outcomes
                     if o.pack == finding.pack and o.policy.name == finding.policy), None)

    @property
    def outcomes(self) -> list[Outcome]:
        return self.evaluation.outcomes

    @property
    def spec_file(self) -> str:
        return self.locator.loaded.file


def git_commit(root: Path) -> str:
    """HEAD of the work tree holding `root` (the project), with `+changes` when files differ from it; `unknown`
    outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def control_of(policy: Policy) -> dict[str, Any]:
    control = getattr(policy, "control", None)
    if control is None:
        framework = policy.framework
        return {"framework": framework.name if framework else "", "clause": framework.reference if framework else "",
                "references": []}
    return {"framework": control.framework, "clause": control.clause, "references": list(control.references)}


def render(fmt: str, report: CheckReport) -> str:
    from components.policy.formats import evidence, json_format, junit, sarif, text

    renderers: dict[str, Callable[[CheckReport], str]] = {
        "text": text.render, "json": json_format.render, "junit": junit.render, "sarif": sarif.render,
        "report": evidence.render}
    return renderers[fmt](report)


FORMATS = ("text", "json", "junit", "sarif", "report")
