"""A DR site is declared, within 200 ms round trip of the primary site."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get
from policies.common.rule import MLPS, Control, Problem, ResourceRule, config_value

MAX_LATENCY_MS = 200


def check(args: ResourceValidationArgs) -> Iterable[Problem]:
    dr = get(args.props, "drSite")
    if dr is UNKNOWN:
        return
    if dr is None:
        yield "no DR site is declared: there is no off-site backup or hot standby"
        return
    limit = float(config_value(args, "maxLatencyMs", MAX_LATENCY_MS))
    latency = get(dr, "latencyMs")
    if isinstance(latency, int | float) and latency > limit:
        yield (f"DR site {get(dr, 'name')} is {latency:g} ms away, more than {limit:g} ms",
               "choose a DR site within 200 ms (dr_site.latency_ms), or run it active-standby with a documented RPO")


POLICY = ResourceRule(
    name="dr-site-latency",
    description="A DR site is declared and its round-trip latency is at most 200 ms. Threshold: the source article "
                "(bank scenario: dual-active DR under 200 ms); MLPS 8.1.4.9 b) and c) (off-site real-time backup, "
                "hot redundancy).",
    control=Control(MLPS, "8.1.4.9 b); 8.1.4.9 c)", ("NIST SP 800-53 CP-7", "NIST SP 800-53 CP-9")),
    severity=Severity.MEDIUM,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="declare dr_site with name, location and latency_ms ≤ 200",
    resource_types=(types.GOVERNANCE,),
    check=check,
    spec_field=("dr_site",),
    config_schema=PolicyConfigSchema({"maxLatencyMs": {"type": "number", "exclusiveMinimum": 0}}),
)
