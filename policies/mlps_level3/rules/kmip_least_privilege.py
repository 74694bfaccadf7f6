"""One KMIP scope and one role per array, each role allowed only what an array's key manager client needs."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, Severity, StackValidationArgs

from policies.common import types
from policies.common.props import UNKNOWN, entries, get
from policies.common.rule import MLPS, Control, StackProblem, StackRule, config_value, of_type

ARRAY_OPERATIONS = frozenset({
    "discover_versions", "query", "create", "register", "get", "get_attributes", "get_attribute_list",
    "add_attribute", "modify_attribute", "delete_attribute", "locate", "activate", "revoke", "destroy", "rekey",
})
"""What a storage array's KMIP client does with its data-at-rest keys (the Symmetric Key Lifecycle client
profile of KMIP 1.x): never encrypt/decrypt/sign/MAC/RNG on the server, never key pairs."""

_OPERATION = re.compile(r"^operation([A-Z]\w*)$")


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def check(args: StackValidationArgs) -> Iterable[StackProblem]:
    allowed = set(config_value(args, "allowedOperations", sorted(ARRAY_OPERATIONS)))
    scopes = of_type(args.resources, types.KMIP_SCOPE)
    roles = of_type(args.resources, types.KMIP_ROLE)
    scope_names = [get(s.props, "scope") for s in scopes]
    users: dict[str, list[str]] = {}
    for array in of_type(args.resources, types.ARRAY):
        if get(array.props, "encryption", "externalKmip") is not True:
            continue
        scope = get(array.props, "encryption", "kmipScope")
        if scope is UNKNOWN:
            continue
        if scope is None:
            yield array, "encrypts through external KMIP but has no KMIP scope of its own", \
                "add the array to keys.vault.kmip.scopes with its own scope and role"
            continue
        users.setdefault(scope, []).append(array.name)
        if scope_names.count(scope) != 1:
            yield array, f"its KMIP scope {scope} is declared {scope_names.count(scope)} times (exactly one expected)"
        in_scope = [r for r in roles if get(r.props, "scope") == scope]
        if len(in_scope) != 1:
            yield array, f"KMIP scope {scope} holds {len(in_scope)} roles (exactly one expected: the array's)"
    for scope, arrays in users.items():
        if len(arrays) > 1:
            shared = next((s for s in scopes if get(s.props, "scope") == scope), None)
            yield shared, f"KMIP scope {scope} is shared by arrays {', '.join(sorted(arrays))}", \
                "give every array its own scope in keys.vault.kmip.scopes"
    for role in roles:
        granted, unknown = set(), False
        for key, value in entries(role.props):
            match = _OPERATION.match(key)
            if match and value is True:
                granted.add(_snake(match.group(1)))
            unknown = unknown or bool(match and value is UNKNOWN)
        if "all" in granted:
            yield role, "operation_all is set: the role may do every KMIP operation", \
                "remove operation_all and list only the array's operations in keys.vault.kmip.scopes[].operations"
        extra = sorted(granted - allowed - {"all", "none"})
        if extra:
            yield role, f"allows operations an array does not need: {', '.join(extra)}"
        if not granted - {"none"} and not unknown:
            yield role, "allows no operation: the array cannot fetch its keys", \
                "list the array's operations in keys.vault.kmip.scopes[].operations"


POLICY = StackRule(
    name="kmip-least-privilege",
    description="Every array encrypting through KMIP has its own Vault KMIP scope holding one role, and each role "
                "allows only the operations of a symmetric-key lifecycle client (no operation_all, no server-side "
                "crypto). Threshold: least privilege, MLPS 8.1.4.2 d); the operation set follows the KMIP Symmetric "
                "Key Lifecycle client profile that ONTAP and Purity clients implement.",
    control=Control(MLPS, "8.1.4.2 d)", ("NIST SP 800-53 AC-6", "NIST SP 800-53 SC-12")),
    severity=Severity.HIGH,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="keep keys.vault.kmip.scopes to one scope per array with only the operations listed in docs/policy.md",
    check=check,
    resource_types=(types.ARRAY, types.KMIP_SCOPE, types.KMIP_ROLE),
    spec_field=("keys", "vault", "kmip", "scopes"),
    config_schema=PolicyConfigSchema({"allowedOperations": {"type": "array", "items": {"type": "string"}}}),
)
