"""Every node's SSH host key is pinned (the key itself, or a known_hosts file holding it)."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get
from policies.common.rule import MLPS, Control, ResourceRule

_OFF = ("no", "false", "0", "off")


def check(args: ResourceValidationArgs) -> Iterable[str]:
    ssh = get(args.props, "ssh")
    if ssh is UNKNOWN:
        return
    host_key, known_hosts = get(ssh, "hostKey"), get(ssh, "knownHosts")
    if host_key is UNKNOWN or known_hosts is UNKNOWN:
        return
    if not host_key and not known_hosts:
        yield "its SSH host key is not pinned: the first connection would trust any key"
    strict = get(ssh, "strictHostKeyChecking")
    if (isinstance(strict, str) and strict.lower() in _OFF) or strict is False:
        yield "StrictHostKeyChecking is off: a changed host key would be accepted"


POLICY = ResourceRule(
    name="ssh-host-keys-pinned",
    description="podforge reaches every node over SSH with the node's host key pinned, never trust-on-first-use. "
                "Threshold: MLPS 8.1.4.1 c) (remote administration protected against eavesdropping, which a "
                "man-in-the-middle defeats); podforge docs/conventions.md (host keys pinned, never ignored).",
    control=Control(MLPS, "8.1.4.1 c)", ("NIST SP 800-53 IA-3", "NIST SP 800-53 SC-23")),
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="set nodes[].ssh.host_key (TYPE BASE64) or nodes[].ssh.known_hosts in the spec",
    resource_types=(types.NODE,),
    check=check,
)
