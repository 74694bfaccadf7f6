"""The packs as the Pulumi CLI loads them: entry files, PulumiPolicy.yaml, per-stack config, and the analyzer
service calling the same rule objects that `podforge policy check` calls."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pulumi_policy
import pytest
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from components.policy import PACKS, load_packs, load_policy_config
from components.spec import SpecError
from tests.unit.plan_roots import CHECKOUT

POLICIES_DIR = CHECKOUT / "policies"


def test_rule_modules_import_without_starting_a_server():
    # PolicyPack() would print its port and block forever; importing the rules must do neither.
    code = "import policies.mlps_level3.rules, policies.gpu_baseline.rules; print('imported')"
    done = subprocess.run([sys.executable, "-c", code], cwd=CHECKOUT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


@pytest.mark.parametrize(("pack", "directory"), sorted(PACKS.items()))
def test_entry_file_builds_the_pack_from_the_rule_modules(monkeypatch, pack, directory):
    built: list[dict] = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.append(kwargs))
    runpy.run_path(str(POLICIES_DIR / directory / "__main__.py"), run_name="__main__")
    (kwargs,) = built
    expected = next(p for p in load_packs() if p.name == pack)
    assert kwargs["name"] == pack
    assert kwargs["enforcement_level"] is EnforcementLevel.MANDATORY
    assert [p.name for p in kwargs["policies"]] == [p.name for p in expected.policies]
    assert all(a is b for a, b in zip(kwargs["policies"], expected.policies, strict=True)), "the same objects"


@pytest.mark.parametrize("directory", sorted(PACKS.values()))
def test_pulumi_policy_yaml_declares_a_python_pack(directory):
    project = yaml.safe_load((POLICIES_DIR / directory / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert (POLICIES_DIR / directory / project["runtime"]["options"]["virtualenv"]).resolve() == CHECKOUT / ".venv"
    assert project["version"].count(".") == 2


def test_policy_names_are_unique_across_packs():
    names = [p.name for pack in load_packs() for p in pack.policies]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("stack", ["lab", "superpod"])
def test_stack_config_files_are_valid(stack):
    path = POLICIES_DIR / "config" / f"{stack}.json"
    data = json.loads(path.read_text())
    settings = load_policy_config(stack, load_packs())
    assert set(settings) == set(data)


def test_lab_runs_without_a_dr_site_as_an_advisory_finding():
    settings = load_policy_config("lab", load_packs())
    assert settings["dr-site-latency"].enforcement_level is EnforcementLevel.ADVISORY


@pytest.mark.parametrize(("content", "expected"), [
    ('{"no-such-rule": "advisory"}', "a policy name of the packs"),
    ('{"dr-site-latency": {"enforcementLevel": "sometimes"}}', "one of advisory, mandatory"),
    ('{"dr-site-latency": 3}', "an enforcement level or an object"),
    ("[1, 2]", "an object keyed by policy name"),
    ("{not json", "valid JSON"),
])
def test_invalid_policy_config_is_an_input_error(tmp_path: Path, content, expected):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(SpecError) as error:
        load_policy_config("x", load_packs(), path=path)
    assert expected in str(error.value)


def _struct(data: dict) -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.update(data)
    return value


def test_the_analyzer_service_reports_through_the_same_rule_objects():
    # What `pulumi preview --policy-pack policies/mlps_level3` does per resource, without the gRPC server.
    pack = next(p for p in load_packs() if p.name == "mlps-level3")
    servicer = _PolicyAnalyzerServicer(pack.name, "0.1.0", list(pack.policies), EnforcementLevel.MANDATORY)
    request = proto.AnalyzeRequest(
        type="vault:transit/secretBackendKey:SecretBackendKey", name="su1-vault-transit-models",
        urn="urn:pulumi:superpod::podforge::vault:transit/secretBackendKey:SecretBackendKey::su1-vault-transit-models",
        properties=_struct({"name": "models", "type": "aes128-gcm96", "autoRotatePeriod": 30 * 86400}))
    response = servicer.Analyze(request, None)
    by_policy = {d.policyName: d for d in response.diagnostics}
    assert set(by_policy) == {"aes256-gcm-at-rest", "key-rotation-72h"}
    assert "SecretBackendKey 'su1-vault-transit-models'" in by_policy["key-rotation-72h"].message
    assert "Remedy: set keys.vault.transit.keys[].rotation_period" in by_policy["key-rotation-72h"].message
    assert by_policy["aes256-gcm-at-rest"].enforcementLevel == proto.MANDATORY


def test_the_analyzer_service_skips_values_unknown_at_preview():
    pack = next(p for p in load_packs() if p.name == "mlps-level3")
    servicer = _PolicyAnalyzerServicer(pack.name, "0.1.0", list(pack.policies), EnforcementLevel.MANDATORY)
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown-string sentinel
    request = proto.AnalyzeRequest(type="vault:transit/secretBackendKey:SecretBackendKey", name="k", urn="urn:k",
                                   properties=_struct({"name": "k", "type": unknown, "autoRotatePeriod": unknown}))
    assert list(servicer.Analyze(request, None).diagnostics) == []


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_examples_run_the_check_and_the_cli_packs(name):
    text = (CHECKOUT / "docs" / "ci" / name).read_text()
    assert isinstance(yaml.safe_load(text), dict)
    for needed in ("podforge policy check", "--format sarif", "--format junit", "--policy-pack policies/mlps_level3",
                   "--policy-pack policies/gpu_baseline", "--policy-pack-config"):
        assert needed in text, needed


def test_docs_list_every_rule():
    text = (CHECKOUT / "docs" / "policy.md").read_text()
    for pack in load_packs():
        for policy in pack.policies:
            assert f"| `{policy.name}`" in text, policy.name
