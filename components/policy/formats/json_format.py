"""JSON for tools: every policy with its metadata, result, resources checked and findings."""

from __future__ import annotations

import json
from typing import Any

from components.policy.formats import CheckReport, control_of

SCHEMA = 1


def as_data(report: CheckReport) -> dict[str, Any]:
    ev = report.evaluation
    policies = []
    for o in ev.outcomes:
        p = o.policy
        findings = []
        for f in o.findings:
            loc = report.location(f)
            findings.append({"urn": f.urn, "type": f.resource_type, "name": f.resource_name, "message": f.message,
                             "problem": f.problem, "remedy": f.remedy, "enforcement": f.enforcement,
                             "location": {"file": loc.file, "line": loc.line, "field": loc.field}})
        policies.append({
            "pack": o.pack, "name": p.name, "description": p.description, "control": control_of(p),
            "severity": p.severity.value if p.severity else None, "enforcement": o.enforcement, "result": o.result,
            "remediation": p.remediation_steps, "checked": len(o.checked), "findings": findings, "notes": o.notes})
    return {
        "schema": SCHEMA, "stack": ev.stack, "spec": report.spec_file, "commit": report.commit, "time": report.time,
        "packs": [{"name": pk.name, "policies": len(pk.policies)} for pk in ev.packs],
        "summary": {"policies": len(ev.outcomes), "resources": ev.resources,
                    "passed": sum(o.result == "passed" for o in ev.outcomes),
                    "mandatory_violations": len(ev.mandatory_violations),
                    "advisory_findings": sum(f.enforcement == "advisory" for f in ev.findings)},
        "policies": policies,
    }


def render(report: CheckReport) -> str:
    return json.dumps(as_data(report), indent=2, ensure_ascii=False) + "\n"
