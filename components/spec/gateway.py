"""The inference gateway: where it listens, the engines behind it, how callers prove who they are, its limits,
and the desensitization policy per role (docs/gateway.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from components.spec.access import AccessRole
from components.spec.base import Duration, SpecModel, seconds

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


TLS_MAX_TTL = "72h"
"""The longest lifetime of the gateway's certificate: its key rotates at least every 72 hours."""


class GatewayTls(SpecModel):
    """TLS 1.3 with a certificate from Vault PKI (components.gateway.tls): issued at start, renewed before it
    expires and swapped in without dropping open connections."""

    common_name: str = Field(min_length=1, description="The certificate's common name (a name the PKI role "
                                                       "allows).")
    alt_names: list[str] = Field(default_factory=list, description="More DNS names in the certificate "
                                                                   "(`alt_names`).")
    ip_sans: list[str] = Field(default_factory=list, description="IP addresses in the certificate (`ip_sans`).")
    vault_pki_role: str = Field("service", min_length=1, description="The PKI role that issues it "
                                                                     "(`MOUNT/issue/ROLE`).")
    pki_mount: str | None = Field(None, description="The PKI mount; default `keys.vault.pki.intermediate_mount`.")
    ttl: Duration = Field(TLS_MAX_TTL, description="The certificate's lifetime, at most 72h.")
    renew_at: float = Field(2 / 3, gt=0, lt=1, description="Fraction of the lifetime after which the "
                                                           "certificate is renewed.")
    token_file: str | None = Field(None, description="File holding the Vault token, relative to the project; "
                                                     "default: the environment's `VAULT_TOKEN`.")

    @field_validator("ttl")
    @classmethod
    def _at_most_72h(cls, value: str) -> str:
        if seconds(value) > seconds(TLS_MAX_TTL) or seconds(value) == 0:
            raise ValueError("a lifetime from 1s to 72h (keys rotate at least every 72 hours)")
        return value


IMAGE_PATTERN = (r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
                 r"(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?@sha256:[a-f0-9]{64}$")
"""`NAME[:TAG]@sha256:DIGEST`: an image pinned by the digest of its manifest. The digest form is the OCI image
spec's (descriptor.md, "Digests": algorithm `sha256`, encoded portion `[a-f0-9]{64}`); the name and tag grammar
is distribution/reference's (reference.go: path components `[a-z0-9]+(?:[._-][a-z0-9]+)*`, tag: a word
character, then up to 127 word characters, `.` or `-`)."""
QUANTITY_PATTERN = r"^[1-9][0-9]*(Mi|Gi|Ti)$"
"""A storage size as Kubernetes writes quantities, in binary units (`50Gi`)."""


class Gateway(SpecModel):
    """The inference gateway in front of the engine (components.gateway)."""

    image: str | None = Field(None, description="The gateway's OCI image on the serving stack; none: no gateway "
                                                "there.")
    state_size: str = Field("50Gi", pattern=QUANTITY_PATTERN,
                            description="Size of the gateway's volume on Kubernetes (its key store and audit log, "
                                        "kept `retention.audit_log_days`), e.g. `50Gi`.")
    state_storage_class: str | None = Field(None, min_length=1,
                                            description="StorageClass of that volume; none: the cluster's "
                                                        "default.")

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
    # A Kafka topic name: letters, digits, `.`, `_`, `-`, at most 249 characters (Apache Kafka,
    # org.apache.kafka.common.internals.Topic: LEGAL_CHARS "[a-zA-Z0-9._-]", "max allowed length 249").
    audit_topic: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]{1,249}$",
                                    description="Kafka topic each audit record is also produced to (JSON, key = "
                                                "its seq), e.g. `podforge-audit-requests`; none: the file log "
                                                "only.")
    audit_bootstrap_servers: list[str] | None = Field(None, description="The Kafka brokers to reach the topic "
                                                                        "through, `HOST:PORT` each; needed with "
                                                                        "`audit_topic`.")
    limits: GatewayLimits = Field(default_factory=GatewayLimits, description="Sizes, queue, timeouts and rates.")
    tls: GatewayTls | None = Field(None, description="TLS 1.3 with a certificate from Vault PKI; without it the "
                                                     "gateway serves plain HTTP (behind a TLS ingress).")
    desensitize: dict[AccessRole, dict[str, DesensitizeAction]] = Field(
        default_factory=dict, description="Per role, category → `mask`, `hash` or `token`; every category a "
                                          "role does not name is masked.")

    @field_validator("image")
    @classmethod
    def _pinned_image(cls, value: str | None) -> str | None:
        import re

        if value is None:
            return value
        tag = re.search(r":([A-Za-z0-9_][A-Za-z0-9._-]*)(@|$)", value.rsplit("/", 1)[-1])
        if re.fullmatch(IMAGE_PATTERN, value) is None or (tag is not None and tag.group(1) == "latest"):
            raise ValueError("an image pinned by digest, NAME[:TAG]@sha256:<64 hex digits>, not tagged `latest`")
        return value

    @field_validator("audit_bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: list[str] | None) -> list[str] | None:
        import re

        if value is not None and (not value or any(re.fullmatch(LISTEN_PATTERN, v) is None for v in value)):
            raise ValueError("one or more Kafka brokers, `HOST:PORT` each (`[::1]:9092` for IPv6)")
        return value
