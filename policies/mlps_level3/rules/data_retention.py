"""Data is deleted after 90 days; data tagged important is kept 180 days, and the tag means something."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get, items
from policies.common.rule import MLPS, Control, Problem, ResourceRule, config_value

DATA_DAYS = 90
IMPORTANT_DAYS = 180


def check(args: ResourceValidationArgs) -> Iterable[Problem]:
    retention = get(args.props, "retention")
    if retention is UNKNOWN:
        return
    if retention is None:
        yield "no data retention policy is declared", "declare retention.data_days and retention.important_data_days"
        return
    data_max = int(config_value(args, "dataDays", DATA_DAYS))
    important_min = int(config_value(args, "importantDataDays", IMPORTANT_DAYS))
    data, important = get(retention, "dataDays"), get(retention, "importantDataDays")
    if isinstance(data, int | float) and data > data_max:
        yield (f"ordinary data is kept {data} days, more than {data_max}",
               f"set retention.data_days to {data_max} (personal data is kept only as long as needed)")
    if isinstance(important, int | float) and important < important_min:
        yield (f"data tagged important is kept {important} days, fewer than {important_min}",
               f"set retention.important_data_days to {important_min} or more")
    if not [t for t in items(get(retention, "importantTags")) if isinstance(t, str) and t]:
        yield "no tag marks data as important, so the longer retention applies to nothing", \
            "list the tag (e.g. important) in retention.important_tags"


POLICY = ResourceRule(
    name="data-retention",
    description="A data retention policy is declared: ordinary data deleted after 90 days, data tagged important kept "
                "180 days. Threshold: the source article (90 days; 180 for important data); MLPS 8.1.4.11 a) "
                "(keep personal data only as needed).",
    control=Control(MLPS, "8.1.4.11 a)", ("NIST SP 800-53 SI-12",)),
    severity=Severity.MEDIUM,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="declare retention.data_days: 90, important_data_days: 180 and important_tags",
    resource_types=(types.GOVERNANCE,),
    check=check,
    spec_field=("retention",),
    config_schema=PolicyConfigSchema({"dataDays": {"type": "integer", "minimum": 1},
                                      "importantDataDays": {"type": "integer", "minimum": 1}}),
)
