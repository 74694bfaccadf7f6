"""The gateway's TLS, in process: the 72-hour ceiling on the certificate's lifetime (settings, spec and Vault's
answer), a TLS-1.3-only context, a certificate swapped in place on the serving context (new handshakes see the
new one, an open connection keeps working), renewal on trigger, and the Vault address and token rules."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cryptography import x509
from pydantic import ValidationError

from components.gateway import tls
from components.gateway.serve import ServeError, tls_rotator
from components.spec import load_stack_spec
from components.spec.gateway import GatewayTls
from tests.integration.servers import LOOPBACK, Issued, issue, make_ca


def _issued(ca: Issued, ttl_s: int = 3600, key_from: Issued | None = None) -> tls.Issued:
    """A certificate made here, shaped as `parse_issued` makes Vault's."""
    leaf = issue(ca, "gateway.test", server=True, ttl_seconds=ttl_s)
    data = {"certificate": leaf.cert_pem.decode(), "issuing_ca": ca.cert_pem.decode(),
            "ca_chain": [ca.cert_pem.decode()], "private_key": (key_from or leaf).key_pem.decode(),
            "serial_number": f"{leaf.cert.serial_number:x}"}
    return tls.parse_issued(data, ttl_s, dt.datetime.now(dt.UTC))


def _serial(der: bytes) -> str:
    return f"{x509.load_der_x509_certificate(der).serial_number:x}"


# --- the 72-hour ceiling ----------------------------------------------------------------------------------


def test_a_ttl_over_72_hours_is_refused() -> None:
    assert tls.check_ttl(72 * 3600) == 259200
    with pytest.raises(tls.TlsError, match="at most 72h"):
        tls.check_ttl(72 * 3600 + 1)
    with pytest.raises(tls.TlsError, match="positive"):
        tls.check_ttl(0)
    with pytest.raises(tls.TlsError, match="at most 72h"):
        tls.Request("pki", "service", "gw", ttl_s=73 * 3600).params()


def test_the_vault_client_refuses_a_long_ttl_before_asking_vault() -> None:
    request = tls.Request("pki", "service", "gw", ttl_s=100 * 3600)
    with pytest.raises(tls.TlsError, match="at most 72h"):
        tls.VaultPki("http://127.0.0.1:1", "token-not-used", request)


def test_the_spec_refuses_a_ttl_over_72_hours() -> None:
    assert GatewayTls(common_name="gw").ttl == "72h"
    assert GatewayTls(common_name="gw").renew_at == pytest.approx(2 / 3)
    for bad in ("73h", "4d", "0s"):
        with pytest.raises(ValidationError, match="from 1s to 72h"):
            GatewayTls(common_name="gw", ttl=bad)
    for fraction in (0, 1, 1.5):
        with pytest.raises(ValidationError):
            GatewayTls(common_name="gw", renew_at=fraction)


def test_a_certificate_outliving_the_requested_ttl_is_refused() -> None:
    ca = make_ca("tls unit CA")
    leaf = issue(ca, "gateway.test", server=True, ttl_seconds=80 * 3600)
    data = {"certificate": leaf.cert_pem.decode(), "private_key": leaf.key_pem.decode(), "serial_number": "01"}
    with pytest.raises(tls.TlsError, match="beyond the requested"):
        tls.parse_issued(data, 72 * 3600, dt.datetime.now(dt.UTC))
    with pytest.raises(tls.TlsError, match="no certificate"):
        tls.parse_issued({"serial_number": "01"}, 3600, dt.datetime.now(dt.UTC))


def test_the_chain_is_leaf_first_and_the_renewal_time_a_fraction_of_the_lifetime() -> None:
    ca = make_ca("tls unit CA")
    issued = _issued(ca, ttl_s=3000)
    certs = x509.load_pem_x509_certificates(issued.chain_pem.encode())
    assert [c.subject for c in certs] == [certs[0].subject, ca.cert.subject]
    assert certs[0].issuer == ca.cert.subject
    assert 2990 <= issued.lifetime_s <= 3000
    renew = (issued.renew_time(1 / 3) - issued.issued_at).total_seconds()
    assert renew == pytest.approx(issued.lifetime_s / 3)
    assert "PRIVATE KEY" not in repr(issued)


# --- the context ------------------------------------------------------------------------------------------


def test_the_server_context_is_tls_1_3_only() -> None:
    context = tls.server_context()
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert context.maximum_version == ssl.TLSVersion.TLSv1_3
    assert context.verify_mode == ssl.CERT_NONE


@contextmanager
def _echo_server(context: ssl.SSLContext) -> Iterator[int]:
    """An asyncio TLS echo server on a loopback port, in its own thread, serving with `context`; `install`
    runs in that loop's thread, as the gateway's Rotator does."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.readline():
            writer.write(data)
            await writer.drain()
        writer.close()

    async def start() -> None:
        holder["server"] = await asyncio.start_server(handle, LOOPBACK, 0, ssl=context)
        holder["port"] = holder["server"].sockets[0].getsockname()[1]
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert started.wait(10)
    holder["loop"] = loop
    try:
        yield holder
    finally:
        # Closed in the loop's own thread: asyncio's Server is not thread-safe, and closing it from here raced
        # with a connection ending in the loop (Server._wakeup ran twice).
        _in_loop(holder, holder["server"].close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def _in_loop(holder: dict, fn, *args):
    return asyncio.run_coroutine_threadsafe(_call(fn, *args), holder["loop"]).result(10)


async def _call(fn, *args):
    return fn(*args)


def _client(ca: Issued, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    context.check_hostname = False  # the test certificates name 127.0.0.1 as an IP SAN; the chain is verified
    if version is not None:
        context.maximum_version = version
    return context


def test_a_certificate_swapped_in_place_serves_new_handshakes_and_keeps_open_connections() -> None:
    ca = make_ca("tls unit CA")
    first, second = _issued(ca), _issued(ca)
    context = tls.server_context()
    tls.install(context, first)
    with _echo_server(context) as server:
        port = server["port"]
        with socket.create_connection((LOOPBACK, port), timeout=10) as raw, \
                _client(ca).wrap_socket(raw, server_hostname=LOOPBACK) as open_conn:
            assert open_conn.version() == "TLSv1.3"
            assert _serial(open_conn.getpeercert(binary_form=True)) == first.serial
            open_conn.sendall(b"before\n")
            assert open_conn.recv(100) == b"before\n"
            _in_loop(server, tls.install, context, second)
            with socket.create_connection((LOOPBACK, port), timeout=10) as raw2, \
                    _client(ca).wrap_socket(raw2, server_hostname=LOOPBACK) as new_conn:
                assert _serial(new_conn.getpeercert(binary_form=True)) == second.serial
            open_conn.sendall(b"after the swap\n")
            assert open_conn.recv(100) == b"after the swap\n"
            assert _serial(open_conn.getpeercert(binary_form=True)) == first.serial


def test_tls_1_2_is_refused() -> None:
    ca = make_ca("tls unit CA")
    context = tls.server_context()
    tls.install(context, _issued(ca))
    with _echo_server(context) as server:
        with pytest.raises(ssl.SSLError), socket.create_connection((LOOPBACK, server["port"]), timeout=10) as raw:
            _client(ca, ssl.TLSVersion.TLSv1_2).wrap_socket(raw, server_hostname=LOOPBACK)


def test_a_key_that_does_not_match_is_refused_and_the_context_keeps_its_certificate() -> None:
    ca = make_ca("tls unit CA")
    good = _issued(ca)
    context = tls.server_context()
    tls.install(context, good)
    mismatched = _issued(ca, key_from=issue(ca, "other", server=True))
    with pytest.raises(tls.TlsError, match="does not load"):
        tls.install(context, mismatched)
    with _echo_server(context) as server, socket.create_connection((LOOPBACK, server["port"]), timeout=10) as raw, \
            _client(ca).wrap_socket(raw, server_hostname=LOOPBACK) as conn:
        assert _serial(conn.getpeercert(binary_form=True)) == good.serial


# --- renewal ----------------------------------------------------------------------------------------------


def test_a_trigger_renews_at_once_and_a_failure_keeps_the_current_certificate() -> None:
    """The Rotator with a stand-in issuer (certificates made here, no Vault)."""
    ca = make_ca("tls unit CA")
    answers: list = [_issued(ca), tls.TlsError("simulated Vault outage"), _issued(ca)]
    log: list[str] = []

    def stand_in_issue() -> tls.Issued:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    rotator = tls.Rotator(stand_in_issue, renew_at=0.5, log=log.append)
    first = rotator.first()
    assert rotator.current.serial == first.serial and rotator.current.key_pem == ""

    async def scenario() -> list[str]:
        task = asyncio.create_task(rotator.run())
        await asyncio.sleep(0)
        serials = []
        for _ in range(2):
            rotator.trigger()
            before = len(log)
            while len(log) == before:
                await asyncio.sleep(0.01)
            serials.append(rotator.current.serial)
        task.cancel()
        return serials

    serials = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert serials[0] == first.serial  # the failed renewal left the first certificate serving
    assert "simulated Vault outage" in log[1] and "keeps serving" in log[1]
    assert serials[1] != first.serial and "renewed" in log[2]
    assert all("PRIVATE KEY" not in line for line in log)


# --- Vault address, token, wiring -------------------------------------------------------------------------


def test_vault_addresses_and_tokens() -> None:
    assert tls.check_vault_address("https://vault.example:8200/") == "https://vault.example:8200"
    assert tls.check_vault_address("http://127.0.0.1:8200") == "http://127.0.0.1:8200"
    with pytest.raises(tls.TlsError, match="loopback"):
        tls.check_vault_address("http://10.0.0.5:8200")
    assert tls.read_token(None, {"VAULT_TOKEN": " s.abc \n"}) == "s.abc"
    with pytest.raises(tls.TlsError, match="VAULT_TOKEN"):
        tls.read_token(None, {})
    pki = tls.VaultPki("http://127.0.0.1:1", "very-secret-token", tls.Request("pki", "service", "gw"))
    assert "very-secret-token" not in repr(pki)


def test_token_file(tmp_path) -> None:
    path = tmp_path / "token"
    path.write_text("s.from-file\n")
    assert tls.read_token(path, {"VAULT_TOKEN": "s.env"}) == "s.from-file"
    path.write_text("")
    with pytest.raises(tls.TlsError, match="empty"):
        tls.read_token(path, {})


def test_tls_flags_without_gateway_tls_in_the_spec_are_refused(tmp_path) -> None:
    stack, loaded = load_stack_spec("lab")
    assert loaded.spec.gateway.tls is None
    assert tls_rotator(loaded.spec, stack.root) is None
    with pytest.raises(ServeError, match=r"need gateway\.tls"):
        tls_rotator(loaded.spec, stack.root, vault="http://127.0.0.1:8200")
    spec = loaded.spec.model_copy(update={"gateway": loaded.spec.gateway.model_copy(
        update={"tls": GatewayTls(common_name="gateway.lab")})})
    with pytest.raises(ServeError, match="no such file"):
        tls_rotator(spec, stack.root, vault="http://127.0.0.1:8200", vault_ca=tmp_path / "missing.pem")
