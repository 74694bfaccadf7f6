"""The transit, PKI, policy and audit resources VaultKmip declares for lab and superpod, applied to OpenBao.

Declared inputs are captured by running the component under mocks, applied through hvac, then proven by
behaviour: encryption round trips and rotation, a certificate that TLS 1.3 accepts, policies that allow
exactly their role's paths, and an audit device that records requests.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from components.spec import ClusterSpec, load_stack_spec
from components.spec.base import seconds
from components.vault.client import VaultCallError, VaultSession
from components.vault.policies import policy_name, role_rules
from tests.integration.servers import LOOPBACK, OpenBao, free_port, openbao
from tests.support.vault_conformance import AUDIT, PKI_ROLE, TRANSIT_KEY, Applied, apply_declared
from tests.support.vault_declared import Declared, declare_vault_kmip

pytestmark = pytest.mark.servers

PLANTED_PLAINTEXT = b"planted-model-weights-secret-5b1c"


@dataclass
class VaultUnderTest:
    spec: ClusterSpec
    declared: Declared
    bao: OpenBao
    session: VaultSession
    applied: Applied


@pytest.fixture(scope="module", params=["lab", "superpod"])
def vault(request, tmp_path_factory) -> VaultUnderTest:
    _, loaded = load_stack_spec(request.param)
    declared = declare_vault_kmip(loaded.spec, request.param)
    (audit,) = declared.of_type(AUDIT)
    with openbao(tmp_path_factory.mktemp(f"bao-{request.param}"), audit.inputs) as bao:
        session = VaultSession(bao.address, bao.token)
        yield VaultUnderTest(loaded.spec, declared, bao, session, apply_declared(session, declared.resources))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_every_declared_transit_pki_and_policy_resource_applies(vault: VaultUnderTest) -> None:
    skipped = {name for name, _ in vault.applied.skipped}
    declared = {r.name for r in vault.declared.resources if r.type != "podforge:keys:VaultKmip"}
    assert declared == set(vault.applied.applied) | skipped
    assert all("kmip" in name or name.endswith("-audit") for name in skipped)


def test_transit_keys_are_as_declared_and_cannot_be_deleted_or_exported(vault: VaultUnderTest) -> None:
    for key in vault.declared.of_type(TRANSIT_KEY):
        path = f"{key.inputs['backend']}/keys/{key.inputs['name']}"
        data = vault.session.call("GET", path, "read")["data"]
        assert data["type"] == key.inputs["type"] == "aes256-gcm96"
        assert data["auto_rotate_period"] == key.inputs["autoRotatePeriod"]
        assert data["exportable"] is False and data["deletion_allowed"] is False
        with pytest.raises(VaultCallError, match="deletion is not allowed"):
            vault.session.call("DELETE", path, "delete")


def test_encrypt_decrypt_round_trip(vault: VaultUnderTest) -> None:
    for key in vault.declared.of_type(TRANSIT_KEY):
        mount, name = key.inputs["backend"], key.inputs["name"]
        ct = vault.session.call("POST", f"{mount}/encrypt/{name}", "update",
                                {"plaintext": _b64(PLANTED_PLAINTEXT)})["data"]["ciphertext"]
        assert ct.startswith("vault:v") and _b64(PLANTED_PLAINTEXT) not in ct
        pt = vault.session.call("POST", f"{mount}/decrypt/{name}", "update", {"ciphertext": ct})["data"]["plaintext"]
        assert base64.b64decode(pt) == PLANTED_PLAINTEXT


def test_rotation_gives_a_new_version_that_still_decrypts_old_data(vault: VaultUnderTest) -> None:
    key = vault.declared.of_type(TRANSIT_KEY)[0]
    mount, name = key.inputs["backend"], key.inputs["name"]
    before = vault.session.call("GET", f"{mount}/keys/{name}", "read")["data"]["latest_version"]
    old = vault.session.call("POST", f"{mount}/encrypt/{name}", "update", {"plaintext": _b64(b"old")})["data"]["ciphertext"]
    vault.session.call("POST", f"{mount}/keys/{name}/rotate", "update")
    after = vault.session.call("GET", f"{mount}/keys/{name}", "read")["data"]["latest_version"]
    assert after == before + 1
    new = vault.session.call("POST", f"{mount}/encrypt/{name}", "update", {"plaintext": _b64(b"new")})["data"]["ciphertext"]
    assert new.startswith(f"vault:v{after}:") and old.startswith(f"vault:v{before}:")
    plain = vault.session.call("POST", f"{mount}/decrypt/{name}", "update", {"ciphertext": old})["data"]["plaintext"]
    assert base64.b64decode(plain) == b"old"


def _issue(vault: VaultUnderTest, ttl: str) -> dict:
    (role,) = vault.declared.of_type(PKI_ROLE)
    domain = role.inputs["allowedDomains"][0]
    return vault.session.call("POST", f"{role.inputs['backend']}/issue/{role.inputs['name']}", "update",
                              {"common_name": f"inference.{domain}", "ip_sans": LOOPBACK, "ttl": ttl})["data"]


def _lifetime(pem: str) -> dt.timedelta:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return cert.not_valid_after_utc - cert.not_valid_before_utc


def test_service_certificate_has_the_declared_ttl_and_key_type(vault: VaultUnderTest) -> None:
    pki = vault.spec.keys.vault.pki
    issued = _issue(vault, pki.cert_ttl)
    cert = x509.load_pem_x509_certificate(issued["certificate"].encode())
    # Vault backdates not_before by 30 s against clock skew.
    assert abs(_lifetime(issued["certificate"]).total_seconds() - seconds(pki.cert_ttl)) <= 60
    assert pki.key_type == "ec" and isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.key_size == pki.key_bits
    longer = _issue(vault, "200h")
    assert _lifetime(longer["certificate"]).total_seconds() <= seconds("72h") + 60


def _tls_server(context: ssl.SSLContext, port: int, ready: threading.Event, seen: list) -> None:
    with socket.create_server((LOOPBACK, port)) as listener:
        listener.settimeout(10)
        ready.set()
        for _ in range(2):
            conn, _ = listener.accept()
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    seen.append(tls.version())
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError) as exc:
                seen.append(type(exc).__name__)


def test_issued_certificate_serves_tls13_and_refuses_tls12(vault: VaultUnderTest, tmp_path: Path) -> None:
    issued = _issue(vault, vault.spec.keys.vault.pki.cert_ttl)
    chain = tmp_path / "chain.pem"
    chain.write_text(issued["certificate"] + "\n" + "\n".join(issued["ca_chain"]) + "\n")
    key = tmp_path / "key.pem"
    key.write_text(issued["private_key"])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.minimum_version = ssl.TLSVersion.TLSv1_3
    server.load_cert_chain(chain, key)
    port, ready, seen = free_port(), threading.Event(), []
    thread = threading.Thread(target=_tls_server, args=(server, port, ready, seen), daemon=True)
    thread.start()
    ready.wait(5)

    client = ssl.create_default_context(cadata=vault.applied.root_ca_pem)
    client.minimum_version = ssl.TLSVersion.TLSv1_3
    hostname = x509.load_pem_x509_certificate(issued["certificate"].encode()).subject.rfc4514_string().split("=", 1)[1]
    with socket.create_connection((LOOPBACK, port)) as raw, client.wrap_socket(raw, server_hostname=hostname) as tls:
        assert tls.version() == "TLSv1.3" and tls.recv(2) == b"ok"

    old = ssl.create_default_context(cadata=vault.applied.root_ca_pem)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError), socket.create_connection((LOOPBACK, port)) as raw:
        old.wrap_socket(raw, server_hostname=hostname)
    thread.join(10)
    assert seen[0] == "TLSv1.3" and seen[1] == "SSLError"


def _sample(path: str) -> str:
    return path[:-1] + "sample" if path.endswith("*") else path


def _token(vault: VaultUnderTest, role: str) -> VaultSession:
    body = vault.session.call("POST", "auth/token/create", "update", {"policies": [policy_name(role)], "ttl": "10m"})
    return VaultSession(vault.bao.address, body["auth"]["client_token"])


def test_each_role_policy_allows_its_paths_and_denies_the_others(vault: VaultUnderTest) -> None:
    vault_cfg = vault.spec.keys.vault
    rules = {role.value: role_rules(grant, vault_cfg) for role, grant in vault.spec.access.roles.items()}
    for role, own in rules.items():
        session = _token(vault, role)
        for rule in own:
            held = session.capabilities(_sample(rule.path))
            assert set(rule.capabilities) <= set(held), (role, rule.path, held)
        for other, theirs in rules.items():
            if other != role:
                for rule in theirs:
                    assert session.capabilities(_sample(rule.path)) == ["deny"], (role, other, rule.path)


def test_a_role_reads_its_endpoint_credential_and_is_refused_another_roles(vault: VaultUnderTest) -> None:
    roles = vault.spec.access.roles
    api_path = role_rules(roles["api_user"], vault.spec.keys.vault)[0].path
    analyst_path = role_rules(roles["data_analyst"], vault.spec.keys.vault)[0].path
    for path in (api_path, analyst_path):
        vault.session.call("POST", _sample(path), "create", {"data": {"token": "endpoint-credential"}})
    api_user = _token(vault, "api_user")
    assert api_user.call("GET", _sample(api_path), "read")["data"]["data"]["token"] == "endpoint-credential"
    with pytest.raises(VaultCallError, match=rf"lacks 'read' on {_sample(analyst_path)}"):
        api_user.call("GET", _sample(analyst_path), "read")


def test_declared_audit_device_records_requests_without_plaintext(vault: VaultUnderTest) -> None:
    key = vault.declared.of_type(TRANSIT_KEY)[0]
    path = f"{key.inputs['backend']}/encrypt/{key.inputs['name']}"
    vault.session.call("POST", path, "update", {"plaintext": _b64(PLANTED_PLAINTEXT)})
    devices = vault.session.call("GET", "sys/audit", "read")
    assert devices.get("file/", devices.get("data", {}).get("file/"))["type"] == "file"
    entries = [json.loads(line) for line in vault.bao.audit_log.read_text().splitlines() if line.strip()]
    assert any(e.get("request", {}).get("path") == path for e in entries if e.get("type") == "request")
    text = vault.bao.audit_log.read_text()
    assert _b64(PLANTED_PLAINTEXT) not in text and vault.bao.token not in text
