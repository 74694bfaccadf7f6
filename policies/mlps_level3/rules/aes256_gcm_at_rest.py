"""Data at rest is encrypted with AES-256-GCM: transit keys of that type, arrays keyed through external KMIP."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get
from policies.common.rule import MLPS, Control, Problem, ResourceRule

KEY_TYPE = "aes256-gcm96"


def check(args: ResourceValidationArgs) -> Iterable[Problem]:
    if args.resource_type == types.TRANSIT_KEY:
        key_type = get(args.props, "type", default=KEY_TYPE)  # Vault's default type is aes256-gcm96
        if key_type is not UNKNOWN and key_type != KEY_TYPE:
            yield (f"key type is {key_type}, not {KEY_TYPE}",
                   f"set keys.vault.transit.keys[].type to {KEY_TYPE} (a new key; rewrap data encrypted with the old one)")
        return
    external = get(args.props, "encryption", "externalKmip")
    if external is UNKNOWN:
        return
    if external is not True:
        yield ("data-at-rest encryption does not use the external KMIP key manager",
               "set storage.arrays[].encryption.external_kmip: true and add the array's scope to keys.vault.kmip.scopes")
        return
    if get(args.props, "encryption", "kmipScope") is None or get(args.props, "kmip") is None:
        yield ("external KMIP is declared but the array has no KMIP scope, so no key manager is configured",
               "add an entry for the array to keys.vault.kmip.scopes")


POLICY = ResourceRule(
    name="aes256-gcm-at-rest",
    description="Transit keys are aes256-gcm96 and every storage array encrypts at rest with keys held by the "
                "external KMIP key manager (the arrays' self-encrypting drives use AES-256). Threshold: the source "
                "article (AES-256-GCM at rest with KMIP key management); MLPS 8.1.4.8 b).",
    control=Control(MLPS, "8.1.4.8 b)", ("NIST SP 800-53 SC-28(1)", "NIST SP 800-53 SC-12")),
    severity=Severity.CRITICAL,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="use aes256-gcm96 transit keys and external KMIP for every array",
    resource_types=(types.TRANSIT_KEY, types.ARRAY),
    check=check,
    spec_field=("keys", "vault", "transit"),
)
