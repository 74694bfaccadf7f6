"""The access model's six roles are all declared, each permission an action on an endpoint, never `*`."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, entries, get, items
from policies.common.rule import MLPS, Control, Problem, ResourceRule

SIX_ROLES = ("system_admin", "security_admin", "audit_admin", "model_engineer", "data_analyst", "api_user")


def _wildcard_action(action: str) -> bool:
    return "*" in action or ":" not in action


def check(args: ResourceValidationArgs) -> Iterable[Problem]:
    roles = get(args.props, "access", "roles")
    if roles is UNKNOWN:
        return
    declared = dict(entries(roles))
    missing = [r for r in SIX_ROLES if r not in declared]
    if missing:
        yield f"access roles {', '.join(missing)} are not declared", "declare all six roles under access.roles"
    for role, grant in declared.items():
        for permission in items(get(grant, "permissions")):
            action = get(permission, "action")
            if isinstance(action, str) and _wildcard_action(action):
                yield (f"role {role} grants action {action!r}, a wildcard",
                       f"replace it in access.roles.{role}.permissions with the `AREA:VERB` actions the role needs")
            for pattern in items(get(permission, "resources")):
                if pattern == "*":
                    yield (f"role {role} grants {action} on every resource ('*')",
                           f"name the resources (a prefix pattern such as dataset_2023* is allowed) in access.roles.{role}")


POLICY = ResourceRule(
    name="access-six-roles",
    description="The six roles of the access model (system, security and audit administration, model tuning, data "
                "viewing, API calls) are declared, and every permission names an action on an API endpoint, never "
                "`*`. Threshold: the source article (six roles down to API endpoints); MLPS 8.1.4.2 f) "
                "(user-level subjects, object-level granularity); CIS Kubernetes 5.1.3 (no wildcards in roles).",
    control=Control(MLPS, "8.1.4.2 f)", ("CIS Kubernetes 5.1.3", "NIST SP 800-53 AC-6")),
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="declare the six roles under access.roles with explicit `AREA:VERB` actions",
    resource_types=(types.GOVERNANCE,),
    check=check,
    spec_field=("access", "roles"),
)
