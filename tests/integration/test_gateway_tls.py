"""The gateway served over TLS with a certificate from a real OpenBao PKI mount (role max_ttl 72h), as real
processes on 127.0.0.1 ports: TLS 1.2 refused and TLS 1.3 accepted; the served certificate chains to the
OpenBao CA and lives at most 72 hours; a TTL over 72 hours refused; and a renewal under load (SIGHUP): an open
stream completes, open keep-alive connections keep serving on their old certificate, and new connections get
the new certificate."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import hvac
import pytest
import yaml
from cryptography import x509

from components.gateway import tls
from tests.integration.servers import LOOPBACK, free_port, openbao, write_private
from tests.support.cli_process import start_cli, stop, wait_healthy
from tests.unit.plan_roots import CHECKOUT

pytestmark = pytest.mark.servers
MODEL = "deepseek-ai/DeepSeek-R1"
ROLE = "gateway"
COMMON_NAME = "gateway.podforge.test"
STREAMED = "the quick brown fox jumps over the lazy dog " * 5  # 45 chunks of 4 characters from the stand-in


def _client_context(ca_pem: str, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem)  # verifies the chain and the IP SAN 127.0.0.1
    if version is not None:
        context.maximum_version = version
    return context


def _served_cert(port: int, ca_pem: str) -> x509.Certificate:
    with socket.create_connection((LOOPBACK, port), timeout=10) as raw, \
            _client_context(ca_pem).wrap_socket(raw, server_hostname=LOOPBACK) as conn:
        return x509.load_der_x509_certificate(conn.getpeercert(binary_form=True))


def _peer(response: httpx.Response) -> tuple[int, tuple]:
    """The serial of the certificate the response's connection was set up with, and its local address."""
    stream = response.extensions["network_stream"]
    der = stream.get_extra_info("ssl_object").getpeercert(True)  # the _ssl object: positional only
    return x509.load_der_x509_certificate(der).serial_number, stream.get_extra_info("client_addr")


@dataclass
class TlsGateway:
    url: str
    port: int
    ca_pem: str
    key: str
    proc: subprocess.Popen
    log: Path
    vault: OpenBaoPki
    project: Path
    env: dict[str, str]


@dataclass
class OpenBaoPki:
    address: str
    token: str
    mount: str


def _project(tmp: Path, tls_settings: dict) -> Path:
    """A project beside the checkout: its Pulumi.yaml, a stack `tls` and the lab spec with `gateway.tls`."""
    project = tmp / "project"
    project.mkdir(exist_ok=True)
    (project / "Pulumi.yaml").write_text((CHECKOUT / "Pulumi.yaml").read_text())
    spec = yaml.safe_load((CHECKOUT / "specs" / "lab.yaml").read_text())
    spec.setdefault("gateway", {})["tls"] = tls_settings
    (project / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (project / "Pulumi.tls.yaml").write_text("config:\n  podforge:spec: spec.yaml\n")
    return project


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsGateway]:
    tmp = tmp_path_factory.mktemp("gateway-tls")
    procs: list[subprocess.Popen] = []
    with openbao(tmp / "bao") as bao:
        mount = yaml.safe_load((CHECKOUT / "specs" / "lab.yaml").read_text())["keys"]["vault"]["pki"].get(
            "intermediate_mount", "pki_int")
        client = hvac.Client(url=bao.address, token=bao.token)
        client.sys.enable_secrets_engine("pki", path=mount, config={"max_lease_ttl": "8760h"})
        ca_pem = client.secrets.pki.generate_root("internal", "podforge gateway test CA", mount_point=mount,
                                                  extra_params={"ttl": "8760h", "key_type": "ec",
                                                                "key_bits": 256})["data"]["certificate"]
        client.secrets.pki.create_or_update_role(ROLE, mount_point=mount, extra_params={
            "allowed_domains": [COMMON_NAME], "allow_bare_domains": True, "allow_ip_sans": True,
            "max_ttl": "72h", "key_type": "ec", "key_bits": 256, "server_flag": True, "client_flag": False})
        project = _project(tmp, {"common_name": COMMON_NAME, "ip_sans": [LOOPBACK], "vault_pki_role": ROLE})
        token_file = write_private(tmp / "vault-token", bao.token.encode())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["PODFORGE_PROJECT_DIR"] = str(project)
        try:
            engine = f"http://{LOOPBACK}:{free_port()}"
            engine_log = tmp / "engine.log"
            # the stand-in spreads 9 s over the 45 chunks of STREAMED: a stream that is open across the renewal
            procs.append(start_cli(["engine", "standin", "--listen", engine.removeprefix("http://"), "--delay-ms",
                               "9000"], engine_log, env))
            wait_healthy(engine, procs[-1], engine_log, verify=False)
            store = tmp / "keys.json"
            issued = subprocess.run([sys.executable, "-m", "components.cli", "gateway", "key", "--stack", "tls",
                                     "--role", "api_user", "--name", "tls-test", "--key-store", str(store)],
                                    cwd=CHECKOUT, capture_output=True, text=True, timeout=60, check=True, env=env)
            port = free_port()
            log = tmp / "gateway.log"
            procs.append(start_cli(["gateway", "serve", "--stack", "tls", "--listen", f"{LOOPBACK}:{port}",
                               "--engine", engine, "--key-store", str(store), "--audit-log",
                               str(tmp / "audit.jsonl"), "--tls-vault", bao.address, "--tls-token-file",
                               str(token_file)], log, env))
            url = f"https://{LOOPBACK}:{port}"
            wait_healthy(url, procs[-1], log, verify=_client_context(ca_pem))
            yield TlsGateway(url, port, ca_pem, issued.stdout.strip(), procs[-1], log,
                             OpenBaoPki(bao.address, bao.token, mount), project, env)
        finally:
            for proc in procs:
                stop(proc)


def test_tls_1_3_is_accepted_and_tls_1_2_refused(gateway: TlsGateway) -> None:
    with socket.create_connection((LOOPBACK, gateway.port), timeout=10) as raw, \
            _client_context(gateway.ca_pem).wrap_socket(raw, server_hostname=LOOPBACK) as conn:
        assert conn.version() == "TLSv1.3"
    old = _client_context(gateway.ca_pem, ssl.TLSVersion.TLSv1_2)
    with pytest.raises(ssl.SSLError), socket.create_connection((LOOPBACK, gateway.port), timeout=10) as raw:
        old.wrap_socket(raw, server_hostname=LOOPBACK)
    response = httpx.post(f"{gateway.url}/v1/chat/completions", verify=_client_context(gateway.ca_pem),
                          timeout=30.0, headers={"Authorization": f"Bearer {gateway.key}"},
                          json={"model": MODEL, "messages": [{"role": "user", "content": "call 13812345678"}]})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "call [mobile]"


def test_the_served_certificate_chains_to_the_openbao_ca_and_lives_at_most_72_hours(gateway: TlsGateway) -> None:
    cert = _served_cert(gateway.port, gateway.ca_pem)  # the handshake verified the chain against the CA
    ca = x509.load_pem_x509_certificate(gateway.ca_pem.encode())
    cert.verify_directly_issued_by(ca)
    assert cert.issuer == ca.subject
    now = dt.datetime.now(dt.UTC)
    assert cert.not_valid_after_utc <= now + dt.timedelta(hours=72)
    assert cert.not_valid_after_utc > now + dt.timedelta(hours=71)  # the spec's default ttl, 72h, was asked for
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == COMMON_NAME


def test_a_short_lived_token_is_renewed_and_a_token_file_read_again_before_each_issue(gateway: TlsGateway,
                                                                                      tmp_path: Path) -> None:
    """A child token that may only issue (and, by the default policy, renew itself), living 30 s: each issue
    renews it; when the file is rewritten with a new token (as a Vault Agent sink does), the next issue uses it."""
    admin = hvac.Client(url=gateway.vault.address, token=gateway.vault.token)
    admin.sys.create_or_update_policy("gateway-issue", f'path "{gateway.vault.mount}/issue/{ROLE}" '
                                                       '{ capabilities = ["update"] }')

    def child() -> str:
        return admin.auth.token.create(policies=["gateway-issue"], ttl="30s", renewable=True)["auth"]["client_token"]

    def ttl(token: str) -> int:
        return int(admin.auth.token.lookup(token)["data"]["ttl"])

    first = child()
    token_file = write_private(tmp_path / "token", first.encode())
    pki = tls.VaultPki(gateway.vault.address, lambda: tls.read_token(token_file),
                       tls.Request(gateway.vault.mount, ROLE, COMMON_NAME, ttl_s=3600))
    time.sleep(3)
    assert ttl(first) <= 28
    pki.issue()
    assert ttl(first) >= 29  # renewed back to its 30 s
    second = child()
    token_file.write_text(second + "\n")
    admin.auth.token.revoke(first)
    time.sleep(3)
    assert pki.issue().lifetime_s > 3500  # issued with the new token: the revoked one would be refused
    assert ttl(second) >= 29


def test_a_ttl_over_72_hours_is_refused(gateway: TlsGateway, tmp_path: Path) -> None:
    request = tls.Request(gateway.vault.mount, ROLE, COMMON_NAME, ip_sans=(LOOPBACK,), ttl_s=73 * 3600)
    with pytest.raises(tls.TlsError, match="at most 72h"):
        tls.VaultPki(gateway.vault.address, gateway.vault.token, request).issue()
    ok = tls.VaultPki(gateway.vault.address, gateway.vault.token,
                      tls.Request(gateway.vault.mount, ROLE, COMMON_NAME, ttl_s=3600)).issue()
    assert 3500 < ok.lifetime_s <= 3600 + tls.CLOCK_SKEW_S
    project = _project(tmp_path, {"common_name": COMMON_NAME, "vault_pki_role": ROLE, "ttl": "73h"})
    env = {**gateway.env, "PODFORGE_PROJECT_DIR": str(project)}
    result = subprocess.run([sys.executable, "-m", "components.cli", "gateway", "serve", "--stack", "tls",
                             "--listen", f"{LOOPBACK}:{free_port()}", "--tls-vault", gateway.vault.address],
                            cwd=CHECKOUT, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert "gateway.tls.ttl: '73h'" in result.stderr and "72h" in result.stderr


def test_a_renewal_under_load_keeps_open_connections_and_serves_the_new_certificate(gateway: TlsGateway) -> None:
    verify = _client_context(gateway.ca_pem)
    old_serial = _served_cert(gateway.port, gateway.ca_pem).serial_number
    keep_alive = [httpx.Client(verify=verify, timeout=30.0, limits=httpx.Limits(max_connections=1))
                  for _ in range(4)]
    streamer = httpx.Client(verify=verify, timeout=60.0)
    try:
        seen: list[list[tuple[int, int, tuple]]] = [[] for _ in keep_alive]

        def load() -> None:
            for n, client in enumerate(keep_alive):
                response = client.get(f"{gateway.url}/health")
                seen[n].append((response.status_code, *_peer(response)))

        with streamer.stream("POST", f"{gateway.url}/v1/chat/completions",
                             headers={"Authorization": f"Bearer {gateway.key}"},
                             json={"model": MODEL, "stream": True,
                                   "messages": [{"role": "user", "content": STREAMED}]}) as stream:
            assert stream.status_code == 200
            stream_serial, _ = _peer(stream)
            lines = stream.iter_lines()
            events = [next(line for line in lines if line.startswith("data: "))]  # the stream is open
            load()
            os.kill(gateway.proc.pid, signal.SIGHUP)  # renew now
            deadline = time.monotonic() + 30
            new_serial = old_serial
            while new_serial == old_serial:
                assert time.monotonic() < deadline, gateway.log.read_text()[-2000:]
                load()  # the keep-alive connections carry requests throughout
                new_serial = _served_cert(gateway.port, gateway.ca_pem).serial_number
                time.sleep(0.05)
            load()
            events += [line for line in lines if line.startswith("data: ")]
        assert stream_serial == old_serial
        assert events[-1] == "data: [DONE]"
        content = "".join(c["delta"].get("content") or "" for e in events[:-1]
                          for c in json.loads(e[6:])["choices"])
        assert content == STREAMED  # the whole stream, across the renewal
        for records in seen:
            assert {status for status, _, _ in records} == {200}
            assert {(serial, addr) for _, serial, addr in records} == {(records[0][1], records[0][2])}
            assert records[0][1] == old_serial  # one connection each, set up before the renewal, never dropped
        with httpx.Client(verify=verify, timeout=10.0) as client:
            fresh = client.get(f"{gateway.url}/health")
            assert fresh.status_code == 200 and _peer(fresh)[0] == new_serial
        cert = _served_cert(gateway.port, gateway.ca_pem)
        assert cert.not_valid_after_utc <= dt.datetime.now(dt.UTC) + dt.timedelta(hours=72)
        n = cert.serial_number
        vault_serial = ":".join(f"{b:02x}" for b in n.to_bytes((n.bit_length() + 7) // 8, "big"))
        log = gateway.log.read_text()
        assert f"TLS certificate renewed: serial {vault_serial}," in log
        assert gateway.vault.token not in log  # the token is never printed
    finally:
        for client in (*keep_alive, streamer):
            client.close()
