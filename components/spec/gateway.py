"""The inference gateway: where it listens, the engines behind it, how callers prove who they are, its limits,
and the desensitization policy per role (docs/gateway.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.spec.access import AccessRole
from components.spec.base import SpecModel

LISTEN_PATTERN = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$"
"""`HOST:PORT`, an IPv6 host in brackets (`[::1]:8080`)."""

DesensitizeAction = Literal["mask", "hash", "token"]


class RateLimit(SpecModel):
    """Limits one caller (a key) or all callers of one role share."""

    concurrency: int = Field(ge=1, description="Requests in flight at once; one more is refused with 429.")
    rate_per_s: float = Field(gt=0, description="Sustained requests per second (a token bucket refilled at "
                                                "this rate).")
    burst: int = Field(ge=1, description="Requests allowed at once above the sustained rate (the bucket's size).")


def _key_default() -> RateLimit:
    return RateLimit(concurrency=4, rate_per_s=10, burst=20)


def _role_default() -> RateLimit:
    return RateLimit(concurrency=32, rate_per_s=100, burst=200)


class GatewayLimits(SpecModel):
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body; a larger one is refused "
                                                                "with 413 before it is read whole.")
    max_headers: int = Field(64, ge=8, description="Most request header fields; more are refused with 431.")
    max_header_bytes: int = Field(16_384, ge=1024, description="Most bytes of all request header names and "
                                                               "values together; more are refused with 431.")
    engine_concurrency: int = Field(32, ge=1, description="Requests in flight to the engines at once, all "
                                                          "replicas together; the rest wait in the queue.")
    queue_size: int = Field(64, ge=0, description="Requests that may wait for an engine slot; one more is "
                                                  "refused at once with 429 and Retry-After.")
    queue_timeout_s: float = Field(10.0, gt=0, description="Deadline of a request in the queue; one that waits "
                                                           "longer is refused with 429 and Retry-After.")
    client_timeout_s: float = Field(15.0, gt=0, description="Time a client has to send its whole request body; "
                                                            "a slower one gets 408.")
    engine_timeout_s: float = Field(300.0, gt=0, description="Time an engine has to answer (to send each "
                                                             "chunk, when streaming); then the next replica is "
                                                             "tried, or 504.")
    per_key: RateLimit = Field(default_factory=_key_default, description="Limits of each API key or token "
                                                                         "subject.")
    role_default: RateLimit = Field(default_factory=_role_default, description="Limits of each role that "
                                                                               "`per_role` does not name.")
    per_role: dict[AccessRole, RateLimit] = Field(default_factory=dict, description="Limits shared by all "
                                                                                    "callers of a role.")


class GatewayOidc(SpecModel):
    issuer: str = Field(min_length=1, description="The `iss` every token must carry.")
    audience: str = Field(min_length=1, description="The `aud` every token must carry (the gateway's client id).")
    jwks: str = Field(min_length=1, description="The issuer's signing keys: a JWKS file (relative to the "
                                                "project) or an `https://` URL.")
    roles_claim: str = Field("roles", min_length=1, description="Claim holding the caller's role names (a list "
                                                                "or one string).")
    leeway_s: int = Field(30, ge=0, le=300, description="Clock skew allowed on `exp`, `nbf` and `iat`.")


class Gateway(SpecModel):
    """The inference gateway in front of the engine (components.gateway)."""

    listen: str = Field("127.0.0.1:8080", pattern=LISTEN_PATTERN, description="`HOST:PORT` the gateway "
                                                                               "listens on.")
    engines: list[str] = Field(default_factory=list, description="OpenAI-compatible base URLs of the engine "
                                                                 "replicas (`http://HOST:PORT`); empty: "
                                                                 "`http://127.0.0.1:` + `serving.port`.")
    health_interval_s: float = Field(5.0, gt=0, description="Seconds between health checks of each engine "
                                                            "replica (`GET /health`).")
    oidc: GatewayOidc | None = Field(None, description="OIDC bearer tokens; without it only API keys are "
                                                       "accepted.")
    key_store: str | None = Field(None, description="File of the hashed API keys, relative to the project; "
                                                    "default `state/STACK.gateway-keys.json`.")
    audit_log: str | None = Field(None, description="The audit log file, relative to the project; default "
                                                    "`state/STACK.gateway-audit.jsonl`.")
    limits: GatewayLimits = Field(default_factory=GatewayLimits, description="Sizes, queue, timeouts and rates.")
    desensitize: dict[AccessRole, dict[str, DesensitizeAction]] = Field(
        default_factory=dict, description="Per role, category → `mask`, `hash` or `token`; every category a "
                                          "role does not name is masked.")
