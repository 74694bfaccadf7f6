"""Audit records are kept at least 180 days, and Vault writes an audit device."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, Severity, StackValidationArgs

from policies.common import types
from policies.common.props import UNKNOWN, get
from policies.common.rule import MLPS, Control, StackProblem, StackRule, config_value, of_type

MIN_DAYS = 180


def check(args: StackValidationArgs) -> Iterable[StackProblem]:
    minimum = int(config_value(args, "minDays", MIN_DAYS))
    governance = of_type(args.resources, types.GOVERNANCE)
    if not governance:
        yield None, f"no {types.GOVERNANCE} resource declares the audit retention", \
            "instantiate components.governance.Governance in the program (GpuCluster does)"
    for g in governance:
        days = get(g.props, "retention", "auditLogDays")
        if days is UNKNOWN:
            continue
        if not isinstance(days, int | float) or days < minimum:
            yield g, f"audit records are kept {days} days, fewer than {minimum}"
    if of_type(args.resources, types.VAULT_KMIP) and not of_type(args.resources, types.VAULT_AUDIT):
        yield None, "Vault has no audit device: key and access operations leave no record", \
            "declare a vault.Audit device (VaultKmip does) and keep its log retention.audit_log_days"


POLICY = StackRule(
    name="audit-retention-180d",
    description="Audit records are kept at least 180 days and Vault has an audit device. Threshold: PRC Cybersecurity "
                "Law art. 21 (network logs kept ≥ 6 months), which MLPS 8.1.5.4 d) invokes; CIS Kubernetes' default of "
                "30 days (audit-log-maxage) is too short here.",
    control=Control(MLPS, "8.1.4.3 c); 8.1.5.4 d)", ("NIST SP 800-53 AU-11", "CIS Kubernetes 1.2.17")),
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="set retention.audit_log_days to 180 or more",
    check=check,
    resource_types=(types.GOVERNANCE, types.VAULT_KMIP, types.VAULT_AUDIT),
    spec_field=("retention", "audit_log_days"),
    config_schema=PolicyConfigSchema({"minDays": {"type": "integer", "minimum": 1}}),
)
