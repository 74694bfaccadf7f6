"""Run the packs' pulumi_policy objects over a captured graph, as the Pulumi analyzer runs them in a preview.

Each resource's inputs become the analyzer's read-only proxy (a captured "[unknown]" becomes the SDK's
unknown sentinel, so reading it raises UnknownValueError exactly as in a real preview); resource policies
get `ResourceValidationArgs`, stack policies `StackValidationArgs` over `PolicyResource`s with parents and
dependencies linked. Nothing here re-implements a rule: findings are what the rules report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from components.offline.graph import UNKNOWN, Graph, Resource
from components.policy.config import PolicySettings
from components.policy.packs import Pack

PACK_DEFAULT = EnforcementLevel.MANDATORY
"""The level both packs are built with (policies/<pack>/__main__.py); a rule's own level wins over it."""


@dataclass(frozen=True)
class Finding:
    pack: str
    policy: str
    enforcement: str
    """mandatory or advisory, after the stack's overrides."""
    severity: str
    message: str
    """As the rule reported it: the resource, the problem and the remedy."""
    remediation: str
    urn: str | None = None
    resource_type: str | None = None
    resource_name: str | None = None

    @property
    def problem(self) -> str:
        """The message without its remedy (rules write `… . Remedy: …`)."""
        return self.message.split(". Remedy: ", 1)[0]

    @property
    def remedy(self) -> str:
        parts = self.message.split(". Remedy: ", 1)
        return parts[1] if len(parts) == 2 else self.remediation


@dataclass
class Outcome:
    """One policy's run: what it looked at and what it found."""

    pack: str
    policy: Policy
    enforcement: str
    checked: list[str] = field(default_factory=list)
    """URNs of the resources the policy applies to (every resource for a stack policy)."""
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Values unknown during preview, or why the policy did not apply."""

    @property
    def result(self) -> str:
        if self.enforcement == EnforcementLevel.DISABLED.value:
            return "disabled"
        if not self.findings:
            return "passed"
        return "failed" if self.enforcement == EnforcementLevel.MANDATORY.value else "advisory"


@dataclass
class Evaluation:
    stack: str
    packs: list[Pack]
    outcomes: list[Outcome]
    resources: int
    """Resources in the plan, the stack resource included: the count `podforge plan` and `pulumi preview` show."""
    seconds: float

    @property
    def findings(self) -> list[Finding]:
        return [f for o in self.outcomes for f in o.findings]

    @property
    def mandatory_violations(self) -> list[Finding]:
        return [f for f in self.findings if f.enforcement == EnforcementLevel.MANDATORY.value]


def analyzer_props(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """Inputs as the analyzer hands them to a rule: the SDK's unknown-checking proxy."""
    return unknown_checking_proxy(_with_sentinels(dict(inputs)))


def _with_sentinels(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _with_sentinels(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_sentinels(v) for v in value]
    return UNKNOWN_STRING_VALUE if value == UNKNOWN else value


def _options(parent: str | None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def _level(policy: Policy, pack_settings: Mapping[str, PolicySettings]) -> EnforcementLevel:
    own = pack_settings.get(policy.name)
    if own and own.enforcement_level:
        return own.enforcement_level
    every = pack_settings.get("all")
    if every and every.enforcement_level:
        return every.enforcement_level
    return policy.enforcement_level or PACK_DEFAULT


def _run(result: Any) -> None:
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(result)
        finally:
            loop.close()


def evaluate(graph: Graph, packs: list[Pack], settings: Mapping[str, PolicySettings] | None = None) -> Evaluation:
    """Every policy of `packs` on `graph`. This is the function to time against the plan (benchmark hook)."""
    started = time.perf_counter()
    settings = settings or {}
    resources = [r for r in graph.resources if r.type != "pulumi:pulumi:Stack"]
    props = {r.urn: analyzer_props(r.inputs) for r in resources}
    by_type: dict[str, list[Resource]] = {}
    for r in resources:
        by_type.setdefault(r.type, []).append(r)
    stack_resources: list[PolicyResource] | None = None
    outcomes: list[Outcome] = []
    for pack in packs:
        for policy in pack.policies:
            level = _level(policy, settings)
            outcome = Outcome(pack.name, policy, level.value)
            outcomes.append(outcome)
            if level is EnforcementLevel.DISABLED:
                continue
            config = dict((settings.get(policy.name) or PolicySettings()).properties)
            if isinstance(policy, ResourceValidationPolicy):
                types = getattr(policy, "resource_types", None)
                targets = [r for t in sorted(types) for r in by_type.get(t, [])] if types else resources
                for r in targets:
                    outcome.checked.append(r.urn)
                    args = ResourceValidationArgs(r.type, props[r.urn], r.urn, r.name, _options(r.parent), None, config)
                    _call(policy, args, outcome, pack.name, level, r)
            elif isinstance(policy, StackValidationPolicy):
                if stack_resources is None:
                    stack_resources = _policy_resources(resources, props)
                types = getattr(policy, "resource_types", None)
                outcome.checked.extend(r.urn for r in resources if not types or r.type in types)
                _call(policy, StackValidationArgs(stack_resources, config), outcome, pack.name, level, None)
    return Evaluation(graph.stack, packs, outcomes, len(graph), time.perf_counter() - started)


def _call(policy: Policy, args: Any, outcome: Outcome, pack: str, level: EnforcementLevel,
          resource: Resource | None) -> None:
    by_urn = {}

    def report(message: str, urn: str | None = None) -> None:
        target = resource
        if target is None and urn:
            target = by_urn.get(urn) or _find(args, urn)
        outcome.findings.append(Finding(
            pack, policy.name, level.value, policy.severity.value if policy.severity else "unspecified", message,
            policy.remediation_steps or "", target.urn if target else None,
            _type_of(target), target.name if target else None))

    try:
        _run(policy.validate(args, report))
    except UnknownValueError as exc:
        outcome.notes.append(f"{resource.urn if resource else 'stack'}: can't run during preview: {exc.message}")
    except _NotApplicableError as exc:
        outcome.notes.append(f"not applicable: {exc.message}")


def _find(args: Any, urn: str) -> Any:
    return next((r for r in getattr(args, "resources", []) if r.urn == urn), None)


def _type_of(target: Any) -> str | None:
    if target is None:
        return None
    return getattr(target, "type", None) or getattr(target, "resource_type", None)


def _policy_resources(resources: list[Resource], props: Mapping[str, Mapping[str, Any]]) -> list[PolicyResource]:
    made: dict[str, PolicyResource] = {}
    for r in resources:  # tree order: a parent comes before its children
        made[r.urn] = PolicyResource(r.type, props[r.urn], r.urn, r.name, _options(r.parent), None,
                                     made.get(r.parent) if r.parent else None, [], {})
    for r in resources:
        made[r.urn].dependencies = [made[d] for d in r.dependencies if d in made]
    return list(made.values())
