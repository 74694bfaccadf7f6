"""Every output format of `podforge policy check` parses, and says where each finding is in the spec."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest

from components.offline import capture_stack
from components.policy import evaluate, load_packs, load_policy_config
from components.policy.formats import FORMATS, CheckReport, render
from components.policy.locations import SpecLocator
from components.spec import load_stack_spec
from tests.unit.plan_roots import CHECKOUT, project_dir

PACKS = load_packs()


def _report(stack: str, root: Path = CHECKOUT, settings: dict | None = None) -> CheckReport:
    loaded_stack, loaded = load_stack_spec(stack, root)
    graph = capture_stack(loaded_stack, loaded)
    evaluation = evaluate(graph, PACKS, load_policy_config(stack, PACKS) if settings is None else settings)
    return CheckReport(evaluation, SpecLocator(loaded, {r.urn: r.inputs for r in graph.resources}), commit="0" * 40)


@cache
def lab() -> CheckReport:
    return _report("lab")


@cache
def violating(root: Path) -> CheckReport:
    """The superpod example with two planted violations in a copy of its spec."""
    project_dir(root)
    (root / "specs").mkdir()
    text = (CHECKOUT / "specs" / "superpod.yaml").read_text()
    assert "  audit_log_days: 180\n" in text and "  latency_ms: 28\n" in text
    text = text.replace("  audit_log_days: 180\n", "  audit_log_days: 30\n").replace("  latency_ms: 28\n",
                                                                                      "  latency_ms: 250\n")
    (root / "specs" / "bad.yaml").write_text(text)
    shutil.copy(CHECKOUT / "Pulumi.superpod.yaml", root / "Pulumi.bad.yaml")
    (root / "Pulumi.bad.yaml").write_text((root / "Pulumi.bad.yaml").read_text().replace("superpod.yaml", "bad.yaml"))
    return _report("bad", root, settings={})


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> CheckReport:
    return violating(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_both_outcomes(fmt, bad):
    assert render(fmt, lab()).strip()
    assert render(fmt, bad).strip()


def test_text_groups_findings_under_their_rule_with_location_and_remedy(bad):
    text = render("text", bad)
    block = text.split("mlps-level3/audit-retention-180d", 1)[1].split("\n", 1)[1]
    assert block.lstrip().startswith("Governance 'su1-governance': audit records are kept 30 days")
    assert f"at specs/bad.yaml:{bad.locator.loaded.line_of('retention', 'audit_log_days')}" in block
    assert "remedy: set retention.audit_log_days to 180 or more" in block
    assert text.rstrip().endswith("FAILED")


def test_json_carries_every_policy_and_finding(bad):
    data = json.loads(render("json", bad))
    assert data["stack"] == "bad" and data["commit"] == "0" * 40
    assert data["summary"]["mandatory_violations"] == 2
    assert {p["name"] for p in data["policies"]} == {p.name for pack in PACKS for p in pack.policies}
    failed = {p["name"]: p for p in data["policies"] if p["result"] == "failed"}
    assert set(failed) == {"audit-retention-180d", "dr-site-latency"}
    assert failed["dr-site-latency"]["findings"][0]["location"]["field"] == "dr_site"
    assert failed["dr-site-latency"]["control"]["clause"].startswith("8.1.4.9")


def test_junit_fails_the_cases_of_mandatory_violations(bad):
    root = ET.fromstring(render("junit", bad))
    assert root.tag == "testsuites" and root.get("failures") == "2"
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert len(cases) == sum(len(p.policies) for p in PACKS)
    assert cases["audit-retention-180d"].find("failure") is not None
    assert cases["key-rotation-72h"].find("failure") is None
    lab_root = ET.fromstring(render("junit", lab()))
    assert lab_root.get("failures") == "0"
    advisory = {c.get("name"): c for c in lab_root.iter("testcase")}["tls-exceptions-declared"]
    assert "lab-flash" in advisory.find("system-out").text


def test_sarif_is_2_1_0_with_locations_at_the_spec_line(bad):
    sarif = json.loads(render("sarif", bad))
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    (run,) = sarif["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] and all({"id", "shortDescription", "help"} <= set(r) for r in rules)
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert set(by_rule) == {"mlps-level3/audit-retention-180d", "mlps-level3/dr-site-latency"}
    loaded = bad.locator.loaded
    for rule_id, path in (("mlps-level3/audit-retention-180d", ("retention", "audit_log_days")),
                          ("mlps-level3/dr-site-latency", ("dr_site",))):
        result = by_rule[rule_id]
        assert result["level"] == "error" and result["message"]["text"]
        assert rules[result["ruleIndex"]]["id"] == rule_id
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == "specs/bad.yaml"
        assert physical["region"]["startLine"] == loaded.line_of(*path) > 1
        assert location["logicalLocations"][0]["fullyQualifiedName"].startswith("urn:pulumi:bad::")


def test_sarif_locates_a_resource_at_its_own_spec_entry():
    sarif = json.loads(render("sarif", lab()))
    array = next(r for r in sarif["runs"][0]["results"] if "lab-flash" in r["message"]["text"])
    line = array["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert line == lab().locator.loaded.line_of("storage", "arrays", 0)
    assert array["level"] == "warning"


def test_report_is_evidence_per_mlps_clause(bad):
    report = render("report", bad)
    for needed in ("stack `bad`", "specs/bad.yaml", "0" * 40, bad.time, "**FAILED**: 2 mandatory violation(s)"):
        assert needed in report
    for clause in ("### 8.1.4.1 d)", "### 8.1.4.2 d)", "### 8.1.4.3 c)", "### 8.1.4.8 b)", "### 8.1.4.9 b)",
                   "### 8.1.5.4 d)"):
        assert clause in report
    for pack in PACKS:
        for policy in pack.policies:
            assert f"`{policy.name}`" in report
    row = next(line for line in report.splitlines() if line.startswith("| `admin-second-factor`"))
    assert "1: su1-governance" in row and "| pass |" in row
