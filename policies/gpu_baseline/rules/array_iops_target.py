"""Each all-flash array is rated for at least 500K IOPS."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get
from policies.common.rule import GPU_BASELINE, Control, ResourceRule, config_value

MIN_IOPS = 500_000


def check(args: ResourceValidationArgs) -> Iterable[str]:
    minimum = int(config_value(args, "minIops", MIN_IOPS))
    iops = get(args.props, "ratedIops")
    if iops is UNKNOWN:
        return
    if not isinstance(iops, int | float) or iops < minimum:
        yield f"rated at {iops} IOPS, below the {minimum:,} IOPS target"


POLICY = ResourceRule(
    name="array-iops-target",
    description="Every storage array is rated for at least 500,000 4K random-read IOPS. Threshold: the source article's "
                "reference hardware (all-flash storage with ≥ 500K IOPS for model loading and datasets).",
    control=Control(GPU_BASELINE, "source article: reference hardware", ("NIST SP 800-53 CP-2(2)",)),
    severity=Severity.MEDIUM,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="use an array rated ≥ 500K IOPS (storage.arrays[].rated_iops) or add arrays",
    resource_types=(types.ARRAY,),
    check=check,
    config_schema=PolicyConfigSchema({"minIops": {"type": "integer", "minimum": 1}}),
)
