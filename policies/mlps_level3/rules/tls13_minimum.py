"""TLS 1.3 is the floor on every endpoint podforge configures, unless the endpoint declares why it cannot be."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, Severity, StackValidationArgs

from policies.common import types
from policies.common.props import UNKNOWN, get, items
from policies.common.rule import MLPS, Control, StackProblem, StackRule

_VERSIONS = {"tls12": "1.2", "tls13": "1.3", "1.2": "1.2", "1.3": "1.3", "1.0": "1.0", "1.1": "1.1",
             "tls10": "1.0", "tls11": "1.1"}


def tls_endpoints(resources: Iterable[PolicyResource]) -> list[tuple[PolicyResource, str, Any, Any]]:
    """(resource, endpoint label, TLS floor as `1.x` or UNKNOWN, declared exception or None) for every endpoint.

    The KMIP listener's floor is the Vault resource's own input; its exception is declared in the site's
    governance facts (the Vault resource has no field for a reason).
    """
    found: list[tuple[PolicyResource, str, Any, Any]] = []
    exceptions: dict[str, Any] = {}
    for r in resources:
        if r.resource_type == types.GOVERNANCE:
            for endpoint in items(get(r.props, "endpoints")):
                name = get(endpoint, "name")
                exceptions[name] = get(endpoint, "tlsException")
                if name != "kmip-listener":  # that one is checked on the KMIP backend itself
                    found.append((r, f"endpoint {name}", _version(get(endpoint, "tlsMinVersion")),
                                  get(endpoint, "tlsException")))
        elif r.resource_type == types.ARRAY:
            found.append((r, "KMIP client", _version(get(r.props, "encryption", "tlsMinVersion")),
                          get(r.props, "encryption", "tlsException")))
    for r in resources:
        if r.resource_type == types.KMIP_BACKEND:
            found.append((r, "KMIP listener", _version(get(r.props, "tlsMinVersion", default="tls12")),
                          exceptions.get("kmip-listener")))
    return found


def _version(value: Any) -> Any:
    if value is UNKNOWN:
        return UNKNOWN
    return _VERSIONS.get(str(value), str(value))


def check(args: StackValidationArgs) -> Iterable[StackProblem]:
    for resource, label, version, exception in tls_endpoints(args.resources):
        if version is UNKNOWN or version == "1.3":
            continue
        if version == "1.2" and isinstance(exception, str) and exception.strip():
            continue  # a declared exception: reported by tls-exceptions-declared (advisory)
        yield resource, f"{label} accepts TLS {version} with no declared exception"


POLICY = StackRule(
    name="tls13-minimum",
    description="Every endpoint podforge configures (Vault API, KMIP listener, arrays' KMIP clients) requires "
                "TLS 1.3, unless a TLS 1.2 exception is declared with its reason. Threshold: the source article "
                "(TLS 1.3 for finance/healthcare under MLPS level 3); MLPS 8.1.2.2 b) and 8.1.4.8 a) ask for "
                "cryptographic confidentiality in transit.",
    control=Control(MLPS, "8.1.2.2 b); 8.1.4.8 a)", ("NIST SP 800-53 SC-8(1)", "NIST SP 800-52r2")),
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="set the endpoint's tls_min_version to 1.3 in the spec (keys.vault.tls_min_version, "
                "keys.vault.kmip.tls_min_version: tls13, storage.arrays[].encryption.tls_min_version), or declare "
                "tls_exception with the reason the peer cannot do TLS 1.3",
    check=check,
    resource_types=(types.GOVERNANCE, types.ARRAY, types.KMIP_BACKEND),
    spec_field=("keys", "vault", "tls_min_version"),
)
