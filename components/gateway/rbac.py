"""Who may do what: an identity's roles, the spec's permissions (`access.roles`), and the permission each
endpoint needs. Deny by default: an action no role of the caller grants, on a resource none of its patterns
matches, is refused; administrator endpoints also need a second factor.

Pure: no I/O. The routes of components.gateway.app name their requirement from ENDPOINTS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from components.spec.access import Access, AccessRole

ADMIN_ROLES = frozenset({AccessRole.system_admin, AccessRole.security_admin, AccessRole.audit_admin})
"""The three administrator roles (三员分立, docs/conventions.md): one person holds one of them."""

ANY = "any"
"""The resource pattern that matches every resource (the spec's default)."""

# RFC 8176 section 2 (Authentication Method Reference Values): the `amr` values that prove a factor beyond a
# password: "hwk" (proof-of-possession of a hardware-secured key), "swk" (of a software-secured key), "otp"
# (one-time password), "sc" (smart card), "mfa" (multiple-factor authentication), "sms" and "tel" (confirmation
# by text message / telephone call). The spec's own method names (components.spec.access.SECOND_FACTORS) are
# accepted as well, for issuers that write those.
SECOND_FACTOR_AMR = frozenset({"hwk", "swk", "otp", "sc", "mfa", "sms", "tel",
                               "totp", "webauthn", "smartcard", "ssh_key", "client_cert"})


@dataclass(frozen=True)
class Identity:
    """A caller who proved who they are: an API key or an OIDC token's subject."""

    kind: str
    """`key` or `token`."""
    subject: str
    """The key's id, or the token's `sub` (never the key itself)."""
    roles: frozenset[AccessRole]
    second_factor: bool = False
    """The token's `amr` names a second factor (an API key never has one)."""
    name: str = ""
    """For people: the key's name, or the token's subject."""

    @property
    def bucket(self) -> str:
        """The per-caller limit this identity counts against."""
        return f"{self.kind}:{self.subject}"

    @property
    def effective_roles(self) -> frozenset[AccessRole]:
        """The roles this identity acts in: an identity claiming two or more administrator roles acts in none
        of them, so system, security and audit administration stay apart whatever a token claims."""
        admin = self.roles & ADMIN_ROLES
        return self.roles - admin if len(admin) > 1 else self.roles

    @property
    def role_label(self) -> str:
        return ",".join(sorted(r.value for r in self.effective_roles)) or "-"


@dataclass(frozen=True)
class Requirement:
    """What an endpoint needs: one action of the spec, and whether it is an administrator endpoint."""

    action: str
    admin: bool = False


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    requirement: Requirement | None
    """None: open (`/health`)."""
    resource: str = field(default="")
    """What the action acts on, for people: the request's model, the key's name, …"""


# Every route and the permission it needs, with the spec's own action names (specs/lab.yaml `access`).
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("POST", "/v1/chat/completions", Requirement("inference:invoke"), "the request's `model`"),
    Endpoint("POST", "/v1/completions", Requirement("inference:invoke"), "the request's `model`"),
    Endpoint("GET", "/v1/models", Requirement("inference:invoke"), "each model listed (the list is filtered)"),
    Endpoint("GET", "/metrics", Requirement("metrics:view"), "`gateway`"),
    Endpoint("GET", "/health", None),
    Endpoint("GET", "/admin/keys", Requirement("keys:manage", admin=True), "each key's name (the list is filtered)"),
    Endpoint("POST", "/admin/keys", Requirement("keys:manage", admin=True), "the new key's `name`"),
    Endpoint("DELETE", "/admin/keys/{key_id}", Requirement("keys:manage", admin=True), "the key's name"),
    Endpoint("GET", "/admin/audit", Requirement("audit:read", admin=True), "`gateway-audit`"),
)
METRICS_RESOURCE = "gateway"
AUDIT_RESOURCE = "gateway-audit"


def requirement(method: str, path: str) -> Requirement | None:
    return next(e.requirement for e in ENDPOINTS if e.method == method and e.path == path)


def matches(pattern: str, resource: str) -> bool:
    """`any` matches everything; `dataset_2023*` every name starting `dataset_2023`; otherwise the name itself."""
    if pattern == ANY:
        return True
    if pattern.endswith("*"):
        return resource.startswith(pattern[:-1])
    return resource == pattern


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int
    """200 when allowed; 401 without an identity; 403 otherwise."""
    permission: str
    reason: str
    """For the audit record and the 403 body: says what was missing, nothing else."""


class Authorizer:
    """The spec's grants, looked up per role and action."""

    def __init__(self, access: Access) -> None:
        self._grants: dict[AccessRole, dict[str, tuple[str, ...]]] = {}
        for role, grant in access.roles.items():
            per_action: dict[str, list[str]] = {}
            for permission in grant.permissions:
                per_action.setdefault(permission.action, []).extend(permission.resources)
            self._grants[role] = {action: tuple(patterns) for action, patterns in per_action.items()}

    def patterns(self, identity: Identity, action: str) -> tuple[str, ...]:
        """Every resource pattern the identity's roles grant for `action` (none: the action is not granted)."""
        return tuple(p for role in sorted(identity.effective_roles)
                     for p in self._grants.get(role, {}).get(action, ()))

    def allowed_on(self, identity: Identity, action: str, resources: Iterable[str]) -> list[str]:
        """The resources among `resources` the identity may act on (for filtered lists)."""
        patterns = self.patterns(identity, action)
        return [r for r in resources if any(matches(p, r) for p in patterns)]

    def decide(self, identity: Identity | None, req: Requirement, resource: str | None) -> Decision:
        """Allowed only if a role of the identity grants `req.action` on `resource` (None: on some resource),
        and, for an administrator endpoint, the identity proved a second factor."""
        action = req.action
        if identity is None:
            return Decision(False, 401, action, f"authentication required for {action}")
        patterns = self.patterns(identity, action)
        granted = bool(patterns) if resource is None else any(matches(p, resource) for p in patterns)
        if not granted:
            return Decision(False, 403, action, f"missing permission {action}")
        if req.admin and not identity.second_factor:
            return Decision(False, 403, action, f"{action} needs a second factor (amr)")
        return Decision(True, 200, action, "allowed")
