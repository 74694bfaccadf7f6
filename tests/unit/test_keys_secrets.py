"""Planted KMIP credentials never show in plain text: plan JSON, registered inputs, outputs, logs, rendered files."""

from __future__ import annotations

import json
import logging

import pulumi

from components.offline.capture import capture
from components.spec import load_stack_spec
from components.vault.policies import render_policy

PLANTED_KEY = "planted-kmip-private-key-9c41d"
PLANTED_CERT = "planted-kmip-client-cert-0e77"
_SIG, _SECRET = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def _without_secrets(value):
    """The registered value with every secret-marked part removed: what could reach state in plain text."""
    if isinstance(value, dict):
        if value.get(_SIG) == _SECRET:
            return "[secret]"
        return {k: _without_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


class _PlantingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[dict] = []
        self.wrapped_secrets: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.registered.append({"type": args.typ, "name": args.name, "inputs": _without_secrets(args.inputs)})
        if PLANTED_KEY in json.dumps(args.inputs, default=str):
            self.wrapped_secrets.append(args.typ)
        outputs = dict(args.inputs)
        if args.typ == "vault:generic/endpoint:Endpoint":
            outputs["writeData"] = {"certificate": PLANTED_CERT, "private_key": PLANTED_KEY,
                                    "ca_chain": json.dumps(["planted-ca"]), "serial_number": "2a"}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, None]:
        return {}, None


def test_plan_json_shows_kmip_credentials_only_as_secret() -> None:
    for stack in ("lab", "superpod"):
        text = json.dumps(capture(stack).as_json())
        assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text
        plan = json.loads(text)
        arrays = [r for r in plan["resources"] if r["type"] == "podforge:storage:FlashStorageArray"]
        assert arrays, stack
        for array in arrays:
            assert array["inputs"]["kmip"]["clientKeyPem"] == "[secret]"
            client = array["inputs"]["externalKeyManager"]["certificates"][0]
            assert "[secret]" in (client.get("private_key"), client.get("key"))


def test_planted_credential_stays_secret_through_vault_kmip_and_the_array(caplog, capsys) -> None:
    from components.keys import VaultKmip
    from components.storage import FlashStorageArray, FlashStorageArrayArgs

    mocks = _PlantingMocks()
    pulumi.runtime.set_mocks(mocks, project="podforge", stack="lab", preview=False)
    _, loaded = load_stack_spec("lab")
    spec = loaded.spec
    seen: dict = {}

    @pulumi.runtime.test
    def run():
        keys = VaultKmip("keys", spec)
        array = spec.storage.arrays[0]
        FlashStorageArray(array.name, FlashStorageArrayArgs.from_spec(spec, array, keys.kmip_endpoint(array.name)))
        endpoint = keys.kmip_endpoint(array.name)
        plain = pulumi.Output.all(keys.kmip_scopes, keys.transit_keys, keys.policies, keys.pki_mount, keys.pki_role)
        return pulumi.Output.all(plain, endpoint.client_key_pem.is_secret(), keys.kmip_credentials[array.name].is_secret(),
                                 endpoint.client_key_pem).apply(lambda v: seen.update(outputs=v[0], secret=v[1:3], key=v[3]))

    with caplog.at_level(logging.DEBUG):
        run()
    assert seen["key"] == PLANTED_KEY, "the planted credential reached the array's endpoint"
    assert seen["secret"] == [True, True]
    out = capsys.readouterr()
    for where, text in {"registered inputs": json.dumps(mocks.registered), "plain outputs": json.dumps(seen["outputs"]),
                        "logs": caplog.text, "stdout": out.out, "stderr": out.err}.items():
        assert PLANTED_KEY not in text and PLANTED_CERT not in text, where
    # The array did receive the credential, but only inside secret markers.
    assert "podforge:storage:FlashStorageArray" in mocks.wrapped_secrets


def test_rendered_policies_hold_no_credentials() -> None:
    _, loaded = load_stack_spec("superpod")
    spec = loaded.spec
    for role, grant in spec.access.roles.items():
        text = render_policy(role, grant, spec.keys.vault)
        assert "token" not in text.lower() and "PRIVATE" not in text and "password" not in text.lower()
