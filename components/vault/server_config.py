"""The Vault-API server's own config for what its API cannot set: the TLS listener and the audit device.

The listener's floor comes from keys.vault.tls_min_version. OpenBao refuses audit devices over its API, so
the audit device VaultKmip declares (a `vault.Audit`) is also rendered here, from its declared inputs.
"""

from __future__ import annotations

import json
from typing import Any

from components.spec.keys import Vault

_LISTENER_TLS = {"1.3": "tls13"}


def listener_stanza(vault: Vault, address: str, cert_file: str, key_file: str) -> str:
    """A TCP listener with TLS at the spec's floor; the spec declares no exception for Vault's own API."""
    version = _LISTENER_TLS.get(vault.tls_min_version)
    if version is None:
        raise ValueError(f"keys.vault.tls_min_version: {vault.tls_min_version} — 1.3 (Vault's API is podforge's own "
                         "endpoint; no peer of it needs TLS 1.2)")
    return "\n".join([
        'listener "tcp" {',
        f"  address = {json.dumps(address)}",
        f"  tls_cert_file = {json.dumps(cert_file)}",
        f"  tls_key_file = {json.dumps(key_file)}",
        f"  tls_min_version = {json.dumps(version)}",
        "}", ""])


def audit_stanza(audit_inputs: dict[str, Any], file_path: str | None = None) -> str:
    """The config form of a declared `vault.Audit`; `file_path` overrides the site path (tests, the lab)."""
    options = dict(audit_inputs.get("options") or {})
    if file_path is not None:
        options["file_path"] = file_path
    body = "\n".join(f"    {key} = {json.dumps(str(value))}" for key, value in options.items())
    path = audit_inputs.get("path") or audit_inputs["type"]
    return f"audit {json.dumps(audit_inputs['type'])} {json.dumps(path)} {{\n  options {{\n{body}\n  }}\n}}\n"
