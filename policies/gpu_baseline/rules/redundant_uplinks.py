"""In a two-tier fabric every leaf has at least two uplinks, to at least two spines."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get, items
from policies.common.rule import GPU_BASELINE, Control, ResourceRule, config_value

MIN_SPINES = 2


def check(args: ResourceValidationArgs) -> Iterable[str]:
    switches, uplinks = get(args.props, "switches"), get(args.props, "uplinks", default=[])
    if UNKNOWN in (switches, uplinks):
        return
    tiers = {get(s, "name"): get(s, "tier") for s in items(switches)}
    spines = [n for n, t in tiers.items() if t == "spine"]
    if not spines:
        return  # single-tier (rail) fabric: leaves reach each other through the nodes' rails, no uplinks exist
    minimum = min(int(config_value(args, "minSpines", MIN_SPINES)), len(spines))
    reached: dict[str, set[str]] = {n: set() for n, t in tiers.items() if t == "leaf"}
    for link in items(uplinks):
        leaf = get(link, "leaf")
        if leaf in reached:
            reached[leaf].add(get(link, "spine"))
    for leaf, to in sorted(reached.items()):
        if len(to) < minimum:
            yield f"leaf {leaf} uplinks to {len(to)} spine(s); at least {minimum} needed so one spine or cable can fail"


POLICY = ResourceRule(
    name="redundant-uplinks",
    description="Every leaf of a two-tier fabric has uplinks to at least two spines. Source: MLPS 8.1.2.1 c) "
                "(hardware redundancy of communication lines and key network devices); NVIDIA DGX SuperPOD RA "
                "(non-blocking fat tree, every leaf to every spine).",
    control=Control(GPU_BASELINE, "MLPS 8.1.2.1 c); NVIDIA DGX SuperPOD RA", ("NIST SP 800-53 SC-5", "NIST SP 800-53 CP-11")),
    severity=Severity.MEDIUM,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="add fabrics[].switch_links from the leaf to a second spine",
    resource_types=(types.FABRIC,),
    check=check,
    config_schema=PolicyConfigSchema({"minSpines": {"type": "integer", "minimum": 1}}),
)
