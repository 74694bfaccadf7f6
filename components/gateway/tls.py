"""The gateway's TLS: TLS 1.3 only, a certificate from Vault PKI with a lifetime of at most 72 hours, renewed
before it expires and swapped into the serving context without dropping open connections (docs/gateway.md).

How the reload works: uvicorn serves with one `ssl.SSLContext` (its `ssl_context_factory`). asyncio's TLS
transport makes a new `SSL` object from that context for every accepted connection ("The new structure
inherits the settings of the underlying context ctx", OpenSSL SSL_new(3)), and `SSL_new` copies the context's
certificate and key into it (`s->cert = ssl_cert_dup(ctx->cert)`, OpenSSL ssl/ssl_lib.c: "we don't look at
the SSL_CTX's CERT after having duplicated it once"). Calling
`context.load_cert_chain(...)` again on the same context therefore changes what new handshakes present and
leaves established connections as they are (the approach suggested for Tornado, tornadoweb/tornado#2895;
tests/unit/test_gateway_tls.py checks it with Python's ssl module). The reload runs in the server's event loop
thread, the thread that makes the `SSL` objects, so the two never run at once; only the call to Vault runs in
a worker thread.

The private key never stays on disk: `load_cert_chain` reads files, so each new chain is written to a fresh
0700 directory as 0600 files, loaded (first into a scratch context, to check that key and certificate match,
then into the serving one) and removed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import shutil
import ssl
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509

MAX_TTL_S = 72 * 3600
"""The longest certificate lifetime the gateway accepts: keys rotated at least every 72 hours."""

CLOCK_SKEW_S = 60
"""Allowance between the gateway's clock and Vault's when checking an issued certificate's expiry."""

RETRY_S = 30.0
"""Seconds between attempts when a renewal fails (the current certificate keeps serving meanwhile)."""


class TlsError(Exception):
    """A TLS setting or a Vault answer the gateway refuses: one line, never a token or a key."""


def check_ttl(ttl_s: int) -> int:
    """The TTL to request, in seconds; a TTL over 72 hours (or not positive) is refused."""
    if ttl_s <= 0:
        raise TlsError(f"certificate ttl {ttl_s}s: expected a positive lifetime of at most 72h")
    if ttl_s > MAX_TTL_S:
        raise TlsError(f"certificate ttl {ttl_s}s ({ttl_s / 3600:g}h): expected at most 72h (259200s); keys "
                       "rotate at least every 72 hours")
    return ttl_s


def check_renew_at(fraction: float) -> float:
    if not 0 < fraction < 1:
        raise TlsError(f"renew_at {fraction!r}: expected a fraction of the lifetime between 0 and 1, e.g. 0.667")
    return fraction


def server_context() -> ssl.SSLContext:
    """A server context that speaks TLS 1.3 and nothing else; it has no certificate yet (see `install`)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_NONE  # callers prove who they are with API keys or tokens, not certificates
    context.options |= ssl.OP_NO_COMPRESSION
    return context


@dataclass(frozen=True)
class Issued:
    """One certificate from Vault: the chain to serve (leaf first) and its key; `repr` never shows the key."""

    chain_pem: str
    key_pem: str = field(repr=False)
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    issued_at: dt.datetime
    ca_pem: str = ""

    @property
    def lifetime_s(self) -> float:
        """Seconds from issuance to expiry (Vault may backdate `not_before` by a few seconds for clock skew)."""
        return (self.not_after - self.issued_at).total_seconds()

    def renew_time(self, renew_at: float) -> dt.datetime:
        """When to renew: `renew_at` of the lifetime after issuance."""
        return self.issued_at + dt.timedelta(seconds=self.lifetime_s * renew_at)


def parse_issued(data: dict, requested_ttl_s: int, issued_at: dt.datetime) -> Issued:
    """Vault's answer to `PKI_MOUNT/issue/ROLE` (`certificate`, `issuing_ca`, `ca_chain`, `private_key`,
    `serial_number`; Vault API docs, "PKI secrets engine (API)", "Generate certificate and key"), checked:
    a certificate that outlives the requested TTL (plus `CLOCK_SKEW_S`) is refused."""
    try:
        leaf_pem, key_pem = data["certificate"], data["private_key"]
    except (KeyError, TypeError):
        raise TlsError("Vault's answer has no certificate and private key (expected the data of pki/issue)") \
            from None
    cert = x509.load_pem_x509_certificate(leaf_pem.encode())
    chain = [leaf_pem.strip()]
    for pem in data.get("ca_chain") or ([data["issuing_ca"]] if data.get("issuing_ca") else []):
        if pem.strip() not in chain:
            chain.append(pem.strip())
    not_after = cert.not_valid_after_utc
    limit = issued_at + dt.timedelta(seconds=requested_ttl_s + CLOCK_SKEW_S)
    if not_after > limit:
        raise TlsError(f"Vault issued a certificate valid until {not_after:%Y-%m-%dT%H:%M:%SZ}, beyond the "
                       f"requested {requested_ttl_s}s; refused (check the role's ttl and max_ttl)")
    if not_after <= issued_at:
        raise TlsError("Vault issued a certificate that has already expired; refused")
    return Issued("\n".join(chain) + "\n", key_pem, data.get("serial_number") or f"{cert.serial_number:x}",
                  cert.not_valid_before_utc, not_after, issued_at, (data.get("issuing_ca") or "").strip())


def _write_private(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(text)
    return path


def install(context: ssl.SSLContext, issued: Issued) -> None:
    """Load `issued` into `context` in place: new handshakes present it, open connections keep theirs.

    The pair is loaded into a scratch context first, so a key that does not match its certificate is refused
    before the serving context is touched. Call it from the thread that accepts connections."""
    directory = Path(tempfile.mkdtemp(prefix="podforge-gateway-tls-"))  # mode 0700
    try:
        cert = _write_private(directory, "chain.pem", issued.chain_pem)
        key = _write_private(directory, "key.pem", issued.key_pem)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
        except ssl.SSLError as exc:
            raise TlsError(f"the certificate from Vault does not load: {exc.reason or exc}") from None
        context.load_cert_chain(cert, key)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def check_vault_address(address: str) -> str:
    """`https://…`, or `http://` on a loopback address only (a dev server beside the gateway): a token never
    crosses the network in clear."""
    parts = urlsplit(address)
    if parts.scheme == "https" and parts.hostname:
        return address.rstrip("/")
    if parts.scheme == "http" and parts.hostname:
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
        if loopback:
            return address.rstrip("/")
    raise TlsError(f"Vault address {address!r}: expected https://HOST:PORT (http:// only on a loopback address)")


def read_token(token_file: Path | None, environ: dict[str, str] | None = None) -> str:
    """The Vault token: the file's first line, else `VAULT_TOKEN`; never printed."""
    env = os.environ if environ is None else environ
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TlsError(f"Vault token file {token_file}: {exc.strerror or exc}") from None
        if not token:
            raise TlsError(f"Vault token file {token_file} is empty")
        return token
    token = env.get("VAULT_TOKEN", "").strip()
    if not token:
        raise TlsError("no Vault token: set VAULT_TOKEN or name a token file (--tls-token-file)")
    return token


@dataclass(frozen=True)
class Request:
    """What to ask Vault PKI for."""

    mount: str
    role: str
    common_name: str
    alt_names: tuple[str, ...] = ()
    ip_sans: tuple[str, ...] = ()
    ttl_s: int = MAX_TTL_S

    def params(self) -> dict:
        params: dict = {"ttl": f"{check_ttl(self.ttl_s)}s", "format": "pem", "private_key_format": "pkcs8"}
        if self.alt_names:
            params["alt_names"] = ",".join(self.alt_names)
        if self.ip_sans:
            params["ip_sans"] = ",".join(self.ip_sans)
        return params


class VaultPki:
    """Issues certificates from `MOUNT/issue/ROLE` with hvac.

    `token` is the token, or a callable giving the current one, asked before each issue: a token file that a
    Vault Agent sink keeps fresh is read again each time. Before each issue a renewable token is renewed
    (`auth/token/renew-self`, in Vault's default policy), so a gateway that outlives its token's TTL still renews
    its certificate; a token that is not renewable (a root token) is used as it is.
    """

    def __init__(self, address: str, token: str | Callable[[], str], request: Request, verify: str | bool = True,
                 timeout_s: float = 30.0) -> None:
        import hvac

        check_ttl(request.ttl_s)
        self.request = request
        self._token = token if callable(token) else (lambda: token)
        self._client = hvac.Client(url=check_vault_address(address), token=self._token(), verify=verify,
                                   timeout=timeout_s)

    def _fresh_token(self) -> None:
        self._client.token = self._token()
        info = self._client.auth.token.lookup_self().get("data") or {}
        if info.get("renewable") and info.get("ttl"):
            self._client.auth.token.renew_self()

    def __repr__(self) -> str:  # never the token
        return f"VaultPki({self.request.mount}/issue/{self.request.role})"

    def issue(self) -> Issued:
        import hvac.exceptions
        import requests

        r = self.request
        where = f"Vault PKI {r.mount}/issue/{r.role}"
        issued_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        try:
            self._fresh_token()
            answer = self._client.secrets.pki.generate_certificate(r.role, r.common_name, extra_params=r.params(),
                                                                   mount_point=r.mount)
        except hvac.exceptions.VaultError as exc:
            errors = "; ".join(str(e) for e in (exc.errors or [])) or type(exc).__name__
            raise TlsError(f"{where}: {errors}") from None
        except requests.RequestException as exc:
            raise TlsError(f"{where}: cannot reach Vault ({type(exc).__name__})") from None
        return parse_issued(answer.get("data") if isinstance(answer, dict) else None, r.ttl_s, issued_at)


def _log(message: str) -> None:
    print(f"podforge gateway: {message}", file=sys.stderr, flush=True)


class Rotator:
    """Keeps the serving context's certificate fresh: renews at `renew_at` of each lifetime, or at once on
    `trigger()` (SIGHUP); a failed renewal is retried every `RETRY_S` while the current certificate serves."""

    def __init__(self, issue: Callable[[], Issued], renew_at: float = 2 / 3,
                 log: Callable[[str], None] = _log) -> None:
        self.context = server_context()
        self.renew_at = check_renew_at(renew_at)
        self._issue, self._log = issue, log
        self.current: Issued | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def first(self) -> Issued:
        """The first certificate, before the server starts (a failure here stops `serve`)."""
        issued = self._issue()
        install(self.context, issued)
        self._installed(issued, "issued")
        return issued

    def _installed(self, issued: Issued, what: str) -> None:
        # the serial and the dates are public (every client sees them); the key is never logged
        self.current = _public(issued)
        self._log(f"TLS certificate {what}: serial {issued.serial}, valid until "
                  f"{issued.not_after:%Y-%m-%dT%H:%M:%SZ}, renewal at "
                  f"{issued.renew_time(self.renew_at):%Y-%m-%dT%H:%M:%SZ}")

    async def renew(self) -> Issued:
        """Issue a new certificate (in a worker thread) and install it (in this, the serving, thread)."""
        issued = await asyncio.to_thread(self._issue)
        install(self.context, issued)
        self._installed(issued, "renewed")
        return issued

    def trigger(self) -> None:
        """Renew now (thread- and signal-safe)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Renew for as long as the server runs."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        delay = self._delay()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()
            try:
                await self.renew()
            except TlsError as exc:
                self._log(f"TLS renewal failed, retrying in {RETRY_S:g}s (the current certificate keeps "
                          f"serving): {exc}")
                delay = RETRY_S
                continue
            delay = self._delay()

    def _delay(self) -> float:
        assert self.current is not None
        left = (self.current.renew_time(self.renew_at) - dt.datetime.now(dt.UTC)).total_seconds()
        return max(left, 0.0)


def _public(issued: Issued) -> Issued:
    """The record kept after installing: everything but the key."""
    return Issued(issued.chain_pem, "", issued.serial, issued.not_before, issued.not_after, issued.issued_at,
                  issued.ca_pem)
