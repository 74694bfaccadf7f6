"""The two rule shapes of both packs: pulumi_policy objects that also carry the control they implement.

`ResourceRule` and `StackRule` ARE pulumi_policy ResourceValidationPolicy / StackValidationPolicy: the
Pulumi CLI runs them through `policies/<pack>/__main__.py` and `podforge policy check` calls the same
objects' `validate`. A rule's check yields problems; the rule turns each into one message naming the
resource, the problem and the remedy, so every finding reads the same in the CLI and in every report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

MLPS = "GB/T 22239-2019 (MLPS 2.0) level 3"
GPU_BASELINE = "podforge GPU cluster baseline"


@dataclass(frozen=True)
class Control:
    """What a rule implements: a clause of its framework, and matching controls of other catalogues."""

    framework: str
    clause: str
    """MLPS clause (e.g. `8.1.4.1 d)`) or, for the GPU baseline, the vendor document section."""
    references: tuple[str, ...] = ()
    """e.g. `NIST SP 800-53 SC-8`, `CIS Kubernetes 5.1.3`."""

    def framework_object(self) -> PolicyComplianceFramework:
        return PolicyComplianceFramework(name=self.framework, reference=self.clause,
                                         specification="; ".join(self.references) or None)

    def tags(self) -> list[str]:
        return [f"control:{self.clause}", *(f"ref:{r}" for r in self.references)]


Problem = str | tuple[str, str]
"""A problem, or (problem, remedy) when the remedy differs from the rule's."""


def message(resource_type: str, name: str, problem: str, remedy: str) -> str:
    """One finding: which resource, what is wrong, what fixes it."""
    kind = resource_type.rsplit(":", 1)[-1]
    return f"{kind} '{name}': {problem}. Remedy: {remedy}"


def _split(problem: Problem, remedy: str) -> tuple[str, str]:
    return problem if isinstance(problem, tuple) else (problem, remedy)


class ResourceRule(ResourceValidationPolicy):
    """A rule looking at one resource at a time, of the types it names."""

    def __init__(self, *, name: str, description: str, control: Control, severity: Severity,
                 enforcement_level: EnforcementLevel, remediation: str, resource_types: Sequence[str],
                 check: Callable[[ResourceValidationArgs], Iterable[Problem]], spec_field: tuple[str | int, ...] = (),
                 config_schema: PolicyConfigSchema | None = None) -> None:
        self.control = control
        self.resource_types = frozenset(resource_types)
        self.spec_field = spec_field
        """Where in the spec the fact lives when the resource is a site-wide one (SARIF locations)."""

        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            if args.resource_type not in self.resource_types:
                return
            for problem in check(args):
                text, remedy = _split(problem, remediation)
                report(message(args.resource_type, args.name, text, remedy), None)

        super().__init__(name, description, validate, enforcement_level, config_schema, severity=severity,
                         framework=control.framework_object(), tags=control.tags(), remediation_steps=remediation)


StackProblem = tuple[PolicyResource | None, str] | tuple[PolicyResource | None, str, str]
"""(resource or None for the stack, problem[, remedy])."""


class StackRule(StackValidationPolicy):
    """A rule looking at the whole graph (relations between resources, things that must exist)."""

    def __init__(self, *, name: str, description: str, control: Control, severity: Severity,
                 enforcement_level: EnforcementLevel, remediation: str,
                 check: Callable[[StackValidationArgs], Iterable[StackProblem]], spec_field: tuple[str | int, ...] = (),
                 config_schema: PolicyConfigSchema | None = None, resource_types: Sequence[str] = ()) -> None:
        self.control = control
        self.resource_types = frozenset(resource_types)
        """The types the check reads (what an evidence report lists as checked); empty: the whole graph."""
        self.spec_field = spec_field

        def validate(args: StackValidationArgs, report: ReportViolation) -> None:
            for found in check(args):
                resource, text = found[0], found[1]
                remedy = found[2] if len(found) > 2 else remediation  # type: ignore[misc]
                if resource is None:
                    report(f"stack: {text}. Remedy: {remedy}", None)
                else:
                    report(message(resource.resource_type, resource.name, text, remedy), resource.urn)

        super().__init__(name, description, validate, enforcement_level, config_schema, severity=severity,
                         framework=control.framework_object(), tags=control.tags(), remediation_steps=remediation)


def of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def config_value(args: Any, key: str, default: Any) -> Any:
    """A rule property from the stack's policy config (`policies/config/<stack>.json`), else its default."""
    value = args.get_config().get(key) if args.get_config() else None
    return default if value is None else value
