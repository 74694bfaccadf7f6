"""Every declared TLS 1.2 exception is reported, so auditors see each one and its reason (advisory)."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, Severity, StackValidationArgs

from policies.common import types
from policies.common.rule import MLPS, Control, StackProblem, StackRule
from policies.mlps_level3.rules.tls13_minimum import tls_endpoints


def check(args: StackValidationArgs) -> Iterable[StackProblem]:
    for resource, label, version, exception in tls_endpoints(args.resources):
        if version == "1.2" and isinstance(exception, str) and exception.strip():
            yield resource, f"{label} accepts TLS 1.2 by declared exception ({exception})"


POLICY = StackRule(
    name="tls-exceptions-declared",
    description="Reports each endpoint running below TLS 1.3 under a declared exception, with its reason, so the "
                "exception stays visible until the peer is upgraded. Threshold: TLS 1.3 (source article; "
                "MLPS 8.1.2.2 b)).",
    control=Control(MLPS, "8.1.2.2 b)", ("NIST SP 800-53 SC-8(1)",)),
    severity=Severity.LOW,
    enforcement_level=EnforcementLevel.ADVISORY,
    remediation="upgrade the peer to TLS 1.3 and remove the tls_exception",
    check=check,
    resource_types=(types.GOVERNANCE, types.ARRAY, types.KMIP_BACKEND),
    spec_field=("keys", "vault", "kmip", "tls_exception"),
)
