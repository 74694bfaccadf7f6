"""SARIF 2.1.0 for code scanning: one rule per policy, one result per finding, located at the spec line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.paths import project_root
from components.policy.formats import CheckReport, control_of

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"mandatory": "error", "advisory": "warning", "disabled": "none"}
_SECURITY_SEVERITY = {"critical": "9.0", "high": "7.5", "medium": "5.0", "low": "2.0"}


def _uri(file: str) -> str:
    path = Path(file)
    if path.is_absolute() and path.is_relative_to(project_root()):
        return path.relative_to(project_root()).as_posix()
    return path.as_posix()


def render(report: CheckReport) -> str:
    ev = report.evaluation
    rules: list[dict[str, Any]] = []
    index: dict[tuple[str, str], int] = {}
    for o in ev.outcomes:
        p = o.policy
        index[(o.pack, p.name)] = len(rules)
        control = control_of(p)
        severity = p.severity.value if p.severity else "medium"
        rules.append({
            "id": f"{o.pack}/{p.name}", "name": p.name,
            "shortDescription": {"text": p.description.split(". ")[0]},
            "fullDescription": {"text": p.description},
            "help": {"text": f"Remediation: {p.remediation_steps}"},
            "defaultConfiguration": {"level": _LEVEL.get(o.enforcement, "warning")},
            "properties": {"tags": ["security", "compliance", *(p.tags or [])], "precision": "high",
                           "security-severity": _SECURITY_SEVERITY.get(severity, "5.0"),
                           "control": control},
        })
    results = []
    for f in ev.findings:
        loc = report.location(f)
        result: dict[str, Any] = {
            "ruleId": f"{f.pack}/{f.policy}", "ruleIndex": index[(f.pack, f.policy)],
            "level": _LEVEL.get(f.enforcement, "warning"), "message": {"text": f.message},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": _uri(loc.file)},
                                     "region": {"startLine": max(loc.line, 1)}},
                "logicalLocations": [{"fullyQualifiedName": f.urn or f"stack {ev.stack}", "kind": "resource",
                                      "name": f.resource_name or ev.stack}],
            }],
            "properties": {"stack": ev.stack, "specField": loc.field},
        }
        results.append(result)
    sarif = {
        "$schema": SARIF_SCHEMA, "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "podforge policy check", "semanticVersion": "0.1.0",
                                "informationUri": "https://www.pulumi.com/docs/iac/using-pulumi/crossguard/",
                                "rules": rules}},
            "automationDetails": {"id": f"podforge-policy/{ev.stack}/"},
            "results": results,
            "properties": {"commit": report.commit, "time": report.time},
        }],
    }
    return json.dumps(sarif, indent=2, ensure_ascii=False) + "\n"
