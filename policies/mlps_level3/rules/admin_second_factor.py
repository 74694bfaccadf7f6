"""Administrators authenticate with two factors, at least one of them cryptographic."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get, items
from policies.common.rule import MLPS, Control, ResourceRule

CRYPTOGRAPHIC = {"webauthn", "smartcard", "ssh_key", "client_cert"}
FACTORS = CRYPTOGRAPHIC | {"totp", "password"}


def check(args: ResourceValidationArgs) -> Iterable[str]:
    admins = get(args.props, "access", "administrators")
    if admins is UNKNOWN:
        return
    for admin in items(admins):
        methods = {m for m in items(get(admin, "authMethods")) if isinstance(m, str)}
        name = get(admin, "name")
        if len(methods & FACTORS) < 2:
            yield f"administrator {name} authenticates with {', '.join(sorted(methods)) or 'nothing'}: one factor"
        elif not methods & CRYPTOGRAPHIC:
            yield f"administrator {name} has no cryptographic factor (webauthn, smartcard, ssh_key or client_cert)"


POLICY = ResourceRule(
    name="admin-second-factor",
    description="Every administrator declares at least two authentication methods, one of them cryptographic. "
                "Threshold: MLPS 8.1.4.1 d) (two or more authentication techniques, at least one cryptographic).",
    control=Control(MLPS, "8.1.4.1 d)", ("NIST SP 800-53 IA-2(1)",)),
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="add a second, cryptographic factor (webauthn, smartcard, ssh_key, client_cert) to "
                "access.administrators[].auth_methods",
    resource_types=(types.GOVERNANCE,),
    check=check,
    spec_field=("access", "administrators"),
)
