"""Vault policies for the six roles of the access model: which Vault paths each permission opens.

A permission is `AREA:VERB` on resource names (docs/conventions.md). Where Vault itself is the endpoint (keys,
certificates, grants, policies, audit) the permission opens Vault's own paths; every other action opens the
credential of that API endpoint, kept in the KV v2 mount `APP_MOUNT` at `AREA/VERB/RESOURCE`, read-only.
A resource pattern's prefix wildcard (`dataset_2023*`) is Vault's trailing glob; `any` is every resource.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from components.spec.access import AccessRole, RoleGrant
from components.spec.keys import Vault

APP_MOUNT = "podforge"
"""KV v2 mount holding the credentials of the API endpoints the access model names."""

PKI_ROLE = "service"
"""The intermediate CA's role that issues service certificates."""

READ = ("read",)
MANAGE = ("create", "read", "update", "list")


@dataclass(frozen=True)
class PathRule:
    path: str
    capabilities: tuple[str, ...]


def policy_name(role: AccessRole | str) -> str:
    return "podforge-" + str(role).replace("_", "-")


def _vault_native(action: str, vault: Vault) -> list[PathRule] | None:
    """Actions whose endpoint is Vault itself; None for actions on the cluster's own APIs."""
    transit, kmip, pki_int = vault.transit.mount, vault.kmip.mount, vault.pki.intermediate_mount
    native = {
        "keys:manage": [PathRule(f"{transit}/keys/*", MANAGE), PathRule(f"{kmip}/scope/*", MANAGE)],
        "certificates:issue": [PathRule(f"{pki_int}/issue/{PKI_ROLE}", ("create", "update")),
                               PathRule(f"{pki_int}/revoke", ("create", "update"))],
        "access:grant": [PathRule("identity/group/*", MANAGE), PathRule("identity/entity/*", MANAGE)],
        "policy:edit": [PathRule("sys/policies/acl/*", MANAGE)],
        # Listing audit devices needs sudo; audit-hash lets an auditor find a value in the HMAC'd log.
        "audit:read": [PathRule("sys/audit", ("read", "sudo")), PathRule("sys/audit-hash/*", ("create", "update"))],
    }
    return native.get(action)


def _glob(resource: str) -> str:
    return "*" if resource == "any" else resource


def role_rules(grant: RoleGrant, vault: Vault) -> list[PathRule]:
    """The exact paths one role may use, in declaration order, each path once."""
    rules: dict[str, PathRule] = {}
    for permission in grant.permissions:
        native = _vault_native(permission.action, vault)
        if native is None:
            area, verb = permission.action.split(":")
            native = [PathRule(f"{APP_MOUNT}/data/{area}/{verb}/{_glob(r)}", READ) for r in permission.resources]
        for rule in native:
            held = rules.get(rule.path)
            caps = rule.capabilities if held is None else tuple(dict.fromkeys(held.capabilities + rule.capabilities))
            rules[rule.path] = PathRule(rule.path, caps)
    return list(rules.values())


def render_policy(role: AccessRole | str, grant: RoleGrant, vault: Vault) -> str:
    """The HCL text of one role's policy; json.dumps quotes paths and capabilities as HCL strings."""
    lines = [f"# podforge access model: {role} ({' '.join(grant.description.split())})"]
    for rule in role_rules(grant, vault):
        lines += [f"path {json.dumps(rule.path)} {{",
                  f"  capabilities = {json.dumps(list(rule.capabilities))}",
                  "}"]
    return "\n".join(lines) + "\n"
