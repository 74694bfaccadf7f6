"""Running the gateway and the stand-in engine with uvicorn: the runtime built from a stack's spec, the listen
address, and uvicorn's own limits (header size, keep-alive, connections) set from the spec's, and TLS from Vault PKI when
the spec's `gateway.tls` asks for it (components.gateway.tls)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import re
import signal
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn

from components.gateway import auditing, kafka_sink, keys, tls
from components.gateway.app import GatewayRuntime, create_app
from components.gateway.oidc import TokenVerifier
from components.gateway.redaction import Desensitizer
from components.spec.base import seconds
from components.spec.cluster import ClusterSpec
from components.spec.gateway import LISTEN_PATTERN


class ServeError(Exception):
    """Bad input to `gateway serve` or `engine standin`: one line, exit 2."""


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def parse_listen(text: str, what: str = "--listen") -> Listen:
    if not re.match(LISTEN_PATTERN, text):
        raise ServeError(f"{what} {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080")
    host, _, port = text.rpartition(":")
    if not 1 <= int(port) <= 65535:
        raise ServeError(f"{what} {text!r}: expected a port from 1 to 65535")
    return Listen(host.strip("[]"), int(port))


def check_engine_url(url: str) -> str:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise ServeError(f"--engine {url!r}: expected an OpenAI-compatible base URL, http://HOST:PORT") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServeError(f"--engine {url!r}: expected an OpenAI-compatible base URL, http://HOST:PORT")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ServeError(f"--engine {url!r}: expected the engine's base URL without a path (the gateway adds "
                         "/v1/...)")
    return url.rstrip("/")


def engines_of(spec: ClusterSpec, given: list[str] | None) -> list[str]:
    """The engine URLs: --engine, else the spec's gateway.engines, else the serving engine's port on loopback."""
    urls = given or list(spec.gateway.engines)
    if not urls and spec.serving is not None:
        urls = [f"http://127.0.0.1:{spec.serving.port}"]
    if not urls:
        raise ServeError("no engine: name one with --engine URL, or declare gateway.engines or serving in the spec")
    return [check_engine_url(u) for u in urls]


def runtime(spec: ClusterSpec, root: Path, stack: str, engines: list[str], key_store: Path | None = None,
            audit_log: Path | None = None) -> GatewayRuntime:
    gw = spec.gateway
    store = keys.KeyStore(key_store or (root / gw.key_store if gw.key_store else keys.default_path(root, stack)))
    audit_path = audit_log or (root / gw.audit_log if gw.audit_log else auditing.default_path(root, stack))
    desensitizer = Desensitizer(gw.desensitize)
    problems = desensitizer.check()
    if problems:
        raise ServeError(problems[0])
    verifier = TokenVerifier(gw.oidc, root) if gw.oidc else None
    if gw.oidc and not gw.oidc.jwks.startswith("https://") and not (root / gw.oidc.jwks).is_file():
        raise ServeError(f"gateway.oidc.jwks {gw.oidc.jwks!r}: no such file in the project — expected a JWKS file "
                         "or an https:// URL")
    audit = auditing.ChainedAudit(audit_path, spec.retention.audit_log_days)
    try:
        sink = kafka_sink.KafkaAuditSink.for_gateway(gw)
    except (ValueError, kafka_sink.KafkaClientMissing) as exc:
        raise ServeError(str(exc)) from None
    if sink is not None:  # every record also to the spec's Kafka topic; the file log stays the record of truth
        audit.log.add_sink(sink)
        atexit.register(sink.close)
    return GatewayRuntime(spec.access, gw, engines, store, audit, verifier, desensitizer)


def tls_rotator(spec: ClusterSpec, root: Path, vault: str | None = None, vault_ca: Path | None = None,
                token_file: Path | None = None) -> tls.Rotator | None:
    """The certificate rotator of `gateway.tls` (None without it): Vault at `vault`, else `keys.vault.address`;
    its CA bundle `vault_ca`, else the system's; the token from `token_file`, else `gateway.tls.token_file`,
    else `VAULT_TOKEN`. Nothing is issued yet (`Rotator.first`)."""
    settings = spec.gateway.tls
    if settings is None:
        if vault or vault_ca or token_file:
            raise ServeError("--tls-vault, --tls-vault-ca and --tls-token-file need gateway.tls in the spec "
                             "(its common_name at least; docs/gateway.md, \"TLS\")")
        return None
    if vault_ca is not None and not vault_ca.is_file():
        raise ServeError(f"--tls-vault-ca {vault_ca}: no such file — expected the CA bundle of Vault's API")
    request = tls.Request(settings.pki_mount or spec.keys.vault.pki.intermediate_mount, settings.vault_pki_role,
                          settings.common_name, tuple(settings.alt_names), tuple(settings.ip_sans),
                          seconds(settings.ttl))
    try:
        path = token_file or (root / settings.token_file if settings.token_file else None)
        # A file is read again before each issue; VaultPki reads it once now, so a missing or empty token stops
        # `serve` before it starts.
        source = (lambda: tls.read_token(path)) if path is not None else tls.read_token(None)
        pki = tls.VaultPki(vault or spec.keys.vault.address, source, request,
                           verify=str(vault_ca) if vault_ca else True)
        return tls.Rotator(pki.issue, settings.renew_at)
    except tls.TlsError as exc:
        raise ServeError(str(exc)) from None


def serve(rt: GatewayRuntime, listen: Listen, rotator: tls.Rotator | None = None) -> None:
    """Serve until stopped. With `rotator` (its first certificate installed): TLS 1.3 only, the certificate
    renewed in the server's event loop, and SIGHUP renews it at once."""
    limits = rt.spec.limits
    config = uvicorn.Config(
        create_app(rt), host=listen.host, port=listen.port, http="h11", lifespan="on", access_log=False,
        log_level="warning", server_header=False, timeout_keep_alive=5,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        limit_concurrency=2 * (limits.engine_concurrency + limits.queue_size) + 32,
        ssl_context_factory=(lambda _config, _default: rotator.context) if rotator else None)
    url = "https" + listen.url.removeprefix("http") if rotator else listen.url
    print(f"podforge gateway: listening on {url}, engines {', '.join(rt.engines)}", flush=True)
    server = uvicorn.Server(config)
    if rotator is None:
        server.run()
        return

    async def main() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, rotator.trigger)
        renewals = asyncio.create_task(rotator.run())
        try:
            await server.serve()
        finally:
            renewals.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewals

    from uvicorn._compat import asyncio_run

    asyncio_run(main(), loop_factory=config.get_loop_factory())


def serve_standin(listen: Listen, model: str, delay_s: float) -> None:
    from components.gateway.standin_engine import create_standin

    config = uvicorn.Config(create_standin(model, delay_s), host=listen.host, port=listen.port, http="h11",
                            lifespan="off", access_log=False, log_level="warning", server_header=False)
    print(f"podforge engine standin (simulated): listening on {listen.url}, model {model}", flush=True)
    uvicorn.Server(config).run()
