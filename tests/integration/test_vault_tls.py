"""Vault's API listener, as podforge renders it from the spec, accepts TLS 1.3 and refuses TLS 1.2."""

from __future__ import annotations

import socket
import ssl

import pytest

from components.spec import load_stack_spec
from components.vault.client import VaultSession
from components.vault.server_config import listener_stanza
from tests.integration.servers import LOOPBACK, free_port, issue, make_ca, openbao, write_private

pytestmark = pytest.mark.servers


def test_vault_listener_floor_is_tls13(tmp_path) -> None:
    _, loaded = load_stack_spec("superpod")
    ca = make_ca("vault listener test CA")
    server = issue(ca, "vault", server=True)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "vault.pem").write_bytes(server.cert_pem)
    write_private(tmp_path / "vault.key", server.key_pem)
    port = free_port()
    stanza = listener_stanza(loaded.spec.keys.vault, f"{LOOPBACK}:{port}", str(tmp_path / "vault.pem"),
                             str(tmp_path / "vault.key"))
    assert 'tls_min_version = "tls13"' in stanza
    with openbao(tmp_path / "bao", extra_config=stanza) as bao:
        session = VaultSession(f"https://{LOOPBACK}:{port}", bao.token, verify=str(tmp_path / "ca.pem"))
        assert session.call("GET", "sys/health", "read")["sealed"] is False
        modern = ssl.create_default_context(cafile=tmp_path / "ca.pem")
        with socket.create_connection((LOOPBACK, port)) as raw, modern.wrap_socket(raw, server_hostname=LOOPBACK) as tls:
            assert tls.version() == "TLSv1.3"
        old = ssl.create_default_context(cafile=tmp_path / "ca.pem")
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(ssl.SSLError), socket.create_connection((LOOPBACK, port)) as raw:
            old.wrap_socket(raw, server_hostname=LOOPBACK)


def test_a_tls12_vault_listener_is_refused() -> None:
    _, loaded = load_stack_spec("lab")
    vault = loaded.spec.keys.vault.model_copy(update={"tls_min_version": "1.2"})
    with pytest.raises(ValueError, match=r"keys.vault.tls_min_version: 1.2 — 1.3"):
        listener_stanza(vault, "127.0.0.1:8200", "c", "k")
