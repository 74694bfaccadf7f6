"""The access model: the six roles (CONVENTIONS.md), their permissions, and administrators."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from components.spec.base import Name, SpecModel


class AccessRole(StrEnum):
    system_admin = "system_admin"
    security_admin = "security_admin"
    audit_admin = "audit_admin"
    model_engineer = "model_engineer"
    data_analyst = "data_analyst"
    api_user = "api_user"


class AuthMethod(StrEnum):
    password = "password"
    totp = "totp"
    webauthn = "webauthn"
    smartcard = "smartcard"
    ssh_key = "ssh_key"
    client_cert = "client_cert"


SECOND_FACTORS = {AuthMethod.totp, AuthMethod.webauthn, AuthMethod.smartcard, AuthMethod.ssh_key,
                  AuthMethod.client_cert}
CRYPTOGRAPHIC = {AuthMethod.webauthn, AuthMethod.smartcard, AuthMethod.ssh_key, AuthMethod.client_cert}


class Permission(SpecModel):
    action: str = Field(pattern=r"^[^\s:]+:[^\s:]+$", description="`AREA:VERB` on an API endpoint, never `*`.")
    resources: list[str] = Field(default_factory=lambda: ["any"],
                                 description="Resource names; a pattern may end in a prefix wildcard (`dataset_2023*`).")


class RoleGrant(SpecModel):
    description: str
    permissions: list[Permission] = Field(min_length=1)


class Administrator(SpecModel):
    name: Name
    roles: list[AccessRole] = Field(min_length=1)
    auth_methods: list[AuthMethod] = Field(min_length=1, description="Must include a second factor.")


class Access(SpecModel):
    roles: dict[AccessRole, RoleGrant]
    administrators: list[Administrator] = Field(min_length=1)
