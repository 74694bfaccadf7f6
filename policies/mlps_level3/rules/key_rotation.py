"""Transit keys rotate automatically at least every 72 hours."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get, hours, seconds
from policies.common.rule import MLPS, Control, ResourceRule, config_value

MAX_SECONDS = 72 * 3600


def check(args: ResourceValidationArgs) -> Iterable[str]:
    limit = int(config_value(args, "maxSeconds", MAX_SECONDS))
    value = get(args.props, "autoRotatePeriod", default=0)
    if value is UNKNOWN:
        return
    period = seconds(value)
    if not period:
        yield "auto_rotate_period is not set: the key never rotates (Vault's default)"
    elif period > limit:
        yield f"auto_rotate_period is {hours(period)}, more than {hours(limit)}"


POLICY = ResourceRule(
    name="key-rotation-72h",
    description="Every transit key rotates automatically at most every 72 h (Vault's auto_rotate_period is off "
                "by default). Threshold: the source article (key rotation ≤ 72 h for MLPS level 3 sites).",
    control=Control(MLPS, "8.1.4.8 b)", ("NIST SP 800-53 SC-12",)),
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="set keys.vault.transit.keys[].rotation_period to 72h or less",
    resource_types=(types.TRANSIT_KEY,),
    check=check,
    spec_field=("keys", "vault", "transit", "keys"),
    config_schema=PolicyConfigSchema({"maxSeconds": {"type": "integer", "minimum": 3600}}),
)
