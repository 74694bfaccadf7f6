"""Certificates podforge issues (service TLS, KMIP client certificates) live at most 72 hours."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get, hours, seconds
from policies.common.rule import MLPS, Control, ResourceRule, config_value

MAX_SECONDS = 72 * 3600
_FIELDS = {types.PKI_ROLE: ("ttl", "maxTtl"), types.KMIP_BACKEND: ("defaultTlsClientTtl",),
           types.KMIP_ROLE: ("tlsClientTtl",)}


def check(args: ResourceValidationArgs) -> Iterable[str]:
    limit = int(config_value(args, "maxSeconds", MAX_SECONDS))
    for field in _FIELDS[args.resource_type]:
        value = get(args.props, field)
        if value is UNKNOWN:
            continue
        ttl = seconds(value)
        if ttl is None or ttl <= 0:
            yield f"{field} is {value!r}: no certificate lifetime set (Vault's default is 32 days)"
        elif ttl > limit:
            yield f"{field} is {hours(ttl)}, more than {hours(limit)}"


POLICY = ResourceRule(
    name="certificate-lifetime-72h",
    description="Service certificates (PKI role ttl and max_ttl) and KMIP client certificates live at most 72 h. "
                "Threshold: the source article (TLS 1.3 with rotation ≤ 72 h for MLPS level 3 sites).",
    control=Control(MLPS, "8.1.4.8 a)", ("NIST SP 800-53 SC-17", "NIST SP 800-53 SC-12")),
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="set keys.vault.pki.cert_ttl and keys.vault.kmip.client_cert_ttl to 72h or less",
    resource_types=tuple(_FIELDS),
    check=check,
    spec_field=("keys", "vault", "pki", "cert_ttl"),
    config_schema=PolicyConfigSchema({"maxSeconds": {"type": "integer", "minimum": 3600}}),
)
