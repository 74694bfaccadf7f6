"""Key management: Vault (KMIP for arrays, transit for data at rest, PKI for service TLS)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from components.spec.base import Duration, Name, SpecModel

KMIP_OPERATIONS = (
    "activate", "add_attribute", "create", "create_key_pair", "decrypt", "delete_attribute", "destroy",
    "discover_versions", "encrypt", "get", "get_attribute_list", "get_attributes", "import", "locate",
    "mac", "mac_verify", "modify_attribute", "query", "register", "rekey", "rekey_key_pair", "revoke",
    "rng_retrieve", "rng_seed", "sign", "signature_verify",
)
"""Vault KMIP role operation flags (`operation_<name>`); `all`/`none` are deliberately absent."""

KmipOperation = Literal[KMIP_OPERATIONS]  # type: ignore[valid-type]

HostPort = Annotated[str, StringConstraints(pattern=r"^[^\s:/]+:\d{1,5}$")]
"""`HOST:PORT`, e.g. `10.10.4.10:5696`."""


class KmipScope(SpecModel):
    array: Name = Field(description="The storage array this scope serves (one scope per array).")
    scope: Name = Field(description="Vault KMIP scope name.")
    role: Name = Field(description="Role inside the scope; its certificate is the array's KMIP client cert.")
    operations: list[KmipOperation] = Field(min_length=1, description="Only what the array's KMIP client needs.")


class Kmip(SpecModel):
    mount: str = Field("kmip", description="Vault mount path of the KMIP secrets engine.")
    listen_addrs: list[HostPort] = Field(min_length=1, description="HOST:PORT the KMIP listener binds (5696).")
    server_hostnames: list[str] = Field(default_factory=list, description="DNS names in the listener's certificate.")
    server_ips: list[str] = Field(default_factory=list, description="IP addresses in the listener's certificate.")
    tls_min_version: Literal["tls12", "tls13"] = Field("tls13", description="Lowest TLS version the listener accepts.")
    tls_exception: str | None = Field(None, description="Why the listener must accept TLS 1.2 (required for tls12).")
    port_exception: str | None = Field(None, description="Why a listen address is not on KMIP's port 5696 "
                                                         "(required then).")
    client_cert_ttl: Duration = Field("72h", description="Lifetime of client certificates handed to arrays.")
    scopes: list[KmipScope] = Field(default_factory=list, description="One scope per array that encrypts via KMIP.")


class TransitKey(SpecModel):
    name: Name = Field(description="Transit key name.")
    type: Literal["aes256-gcm96", "aes128-gcm96", "chacha20-poly1305"] = Field("aes256-gcm96", description="Key type.")
    rotation_period: Duration = Field(description="auto_rotate_period (≥ 1h); ≤ 72h for MLPS level 3 sites.")
    purpose: str = Field(description="What the key protects, for people.")


class Transit(SpecModel):
    mount: str = Field("transit", description="Vault mount path of the transit engine.")
    keys: list[TransitKey] = Field(min_length=1, description="Keys for data at rest.")


class Pki(SpecModel):
    mount: str = Field("pki", description="Vault mount path of the root CA.")
    intermediate_mount: str = Field("pki_int", description="Vault mount path of the issuing (intermediate) CA.")
    common_name: str = Field(description="CA common name.")
    allowed_domains: list[str] = Field(min_length=1, description="Domains service certificates may name.")
    cert_ttl: Duration = Field("72h", description="Lifetime of issued service certificates (≤ 72h).")
    key_type: Literal["ec", "rsa", "ed25519"] = Field("ec", description="CA and certificate key type.")
    key_bits: int = Field(256, description="Key size (256 for ec; 2048+ for rsa).")


class Vault(SpecModel):
    address: str = Field(pattern=r"^https://\S+$", description="Vault API address, https://HOST:8200 (TLS only).")
    tls_min_version: Literal["1.2", "1.3"] = Field("1.3", description="Lowest TLS version of the Vault API.")
    port_exception: str | None = Field(None, description="Why the address is not on Vault's port 8200 "
                                                         "(required then).")
    audit_log_path: str = Field("/var/log/vault/audit.log", description="File audit device path.")
    kmip: Kmip
    transit: Transit
    pki: Pki


class Keys(SpecModel):
    vault: Vault
