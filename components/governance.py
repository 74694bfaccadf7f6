"""Governance: the site's security and compliance facts that no hardware or Vault resource carries.

The access model (six roles, administrators and their authentication methods), retention, the DR site,
the audit trail, the TLS floor of every endpoint podforge configures, the sshd hardening the base role
installs, and an inventory of the stack's configuration keys (names and whether each is a secret, never a
value). It registers them as inputs so the policy packs read them like any other resource, under the Pulumi
CLI and offline alike.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.desired import known
from components.paths import PLAYBOOKS_DIR
from components.spec import ClusterSpec

TYPE = "podforge:site:Governance"
SSHD_HARDENING = "playbooks/roles/base/templates/sshd_hardening.conf.j2"
"""The sshd drop-in the base role installs on every node: the source of truth for password logins."""
SSHD_HARDENING_FILE = PLAYBOOKS_DIR / "roles" / "base" / "templates" / "sshd_hardening.conf.j2"
"""Where that file is (podforge's own playbooks: a checkout, or the installed package)."""

_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def sshd_settings(path: Path = SSHD_HARDENING_FILE) -> dict[str, Any]:
    """The password-related sshd settings the base role renders (`yes`/`no`; absent when not set)."""
    settings: dict[str, Any] = {"source": SSHD_HARDENING}
    if not path.is_file():
        return settings
    for line in path.read_text().splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in ("PasswordAuthentication", "KbdInteractiveAuthentication",
                                            "PermitEmptyPasswords"):
            settings[words[0][0].lower() + words[0][1:]] = words[1]
    return settings


def configuration_inventory() -> list[dict[str, Any]]:
    """Every config key of the running stack: its name, whether it is a secret, whether a plain value holds a
    private key. Values themselves are never registered."""
    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    inventory = []
    for key in sorted(values):
        secret = runtime_config.is_config_secret(key) or key in runtime_config.get_config_secret_keys_env()
        value = values[key]
        plain_key = not secret and isinstance(value, str) and bool(_PRIVATE_KEY.search(value))
        inventory.append({"key": key, "secret": secret, "plainPrivateKey": plain_key})
    return inventory


def desired_state(spec: ClusterSpec, configuration: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    vault = spec.keys.vault
    kmip = vault.kmip
    state: dict[str, Any] = {
        "site": spec.site.name,
        "lab": spec.site.lab,
        "access": {
            "roles": {role.value: {"description": grant.description,
                                   "permissions": [{"action": p.action, "resources": list(p.resources)}
                                                   for p in grant.permissions]}
                      for role, grant in spec.access.roles.items()},
            "administrators": [{"name": a.name, "roles": [r.value for r in a.roles],
                                "authMethods": [m.value for m in a.auth_methods]} for a in spec.access.administrators],
        },
        "retention": {"dataDays": spec.retention.data_days, "importantDataDays": spec.retention.important_data_days,
                      "importantTags": list(spec.retention.important_tags),
                      "auditLogDays": spec.retention.audit_log_days},
        "audit": {"vaultAuditLogPath": vault.audit_log_path},
        "endpoints": [
            {"name": "vault-api", "address": vault.address, "tlsMinVersion": vault.tls_min_version},
            {"name": "kmip-listener", "address": ",".join(kmip.listen_addrs),
             "tlsMinVersion": {"tls12": "1.2", "tls13": "1.3"}[kmip.tls_min_version]}
            | ({"tlsException": kmip.tls_exception} if kmip.tls_exception else {}),
        ],
        "ssh": sshd_settings(),
        "configuration": configuration if configuration is not None else configuration_inventory(),
    }
    if spec.dr_site is not None:
        d = spec.dr_site
        state["drSite"] = {"name": d.name, "location": d.location, "latencyMs": d.latency_ms, "mode": d.mode}
    return state


class Governance(pulumi.ComponentResource):
    """The site's governance facts; one per cluster, named `<site>-governance`."""

    def __init__(self, name: str, spec: ClusterSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        state = desired_state(spec)
        super().__init__(TYPE, name, state, opts)
        self.retention = known(state["retention"])
        self.register_outputs({"retention": self.retention})
