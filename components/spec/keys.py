"""Key management: Vault (KMIP for arrays, transit for data at rest, PKI for service TLS)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.spec.base import Duration, Name, SpecModel

KMIP_OPERATIONS = (
    "activate", "add_attribute", "create", "create_key_pair", "decrypt", "delete_attribute", "destroy",
    "discover_versions", "encrypt", "get", "get_attribute_list", "get_attributes", "import", "locate",
    "mac", "mac_verify", "modify_attribute", "query", "register", "rekey", "rekey_key_pair", "revoke",
    "rng_retrieve", "rng_seed", "sign", "signature_verify",
)
"""Vault KMIP role operation flags (`operation_<name>`); `all`/`none` are deliberately absent."""

KmipOperation = Literal[KMIP_OPERATIONS]  # type: ignore[valid-type]


class KmipScope(SpecModel):
    array: Name = Field(description="The storage array this scope serves (one scope per array).")
    scope: Name
    role: Name
    operations: list[KmipOperation] = Field(min_length=1, description="Only what the array's KMIP client needs.")


class Kmip(SpecModel):
    mount: str = "kmip"
    listen_addrs: list[str] = Field(min_length=1, description="HOST:PORT the KMIP listener binds (5696).")
    server_hostnames: list[str] = Field(default_factory=list)
    server_ips: list[str] = Field(default_factory=list)
    tls_min_version: Literal["tls12", "tls13"] = "tls13"
    tls_exception: str | None = Field(None, description="Why the listener must accept TLS 1.2 (required for tls12).")
    client_cert_ttl: Duration = Field("72h", description="Lifetime of client certificates handed to arrays.")
    scopes: list[KmipScope] = Field(default_factory=list)


class TransitKey(SpecModel):
    name: Name
    type: Literal["aes256-gcm96", "aes128-gcm96", "chacha20-poly1305"] = "aes256-gcm96"
    rotation_period: Duration = Field(description="auto_rotate_period (≥ 1h); ≤ 72h for MLPS level 3 sites.")
    purpose: str = Field(description="What the key protects, for people.")


class Transit(SpecModel):
    mount: str = "transit"
    keys: list[TransitKey] = Field(min_length=1)


class Pki(SpecModel):
    mount: str = "pki"
    intermediate_mount: str = "pki_int"
    common_name: str = Field(description="CA common name.")
    allowed_domains: list[str] = Field(min_length=1)
    cert_ttl: Duration = Field("72h", description="Lifetime of issued service certificates (≤ 72h).")
    key_type: Literal["ec", "rsa", "ed25519"] = "ec"
    key_bits: int = 256


class Vault(SpecModel):
    address: str = Field(pattern=r"^https?://\S+$")
    tls_min_version: Literal["1.2", "1.3"] = "1.3"
    audit_log_path: str = "/var/log/vault/audit.log"
    kmip: Kmip
    transit: Transit
    pki: Pki


class Keys(SpecModel):
    vault: Vault
