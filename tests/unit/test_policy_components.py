"""The site-wide facts the rules read: Governance, SoftwareSet and ModelServing register what the spec says,
and the configuration inventory names keys and their secrecy, never a value."""

from __future__ import annotations

import json
from functools import cache

from components.governance import SSHD_HARDENING, sshd_settings
from components.governance import desired_state as governance_state
from components.offline import capture
from components.offline.graph import Graph
from components.software import desired_state as software_state
from components.spec import load_stack_spec
from policies.common import types
from tests.unit.plan_roots import CHECKOUT


@cache
def graph(stack: str) -> Graph:
    return capture(stack)


def test_governance_registers_access_retention_and_dr_site():
    spec = load_stack_spec("superpod")[1].spec
    g = graph("superpod").named(types.GOVERNANCE, "su1-governance")
    assert g.parent == graph("superpod").of_type(types.CLUSTER)[0].urn
    assert set(g.inputs["access"]["roles"]) == {r.value for r in spec.access.roles}
    assert g.inputs["retention"]["auditLogDays"] == spec.retention.audit_log_days
    assert g.inputs["drSite"]["latencyMs"] == spec.dr_site.latency_ms
    assert [e["name"] for e in g.inputs["endpoints"]] == ["vault-api", "kmip-listener"]


def test_lab_governance_has_no_dr_site():
    assert "drSite" not in graph("lab").named(types.GOVERNANCE, "lab-governance").inputs


def test_sshd_settings_come_from_the_base_role_template():
    settings = sshd_settings()
    assert settings["source"] == SSHD_HARDENING
    text = (CHECKOUT / SSHD_HARDENING).read_text()
    assert f"PasswordAuthentication {settings['passwordAuthentication']}" in text


def test_configuration_inventory_names_keys_never_values():
    g = graph("lab").named(types.GOVERNANCE, "lab-governance")
    keys = {e["key"]: e for e in g.inputs["configuration"]}
    assert keys["podforge:spec"] == {"key": "podforge:spec", "secret": False, "plainPrivateKey": False}
    assert "specs/lab.yaml" not in json.dumps(g.inputs["configuration"])


def test_plain_private_key_in_config_is_flagged_without_registering_it(monkeypatch):
    from pulumi.runtime import config as runtime_config

    from components import governance

    pem = "-----BEGIN " "OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    monkeypatch.setattr(runtime_config, "get_config_env", lambda: {"podforge:bmcKey": pem, "vault:token": "x"})
    monkeypatch.setattr(runtime_config, "get_config_secret_keys_env", lambda: ["vault:token"])
    inventory = governance.configuration_inventory()
    by_key = {e["key"]: e for e in inventory}
    assert by_key["podforge:bmcKey"]["plainPrivateKey"] is True
    assert by_key["vault:token"]["secret"] is True
    assert "PRIVATE KEY" not in json.dumps(inventory)


def test_governance_state_is_pure_given_an_inventory():
    spec = load_stack_spec("lab")[1].spec
    assert governance_state(spec, configuration=[]) == governance_state(spec, configuration=[])


def test_software_set_pins_every_package():
    spec = load_stack_spec("superpod")[1].spec
    state = software_state(spec)
    assert state["driver"] == {"version": spec.software.driver.version, "source": spec.software.driver.source,
                               "branch": spec.software.driver.branch}
    assert state["fabricManager"]["version"] == spec.software.fabric_manager.version
    assert graph("superpod").named(types.SOFTWARE, "su1-software").inputs == json.loads(json.dumps(state))


def test_model_serving_only_where_served():
    assert [r.name for r in graph("lab").of_type(types.SERVING)] == ["lab-serving"]
    assert graph("h200").of_type(types.SERVING) == []
    serving = graph("superpod").named(types.SERVING, "su1-serving").inputs
    spec = load_stack_spec("superpod")[1].spec
    assert serving["maxModelLen"] == spec.serving.max_model_len
    assert serving["model"]["maxPositionEmbeddings"] == spec.serving.model.max_position_embeddings
