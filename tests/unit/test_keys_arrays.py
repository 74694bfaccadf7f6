"""Array drivers turn VaultKmip's KMIP endpoint into each vendor's external key manager, secrets kept secret."""

from __future__ import annotations

import json

import pulumi
import pytest

from components.arrays import FlashArrayDriver, OntapDriver, driver_for
from components.arrays.base import KmipEndpoint
from components.spec import load_stack_spec
from components.spec.storage import ArrayEncryption, ArrayVendor

PLANTED_KEY = "-----BEGIN " "PRIVATE KEY-----\nplanted-array-key-7f3a\n-----END PRIVATE KEY-----\n"
PLANTED_CERT = "-----BEGIN CERTIFICATE-----\nplanted-client-cert\n-----END CERTIFICATE-----\n"
PLANTED_CA = "-----BEGIN CERTIFICATE-----\nplanted-ca\n-----END CERTIFICATE-----\n"


class _CredentialMocks(pulumi.runtime.Mocks):
    """Stands in for Vault Enterprise's credential/generate response."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        outputs = dict(args.inputs)
        if args.typ == "vault:generic/endpoint:Endpoint":
            outputs["writeData"] = {"certificate": PLANTED_CERT, "private_key": PLANTED_KEY,
                                    "ca_chain": json.dumps([PLANTED_CA]), "serial_number": "1f:2e"}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, None]:
        return {}, None


def _lab_spec():
    return load_stack_spec("lab")[1].spec


def _endpoint(**overrides) -> KmipEndpoint:
    base = {"servers": ["kmip.example.internal:5696"], "scope": "a", "role": "array",
            "ca_pem": pulumi.Output.from_input(PLANTED_CA), "client_cert_pem": pulumi.Output.secret(PLANTED_CERT),
            "client_key_pem": pulumi.Output.secret(PLANTED_KEY), "server_tls_min_version": "1.2"}
    return KmipEndpoint(**{**base, **overrides})


def _secret_leaves(value) -> list[pulumi.Output]:
    if isinstance(value, pulumi.Output):
        return [value]
    if isinstance(value, dict):
        return [o for v in value.values() for o in _secret_leaves(v)]
    if isinstance(value, list):
        return [o for v in value for o in _secret_leaves(v)]
    return []


@pytest.mark.parametrize("driver", [OntapDriver(), FlashArrayDriver()], ids=lambda d: d.vendor)
def test_driver_hands_the_vault_credential_to_the_array_as_secrets(driver) -> None:
    pulumi.runtime.set_mocks(_CredentialMocks(), project="podforge", stack="lab", preview=False)

    @pulumi.runtime.test
    def check():
        from components.keys import VaultKmip

        spec = _lab_spec()
        array = spec.storage.arrays[0]
        keys = VaultKmip("keys", spec)
        state = driver.external_key_manager(array, keys.kmip_endpoint(array.name))
        assert state["vendor"] == driver.vendor and state["tls_min_version"] == "1.2" and state["tls_exception"]
        assert PLANTED_KEY not in json.dumps({k: v for k, v in state.items() if not isinstance(v, (list, dict))})
        creds = state["certificates"][0]
        key = creds.get("private_key", creds.get("key"))

        def verify(args):
            secret, key_value, *leaves = args
            assert secret is True and key_value == PLANTED_KEY
            assert PLANTED_CA in [leaf for leaf in leaves if isinstance(leaf, str)]

        return pulumi.Output.all(key.is_secret(), key, *_secret_leaves(state)).apply(verify)

    check()


def test_ontap_names_its_key_servers_and_certificates() -> None:
    array = _lab_spec().storage.arrays[0]
    state = OntapDriver().external_key_manager(array, _endpoint())
    ext = state["key_manager"]["external"]
    assert ext["servers"] == [{"server": "kmip.example.internal:5696"}]
    assert ext["client_certificate"]["name"] == f"{array.name}-kmip-client"
    assert [c["type"] for c in state["certificates"]] == ["client", "server_ca"]


def test_ontap_refuses_more_than_four_key_servers() -> None:
    array = _lab_spec().storage.arrays[0]
    with pytest.raises(ValueError, match="at most 4 KMIP servers"):
        OntapDriver().external_key_manager(array, _endpoint(servers=[f"k{i}:5696" for i in range(5)]))


def test_flasharray_points_its_kmip_object_at_the_servers() -> None:
    array = _lab_spec().storage.arrays[0].model_copy(update={"vendor": ArrayVendor.pure})
    state = FlashArrayDriver().external_key_manager(array, _endpoint())
    assert state["kmip"]["uris"] == ["kmip.example.internal:5696"]
    assert state["kmip"]["certificate"] == {"name": f"{array.name}-kmip-client"}


def test_tls12_array_against_a_tls13_listener_is_refused_at_plan_time() -> None:
    array = _lab_spec().storage.arrays[0]
    with pytest.raises(ValueError, match=r"needs TLS 1\.2 but the KMIP listener requires 1\.3"):
        OntapDriver().external_key_manager(array, _endpoint(server_tls_min_version="1.3"))


def test_tls13_array_needs_no_exception() -> None:
    array = _lab_spec().storage.arrays[0].model_copy(update={"encryption": ArrayEncryption(tls_min_version="1.3")})
    assert OntapDriver().external_key_manager(array, _endpoint(server_tls_min_version="1.3"))["tls_min_version"] == "1.3"


def test_a_vendor_without_a_driver_is_named() -> None:
    array = _lab_spec().storage.arrays[0].model_copy(update={"vendor": ArrayVendor.dell})
    with pytest.raises(ValueError, match="no external key manager driver for vendor dell"):
        driver_for(array)
