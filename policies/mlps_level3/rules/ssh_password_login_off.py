"""Nodes refuse SSH password and keyboard-interactive logins (keys, with a second factor, only)."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get
from policies.common.rule import MLPS, Control, ResourceRule

_MUST_BE_NO = ("passwordAuthentication", "kbdInteractiveAuthentication")


def check(args: ResourceValidationArgs) -> Iterable[str]:
    ssh = get(args.props, "ssh")
    if ssh is UNKNOWN:
        return
    source = get(ssh, "source", default="the base role's sshd configuration")
    for setting in _MUST_BE_NO:
        value = get(ssh, setting)
        if value is UNKNOWN:
            continue
        name = setting[0].upper() + setting[1:]
        if value is None:
            yield f"{name} is not set in {source}; sshd's default allows it"
        elif str(value).lower() != "no":
            yield f"{name} is {value} in {source}"
    if str(get(ssh, "permitEmptyPasswords", default="no")).lower() == "yes":
        yield f"PermitEmptyPasswords is yes in {source}"


POLICY = ResourceRule(
    name="ssh-password-login-off",
    description="The sshd configuration every node gets sets PasswordAuthentication and KbdInteractiveAuthentication "
                "to no. Threshold: MLPS 8.1.4.1 a) and d) (passwords alone are not enough; at least one cryptographic "
                "factor).",
    control=Control(MLPS, "8.1.4.1 a); 8.1.4.1 d)", ("NIST SP 800-53 IA-2(1)", "NIST SP 800-53 IA-5")),
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="set PasswordAuthentication no and KbdInteractiveAuthentication no in "
                "playbooks/roles/base/templates/sshd_hardening.conf.j2",
    resource_types=(types.GOVERNANCE,),
    check=check,
)
