"""The node checks, one per (area, name), each a function of a NodeShell and the node's expectation.

A check returns an Outcome (status, detail); `run_check` names it and turns an exception inside a check
into a failed result, so one broken reading never stops the report. What the spec declares for the node and
the node lacks is failed; "not present" is only for what the spec does not declare there (`unneeded`). On a lab
host the stand-in of a declared piece answers `simulated`, never passed, and a stand-in that is missing fails.
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


def unneeded(why: str) -> Outcome:
    """The spec does not declare this for the node: the only way a check reports "not present"."""
    return Status.not_present, f"not required: {why}"


def lab_stand_in(shell: NodeShell, tool: str, declared: str, detail: str) -> Outcome:
    """A lab host answers through the stand-in of what the spec declares (simulated); without it, failed."""
    if not shell.has(tool):
        return bad(f"lab host: the spec declares {declared}, but its stand-in {tool} is not installed")
    return stand_in(f"lab host: {detail}")


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
    from components.verify.checks import cabling, gpu, hca, monitoring, nccl, serving, storage

    return (gpu.CHECKS + hca.CHECKS + cabling.CHECKS + nccl.CHECKS + monitoring.CHECKS + storage.CHECKS
            + serving.CHECKS)


def check_named(key: str) -> Check:
    return next(c for c in all_checks() if c.key == key)
