"""The node checks, one per (area, name), each a function of a NodeShell and the node's expectation.

A check returns an Outcome (status, detail); `run_check` names it and turns an exception inside a check
into a failed result, so one broken reading never stops the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from components.verify.expectations import NodeExpectation
from components.verify.results import CheckResult, Status
from components.verify.shell import NodeShell

Outcome = tuple[Status, str]


def ok(detail: str) -> Outcome:
    return Status.passed, detail


def bad(detail: str) -> Outcome:
    return Status.failed, detail


def stand_in(detail: str) -> Outcome:
    return Status.simulated, detail


def absent(detail: str) -> Outcome:
    return Status.not_present, detail


def unneeded(why: str) -> Outcome:
    return Status.not_present, f"not required: {why}"


@dataclass(frozen=True)
class Check:
    area: str
    name: str
    about: str
    probe: Callable[[NodeShell, NodeExpectation], Outcome]

    @property
    def key(self) -> str:
        return f"{self.area}/{self.name}"


def run_check(check: Check, shell: NodeShell, expect: NodeExpectation) -> CheckResult:
    try:
        status, detail = check.probe(shell, expect)
    except Exception as exc:  # a check's own fault is reported as a failed check, not a crash of the report
        status, detail = Status.failed, f"the check broke: {type(exc).__name__}: {exc}"
    return CheckResult(check.area, check.name, status, detail)


def all_checks() -> tuple[Check, ...]:
    from components.verify.checks import gpu, hca, monitoring, nccl, serving, storage

    return gpu.CHECKS + hca.CHECKS + nccl.CHECKS + monitoring.CHECKS + storage.CHECKS + serving.CHECKS


def check_named(key: str) -> Check:
    return next(c for c in all_checks() if c.key == key)
