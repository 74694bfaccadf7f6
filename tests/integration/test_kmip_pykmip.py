"""The KMIP client credential podforge hands an array works against a real KMIP server (PyKMIP).

Vault Enterprise's KMIP engine would generate the credential; here a test CA stands in for the engine's CA
and issues it with the declared role's key type and TTL. Everything after that is podforge's real path:
VaultKmip → kmip_endpoint → the array's vendor driver → the PEMs an array would install.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import pulumi
import pytest

from components.arrays import driver_for
from components.spec import load_stack_spec
from components.spec.base import seconds
from tests.integration.servers import Issued, issue, make_ca, pykmip_server, write_private
from tests.support.vault_declared import declare_vault_kmip

pytestmark = [pytest.mark.servers,
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from kmip import enums
    from kmip.pie.client import ProxyKmipClient
    from kmip.pie.exceptions import ClientConnectionFailure, ClientConnectionNotOpen, KmipOperationFailure

KMIP_ROLE = "vault:kmip/secretRole:SecretRole"


class _KmipEngineMocks(pulumi.runtime.Mocks):
    """Answers credential/generate the way Vault's KMIP engine does: PEM certificate, key and CA chain."""

    def __init__(self, credential: Issued, ca: Issued) -> None:
        self._response = {"certificate": credential.cert_pem.decode(), "private_key": credential.key_pem.decode(),
                          "ca_chain": json.dumps([ca.cert_pem.decode()]), "serial_number": "01"}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        outputs = dict(args.inputs)
        if args.typ == "vault:generic/endpoint:Endpoint":
            outputs["writeData"] = self._response
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, None]:
        return {}, None


@pytest.fixture(scope="module")
def array_credentials(tmp_path_factory) -> dict:
    """The lab array's external key manager state, as its driver produces it, with PEMs written to files."""
    _, loaded = load_stack_spec("lab")
    spec = loaded.spec
    array = spec.storage.arrays[0]
    (role,) = [r for r in declare_vault_kmip(spec, "lab").of_type(KMIP_ROLE) if r.inputs["scope"] == array.name]
    ca = make_ca("KMIP engine CA (test stand-in)")
    credential = issue(ca, f"{array.name}-{role.inputs['role']}", server=False, ttl_seconds=role.inputs["tlsClientTtl"],
                       key_type=role.inputs["tlsClientKeyType"], key_bits=role.inputs["tlsClientKeyBits"])
    pulumi.runtime.set_mocks(_KmipEngineMocks(credential, ca), project="podforge", stack="lab", preview=False)
    state: dict = {}

    @pulumi.runtime.test
    def run():
        from components.keys import VaultKmip

        keys = VaultKmip("keys", spec)
        desired = driver_for(array).external_key_manager(array, keys.kmip_endpoint(array.name))
        client, server_ca = desired["certificates"]
        state.update(desired=desired)
        return pulumi.Output.all(client["public_certificate"], client["private_key"], server_ca["public_certificate"],
                                 client["private_key"].is_secret()).apply(lambda v: state.update(pems=v))

    run()
    cert_pem, key_pem, ca_pem, key_is_secret = state["pems"]
    tmp = tmp_path_factory.mktemp("array")
    (tmp / "client.pem").write_text(cert_pem)
    (tmp / "server-ca.pem").write_text(ca_pem)
    return {"spec": spec, "array": array, "ca": ca, "key_is_secret": key_is_secret, "desired": state["desired"],
            "cert": tmp / "client.pem", "key": write_private(tmp / "client.key", key_pem.encode()),
            "server_ca": tmp / "server-ca.pem", "role": role}


@pytest.fixture(scope="module")
def kmip_server(array_credentials, tmp_path_factory):
    logging.getLogger("kmip").setLevel(logging.CRITICAL)
    with pykmip_server(tmp_path_factory.mktemp("pykmip"), array_credentials["ca"]) as server:
        yield server


def _client(server, cert: Path | None, key: Path | None, ca: Path) -> ProxyKmipClient:
    return ProxyKmipClient(hostname=server.host, port=server.port, cert=str(cert) if cert else None,
                           key=str(key) if key else None, ca=str(ca), config_file="/dev/null")


def test_the_lab_declares_why_kmip_may_use_tls12(array_credentials) -> None:
    spec, array = array_credentials["spec"], array_credentials["array"]
    assert spec.keys.vault.kmip.tls_min_version == "tls12" and "PyKMIP" in spec.keys.vault.kmip.tls_exception
    assert array.encryption.tls_min_version == "1.2" and array.encryption.tls_exception
    assert array_credentials["desired"]["tls_min_version"] == "1.2" and array_credentials["desired"]["tls_exception"]
    assert array_credentials["key_is_secret"] is True


def test_array_credential_runs_the_key_lifecycle(array_credentials, kmip_server) -> None:
    role = array_credentials["role"]
    assert {"operationCreate", "operationGet", "operationActivate", "operationRevoke", "operationDestroy"} <= set(role.inputs)
    with _client(kmip_server, array_credentials["cert"], array_credentials["key"], array_credentials["server_ca"]) as client:
        uid = client.create(enums.CryptographicAlgorithm.AES, 256)
        key = client.get(uid)
        assert key.cryptographic_algorithm == enums.CryptographicAlgorithm.AES and key.cryptographic_length == 256
        assert len(key.value) == 32
        client.activate(uid)
        client.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
        client.destroy(uid)
        with pytest.raises(KmipOperationFailure, match="ITEM_NOT_FOUND"):
            client.get(uid)


def test_the_client_certificate_lives_as_long_as_the_declared_ttl(array_credentials) -> None:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(array_credentials["cert"].read_bytes())
    lifetime = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()
    assert lifetime - 60 <= seconds(array_credentials["spec"].keys.vault.kmip.client_cert_ttl) <= lifetime


def test_a_client_without_the_credential_is_refused(array_credentials, kmip_server) -> None:
    client = _client(kmip_server, None, None, array_credentials["server_ca"])
    with pytest.raises((ClientConnectionFailure, ClientConnectionNotOpen, OSError)) as refused:
        client.open()
        client.create(enums.CryptographicAlgorithm.AES, 256)
    assert "ITEM_NOT_FOUND" not in str(refused.value)
    stranger = make_ca("not the KMIP engine CA")
    other = issue(stranger, "stranger", server=False)
    tmp = array_credentials["cert"].parent
    (tmp / "stranger.pem").write_bytes(other.cert_pem)
    write_private(tmp / "stranger.key", other.key_pem)
    with pytest.raises((ClientConnectionFailure, ClientConnectionNotOpen, OSError)):
        with _client(kmip_server, tmp / "stranger.pem", tmp / "stranger.key", array_credentials["server_ca"]) as c:
            c.create(enums.CryptographicAlgorithm.AES, 256)
