"""三员分立: system, security and audit administration are held by different roles and different people."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, entries, get, items
from policies.common.rule import MLPS, Control, Problem, ResourceRule

ADMIN_ROLES = ("system_admin", "security_admin", "audit_admin")
_AREAS = {"system_admin": {"cluster", "node", "deployment"},
          "security_admin": {"keys", "certificates", "access", "policy"},
          "audit_admin": {"audit"}}


def check(args: ResourceValidationArgs) -> Iterable[Problem]:
    access = get(args.props, "access")
    if access is UNKNOWN:
        return
    for admin in items(get(access, "administrators")):
        held = [r for r in items(get(admin, "roles")) if r in ADMIN_ROLES]
        if len(held) > 1:
            yield (f"administrator {get(admin, 'name')} holds {' and '.join(held)}",
                   "give each of system_admin, security_admin and audit_admin to a different person "
                   "in access.administrators")
    holders = {role: [get(a, "name") for a in items(get(access, "administrators")) if role in items(get(a, "roles"))]
               for role in ADMIN_ROLES}
    for role, names in holders.items():
        if not names:
            yield f"no administrator holds {role}", f"name the person holding {role} in access.administrators"
    # A role reaching into another administrator's area defeats the separation as surely as one person would.
    for role, grant in entries(get(access, "roles")):
        if role not in _AREAS:
            continue
        foreign = {area for other, areas in _AREAS.items() if other != role for area in areas}
        for permission in items(get(grant, "permissions")):
            action = get(permission, "action")
            if isinstance(action, str) and action.split(":", 1)[0] in foreign:
                yield (f"role {role} grants {action}, which belongs to another administrator's duties",
                       f"move {action} to the role that owns it (docs/conventions.md, access model)")


POLICY = ResourceRule(
    name="separation-of-duties",
    description="System, security and audit administration (三员分立) are three roles whose actions do not overlap, "
                "each held by a person who holds no other of the three. Threshold: MLPS 8.1.4.2 d) (separation of "
                "administrative privileges) and 8.1.5.1-8.1.5.3 (system, audit and security administrators).",
    control=Control(MLPS, "8.1.4.2 d); 8.1.5.1-8.1.5.3", ("NIST SP 800-53 AC-5",)),
    severity=Severity.CRITICAL,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="give system_admin, security_admin and audit_admin to three different people, each role only its own actions",
    resource_types=(types.GOVERNANCE,),
    check=check,
    spec_field=("access", "administrators"),
)
