"""The inference gateway: the OpenAI-compatible front of the engine, with the spec's six roles enforced per
endpoint, personal data desensitized in prompts and completions (`components.gateway.desensitize`), and every
call appended to a tamper-evident audit log (`components.gateway.audit`).

The service (docs/gateway.md): `app` (the FastAPI app, endpoint by endpoint), `rbac` (identity → roles →
the permission each endpoint needs), `keys` (hashed API keys), `oidc` (bearer JWTs against a JWKS), `limits`
(rates, concurrency, the bounded engine queue), `engines` (replicas, health checks, failover), `redaction`
(desensitization applied to OpenAI bodies and streams), `auditing` (the audit record of a call), `metrics`,
`serve` (uvicorn), and `standin_engine` (the labelled stand-in engine)."""
