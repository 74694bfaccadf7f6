"""Every rule of both packs: its metadata, the example stacks pass it, one planted violation fails it with a
message that names the resource and the remedy, and values unknown at preview never fail it."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from components.offline import capture
from components.offline.graph import UNKNOWN, Graph, Resource
from components.policy import evaluate, load_packs, load_policy_config
from components.policy.evaluate import analyzer_props
from policies.common import types
from policies.common.rule import ResourceRule, StackRule

PACKS = load_packs()
POLICIES = {p.name: (pack, p) for pack in PACKS for p in pack.policies}


@cache
def graph(stack: str) -> Graph:
    return capture(stack)


def only(name: str) -> list:
    pack, policy = POLICIES[name]
    return [dataclasses.replace(pack, policies=(policy,))]


def findings(g: Graph, name: str, settings: dict | None = None) -> list:
    return evaluate(g, only(name), settings or {}).findings


def plant(g: Graph, type_: str, change: Callable[[dict[str, Any]], None], name: str | None = None) -> Graph:
    """A copy of `g` where `change` edited the inputs of the first resource of `type_` (named `name`)."""
    resources, done = [], False
    for r in g.resources:
        if not done and r.type == type_ and (name is None or r.name == name):
            inputs = copy.deepcopy(r.inputs)
            change(inputs)
            r, done = dataclasses.replace(r, inputs=inputs), True
        resources.append(r)
    assert done, f"no {type_} {name or ''} in the graph"
    return Graph(g.stack, resources)


def without(g: Graph, type_: str) -> Graph:
    return Graph(g.stack, [r for r in g.resources if r.type != type_])


def _set(*path: Any, value: Any) -> Callable[[dict], None]:
    def change(inputs: dict) -> None:
        target = inputs
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _admin(i: int, **fields: Any) -> Callable[[dict], None]:
    return lambda inputs: inputs["access"]["administrators"][i].update(fields)


# One planted violation per rule: (stack, how to plant it, the resource the message must name).
VIOLATIONS: dict[str, list[tuple[str, Callable[[Graph], Graph], str]]] = {
    "tls13-minimum": [
        ("lab", lambda g: plant(g, types.ARRAY, lambda i: i["encryption"].pop("tlsException")), "lab-flash"),
        ("superpod", lambda g: plant(g, types.GOVERNANCE, _set("endpoints", 0, "tlsMinVersion", value="1.2")),
         "su1-governance"),
        ("superpod", lambda g: plant(g, types.KMIP_BACKEND, _set("tlsMinVersion", value="tls12")), "su1-vault-kmip"),
    ],
    "tls-exceptions-declared": [("lab", lambda g: g, "lab-flash")],
    "certificate-lifetime-72h": [
        ("superpod", lambda g: plant(g, types.PKI_ROLE, _set("maxTtl", value="2592000")), "su1-vault-pki-service"),
        ("lab", lambda g: plant(g, types.KMIP_ROLE, _set("tlsClientTtl", value=604800)), "lab-vault-kmip-lab-flash"),
    ],
    "key-rotation-72h": [
        ("superpod", lambda g: plant(g, types.TRANSIT_KEY, lambda i: i.pop("autoRotatePeriod")), "su1-vault-transit"),
        ("lab", lambda g: plant(g, types.TRANSIT_KEY, _set("autoRotatePeriod", value=30 * 86400)), "lab-vault-transit"),
    ],
    "aes256-gcm-at-rest": [
        ("superpod", lambda g: plant(g, types.TRANSIT_KEY, _set("type", value="aes128-gcm96")), "su1-vault-transit"),
        ("lab", lambda g: plant(g, types.ARRAY, _set("encryption", "externalKmip", value=False)), "lab-flash"),
    ],
    "kmip-least-privilege": [
        ("lab", lambda g: plant(g, types.KMIP_ROLE, _set("operationAll", value=True)), "lab-vault-kmip-lab-flash"),
        ("superpod", lambda g: plant(g, types.KMIP_ROLE, _set("operationDecrypt", value=True)), "su1-vault-kmip"),
        ("lab", lambda g: without(g, types.KMIP_ROLE), "lab-flash"),
    ],
    "access-six-roles": [
        ("lab", lambda g: plant(g, types.GOVERNANCE, lambda i: i["access"]["roles"].pop("api_user")), "lab-governance"),
        ("superpod", lambda g: plant(g, types.GOVERNANCE, _set("access", "roles", "data_analyst", "permissions", 0,
                                                               "action", value="*")), "su1-governance"),
    ],
    "separation-of-duties": [
        ("lab", lambda g: plant(g, types.GOVERNANCE, _admin(0, roles=["system_admin", "audit_admin"])), "lab-governance"),
        ("superpod", lambda g: plant(g, types.GOVERNANCE, _set("access", "roles", "audit_admin", "permissions", 0,
                                                               "action", value="keys:manage")), "su1-governance"),
    ],
    "admin-second-factor": [
        ("lab", lambda g: plant(g, types.GOVERNANCE, _admin(1, authMethods=["password"])), "lab-governance"),
        ("superpod", lambda g: plant(g, types.GOVERNANCE, _admin(0, authMethods=["password", "totp"])), "su1-governance"),
    ],
    "audit-retention-180d": [
        ("superpod", lambda g: plant(g, types.GOVERNANCE, _set("retention", "auditLogDays", value=30)), "su1-governance"),
        ("lab", lambda g: without(g, types.VAULT_AUDIT), "stack"),
    ],
    "data-retention": [
        ("lab", lambda g: plant(g, types.GOVERNANCE, _set("retention", "dataDays", value=365)), "lab-governance"),
        ("superpod", lambda g: plant(g, types.GOVERNANCE, _set("retention", "importantDataDays", value=90)),
         "su1-governance"),
    ],
    "ssh-host-keys-pinned": [
        ("lab", lambda g: plant(g, types.NODE, lambda i: i["ssh"].pop("knownHosts"), "lab-dgx-02"), "lab-dgx-02"),
    ],
    "ssh-password-login-off": [
        ("lab", lambda g: plant(g, types.GOVERNANCE, _set("ssh", "passwordAuthentication", value="yes")), "lab-governance"),
        ("superpod", lambda g: plant(g, types.GOVERNANCE, lambda i: i["ssh"].pop("kbdInteractiveAuthentication")),
         "su1-governance"),
    ],
    "no-plaintext-secrets": [
        ("superpod", lambda g: plant(g, types.GOVERNANCE, lambda i: i["configuration"].append(
            {"key": "vault:token", "secret": False, "plainPrivateKey": False})), "su1-governance"),
        ("lab", lambda g: plant(g, types.GOVERNANCE, lambda i: i["configuration"].append(
            {"key": "podforge:bmcKey", "secret": False, "plainPrivateKey": True})), "lab-governance"),
    ],
    "dr-site-latency": [
        ("superpod", lambda g: plant(g, types.GOVERNANCE, _set("drSite", "latencyMs", value=250)), "su1-governance"),
        ("lab", lambda g: g, "lab-governance"),
    ],
    "vault-policy-no-wildcard": [
        ("lab", lambda g: plant(g, types.VAULT_POLICY, _set("policy", value='path "*" {\n  capabilities = ["read"]\n}\n')),
         "lab-vault-podforge"),
    ],
    "driver-matches-fabric-manager": [
        ("superpod", lambda g: plant(g, types.SOFTWARE, _set("fabricManager", "version", value="535.161.08")),
         "su1-software"),
    ],
    "compute-rails-cabled": [
        ("lab", lambda g: plant(g, types.NODE, lambda i: i["leafPorts"].pop("mlx5_6"), "lab-dgx-03"), "lab-dgx-03"),
    ],
    "redundant-uplinks": [
        ("superpod", lambda g: plant(g, types.FABRIC, lambda i: i.update(
            uplinks=[u for u in i["uplinks"] if u["spine"] == "su1-spine-01"]), "su1-compute"), "su1-compute"),
    ],
    "array-iops-target": [
        ("lab", lambda g: plant(g, types.ARRAY, _set("ratedIops", value=200000)), "lab-flash"),
    ],
    "serving-context-length": [
        ("superpod", lambda g: plant(g, types.SERVING, _set("maxModelLen", value=200000)), "su1-serving"),
    ],
}
"""Stacks passing a rule by default: lab lacks a DR site (its policy config makes that rule advisory) and
runs TLS 1.2 by declared exception (reported by the advisory rule)."""
COMPLIANT = {"tls-exceptions-declared": ["superpod"], "dr-site-latency": ["superpod"]}


def test_every_rule_has_a_violation_case():
    assert set(VIOLATIONS) == set(POLICIES)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_rule_declares_its_metadata(name):
    _, policy = POLICIES[name]
    assert isinstance(policy, ResourceRule | StackRule)
    assert "Threshold" in policy.description or "Source" in policy.description, "the threshold's source"
    assert policy.control.clause and policy.control.framework
    assert policy.framework is not None and policy.framework.reference == policy.control.clause
    assert isinstance(policy.severity, Severity)
    assert policy.enforcement_level in (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY)
    assert policy.remediation_steps and len(policy.remediation_steps) > 20
    if policy.framework.name.startswith("GB/T 22239"):
        assert policy.control.clause.startswith("8.1."), "an MLPS level-3 clause"


@pytest.mark.parametrize("directory", ["mlps_level3", "gpu_baseline"])
def test_one_rule_per_file(directory):
    package = importlib.import_module(f"policies.{directory}.rules")
    modules = [m.name for m in pkgutil.iter_modules(package.__path__)]
    assert len(modules) == len(package.POLICIES)
    for module in modules:
        loaded = importlib.import_module(f"policies.{directory}.rules.{module}")
        assert loaded.POLICY in package.POLICIES
        assert sum(isinstance(v, ResourceRule | StackRule) for v in vars(loaded).values()) == 1, module


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_example_stacks_pass(name):
    for stack in COMPLIANT.get(name, ["lab", "superpod"]):
        assert findings(graph(stack), name) == [], stack


@pytest.mark.parametrize("stack", ["lab", "superpod"])
def test_example_stacks_pass_every_mandatory_rule_with_their_config(stack):
    settings = load_policy_config(stack, PACKS)
    result = evaluate(graph(stack), PACKS, settings)
    assert result.mandatory_violations == []
    assert all(len(o.checked) > 0 for o in result.outcomes if o.policy.name != "serving-context-length" or stack != "lab")


@pytest.mark.parametrize(("name", "case"), [(n, i) for n, cases in sorted(VIOLATIONS.items()) for i in range(len(cases))])
def test_planted_violation_is_found_with_resource_and_remedy(name, case):
    stack, plant_violation, resource = VIOLATIONS[name][case]
    found = findings(plant_violation(graph(stack)), name)
    assert found, f"{name} missed the planted violation ({stack} case {case})"
    _, policy = POLICIES[name]
    for f in found:
        assert f.policy == name and f.enforcement == policy.enforcement_level.value
        assert f.message.startswith(f"{f.resource_type.rsplit(':', 1)[-1]} '{f.resource_name}': ") if f.resource_name \
            else f.message.startswith("stack: "), f.message
        assert ". Remedy: " in f.message and len(f.remedy) > 10
    assert any(resource in f.message for f in found), [f.message for f in found]


def _unknown_everywhere(r: Resource) -> Resource:
    return dataclasses.replace(r, inputs={k: UNKNOWN for k in r.inputs})


@pytest.mark.parametrize("stack", ["lab", "superpod"])
def test_values_unknown_at_preview_never_fail_a_rule(stack):
    g = graph(stack)
    unknown = Graph(g.stack, [_unknown_everywhere(r) if r.type != types.STACK else r for r in g.resources])
    # An unknown value never adds a finding: only what is missing altogether (the lab has no DR site) remains.
    known = {f.message for f in evaluate(g, PACKS).findings if f.enforcement == "mandatory"}
    assert {f.message for f in evaluate(unknown, PACKS).mandatory_violations} <= known
    assert stack == "lab" or known == set()


def test_nested_unknown_values_are_skipped_not_reported():
    g = plant(graph("superpod"), types.TRANSIT_KEY, _set("autoRotatePeriod", value=UNKNOWN))
    g = plant(g, types.GOVERNANCE, _set("retention", "auditLogDays", value=UNKNOWN))
    assert evaluate(g, PACKS).findings == []


def test_rules_read_the_analyzers_unknown_proxy_like_the_cli():
    # What `pulumi preview --policy-pack` hands a rule: the SDK's proxy with its unknown sentinels.
    _, policy = POLICIES["key-rotation-72h"]
    reported: list[str] = []
    props = analyzer_props({"name": "k", "type": "aes256-gcm96", "autoRotatePeriod": UNKNOWN})
    args = ResourceValidationArgs(types.TRANSIT_KEY, props, "urn:x", "k", None, None)
    policy.validate(args, lambda message, urn=None: reported.append(message))
    assert reported == []
    props = analyzer_props({"name": "k", "type": "aes256-gcm96", "autoRotatePeriod": 0})
    policy.validate(ResourceValidationArgs(types.TRANSIT_KEY, props, "urn:x", "k", None, None),
                    lambda message, urn=None: reported.append(message))
    assert len(reported) == 1 and "never rotates" in reported[0]


def test_policy_config_properties_reach_the_rule():
    from components.policy.config import PolicySettings

    strict = {"dr-site-latency": PolicySettings(None, {"maxLatencyMs": 20})}
    found = findings(graph("superpod"), "dr-site-latency", strict)
    assert found and "28 ms" in found[0].message
