"""podforge's own Vault calls fail in one line naming the address, or the path and the missing capability."""

from __future__ import annotations

import pytest

from components.spec import load_stack_spec
from components.vault.client import VaultCallError, VaultSession
from tests.integration.servers import LOOPBACK, free_port, openbao
from tests.support.vault_conformance import apply_declared
from tests.support.vault_declared import declare_vault_kmip

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def declared():
    _, loaded = load_stack_spec("lab")
    return declare_vault_kmip(loaded.spec, "lab")


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_unreachable_vault_names_its_address(declared) -> None:
    address = f"http://{LOOPBACK}:{free_port()}"
    with pytest.raises(VaultCallError) as exc:
        apply_declared(VaultSession(address, "planted-token-unreachable", timeout=2), declared.resources)
    message = _one_line(exc)
    assert message.startswith(f"vault at {address} unreachable")
    assert "planted-token-unreachable" not in message


def test_sealed_vault_says_sealed(declared, tmp_path) -> None:
    with openbao(tmp_path) as bao:
        root = VaultSession(bao.address, bao.token)
        root.call("PUT", "sys/seal", "sudo")
        with pytest.raises(VaultCallError) as exc:
            apply_declared(root, declared.resources)
    message = _one_line(exc)
    assert message.startswith(f"vault at {bao.address} is sealed")
    assert bao.token not in message


def test_token_lacking_a_capability_names_path_and_capability(declared, tmp_path) -> None:
    with openbao(tmp_path) as bao:
        root = VaultSession(bao.address, bao.token)
        root.call("PUT", "sys/policies/acl/read-mounts", "create", {"policy": 'path "sys/mounts" { capabilities = ["read"] }'})
        token = root.call("POST", "auth/token/create", "update", {"policies": ["read-mounts"], "ttl": "5m"})
        weak = VaultSession(bao.address, token["auth"]["client_token"])
        with pytest.raises(VaultCallError) as exc:
            apply_declared(weak, declared.resources)
    message = _one_line(exc)
    assert message.startswith(f"vault at {bao.address}: token lacks 'create' on sys/mounts/")
    assert "its policies grant: deny" in message
    assert token["auth"]["client_token"] not in message
