"""The access model: the six roles (docs/conventions.md), their permissions, and administrators."""

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


ACTION_PATTERN = r"^[^\s:]+:[^\s:]+$"


class Permission(SpecModel):
    # The format is checked with the cross-references (checks.py), so a `*` is reported with the rest of
    # the access section's problems; the pattern here only guides editors.
    action: str = Field(min_length=1, json_schema_extra={"pattern": ACTION_PATTERN.replace(":]", ":*]")},
                        description="`AREA:VERB` on an API endpoint, never `*`.")
    resources: list[str] = Field(default_factory=lambda: ["any"],
                                 description="Resource names; a pattern may end in a prefix wildcard (`dataset_2023*`).")


class RoleGrant(SpecModel):
    description: str = Field(description="What the role holds, for people.")
    permissions: list[Permission] = Field(min_length=1, description="Actions the role may take.")


class Administrator(SpecModel):
    name: Name = Field(description="Account name.")
    roles: list[AccessRole] = Field(min_length=1, description="Roles this person holds.")
    auth_methods: list[AuthMethod] = Field(min_length=1, description="Must include a second factor.")


class Access(SpecModel):
    roles: dict[AccessRole, RoleGrant] = Field(description="All six roles, each with its permissions.")
    administrators: list[Administrator] = Field(min_length=1, description="People who hold roles.")
