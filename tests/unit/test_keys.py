"""VaultKmip under the mock runtime: what it declares for the example stacks."""

from __future__ import annotations

import pytest

from components.spec import load_stack_spec
from components.spec.base import seconds
from components.spec.keys import KMIP_OPERATIONS
from components.vault.policies import policy_name, role_rules
from tests.support.vault_declared import Declared, declare_vault_kmip

KMIP_ROLE = "vault:kmip/secretRole:SecretRole"
KMIP_SCOPE = "vault:kmip/secretScope:SecretScope"
TRANSIT_KEY = "vault:transit/secretBackendKey:SecretBackendKey"


@pytest.fixture(scope="module", params=["lab", "superpod"])
def stack(request) -> tuple[object, Declared, str]:
    _, loaded = load_stack_spec(request.param)
    spec = loaded.spec
    arrays = tuple(s.array for s in spec.keys.vault.kmip.scopes)
    return spec, declare_vault_kmip(spec, request.param, arrays=arrays), request.param


def test_one_kmip_scope_and_one_role_per_array(stack) -> None:
    spec, declared, _ = stack
    arrays = sorted(s.array for s in spec.keys.vault.kmip.scopes)
    assert sorted(declared.outputs["kmip_scopes"]) == arrays
    assert len(declared.of_type(KMIP_SCOPE)) == len(arrays) == len(declared.of_type(KMIP_ROLE))


def test_kmip_role_grants_only_the_declared_operations_never_all(stack) -> None:
    spec, declared, _ = stack
    wanted = {s.role: {f"operation{op.title().replace('_', '')}" for op in s.operations}
              for s in spec.keys.vault.kmip.scopes}
    for role in declared.of_type(KMIP_ROLE):
        granted = {k for k, v in role.inputs.items() if k.startswith("operation") and v}
        assert "operationAll" not in role.inputs and "operationNone" not in role.inputs
        assert granted == wanted[role.inputs["role"]]
        assert len(granted) < len(KMIP_OPERATIONS)


def test_transit_keys_are_aes256_gcm_rotated_as_declared_and_locked(stack) -> None:
    spec, declared, _ = stack
    periods = {k.name: seconds(k.rotation_period) for k in spec.keys.vault.transit.keys}
    keys = declared.of_type(TRANSIT_KEY)
    assert sorted(k.inputs["name"] for k in keys) == sorted(periods)
    for key in keys:
        assert key.inputs["type"] == "aes256-gcm96"
        assert key.inputs["autoRotatePeriod"] == periods[key.inputs["name"]] <= seconds("72h")
        assert key.inputs["exportable"] is False and key.inputs["deletionAllowed"] is False


def test_kmip_listener_tls_floor_follows_the_spec(stack) -> None:
    spec, declared, _ = stack
    (backend,) = declared.of_type("vault:kmip/secretBackend:SecretBackend")
    kmip = spec.keys.vault.kmip
    assert backend.inputs["tlsMinVersion"] == kmip.tls_min_version
    assert backend.inputs["tlsMinVersion"] == "tls13" or kmip.tls_exception
    assert backend.inputs["defaultTlsClientTtl"] == seconds(kmip.client_cert_ttl)


def test_a_client_credential_is_generated_per_array_role(stack) -> None:
    spec, declared, _ = stack
    paths = sorted(e.inputs["path"] for e in declared.of_type("vault:generic/endpoint:Endpoint"))
    assert paths == sorted(f"{spec.keys.vault.kmip.mount}/scope/{s.scope}/role/{s.role}/credential/generate"
                           for s in spec.keys.vault.kmip.scopes)


def test_pki_role_issues_certificates_of_at_most_72h(stack) -> None:
    spec, declared, _ = stack
    (role,) = declared.of_type("vault:pkiSecret/secretBackendRole:SecretBackendRole")
    assert role.inputs["backend"] == spec.keys.vault.pki.intermediate_mount
    assert int(role.inputs["maxTtl"]) == seconds(spec.keys.vault.pki.cert_ttl) <= seconds("72h")
    assert role.inputs["keyType"] == spec.keys.vault.pki.key_type
    assert len(declared.of_type("vault:pkiSecret/secretBackendIntermediateSetSigned:SecretBackendIntermediateSetSigned")) == 1


def test_one_policy_per_access_role_and_no_role_shares_a_path(stack) -> None:
    spec, declared, _ = stack
    policies = {p.inputs["name"]: p.inputs["policy"] for p in declared.of_type("vault:index/policy:Policy")}
    assert sorted(policies) == sorted(policy_name(r) for r in spec.access.roles)
    seen: dict[str, str] = {}
    for role, grant in spec.access.roles.items():
        for rule in role_rules(grant, spec.keys.vault):
            assert rule.path not in seen, f"{rule.path} held by {seen.get(rule.path)} and {role}"
            assert rule.path.rstrip("*").rstrip("/") and rule.path != "*"
            seen[rule.path] = role
            assert f'path "{rule.path}"' in policies[policy_name(role)]


def test_audit_device_writes_the_declared_file(stack) -> None:
    spec, declared, _ = stack
    (audit,) = declared.of_type("vault:index/audit:Audit")
    assert audit.inputs["type"] == "file"
    assert audit.inputs["options"] == {"file_path": spec.keys.vault.audit_log_path}


def test_names_derive_from_the_spec_and_are_stable(stack) -> None:
    spec, declared, stack_name = stack
    again = declare_vault_kmip(spec, stack_name)
    assert sorted((r.type, r.name) for r in again.resources) == sorted((r.type, r.name) for r in declared.resources)
    for scope in spec.keys.vault.kmip.scopes:
        assert f"keys-kmip-{scope.array}" in {r.name for r in declared.of_type(KMIP_ROLE)}
