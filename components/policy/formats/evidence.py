"""The auditor's evidence document (Markdown): per MLPS clause, the rules implementing it, what they checked,
the result, with the stack, the spec, the commit and the time of the check."""

from __future__ import annotations

import re

from components.policy.evaluate import Outcome
from components.policy.formats import CheckReport, control_of

_RESULT = {"passed": "pass", "failed": "**FAIL**", "advisory": "pass (advisory findings)", "disabled": "not run (disabled)"}
_SHOWN = 12


def _clauses(outcome: Outcome) -> list[str]:
    clause = control_of(outcome.policy)["clause"]
    return [c.strip() for c in clause.split(";") if c.strip()] or ["(no clause)"]


def _clause_key(clause: str) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", clause)]


def _names(report: CheckReport, urns: list[str]) -> str:
    names = [u.rsplit("::", 1)[-1] for u in urns]
    if not names:
        return "—"
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" … and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(report: CheckReport) -> str:
    ev = report.evaluation
    mandatory = ev.mandatory_violations
    out = [
        f"# Compliance evidence: stack `{ev.stack}`",
        "",
        "| | |",
        "| --- | --- |",
        f"| Stack | `{ev.stack}` |",
        f"| Spec | `{report.spec_file}` |",
        f"| Commit | `{report.commit}` |",
        f"| Checked at (UTC) | {report.time} |",
        f"| Packs | {', '.join(f'{p.name} ({len(p.policies)} rules)' for p in ev.packs)} |",
        f"| Resources in the plan | {ev.resources} |",
        f"| Result | {'**FAILED**: ' + str(len(mandatory)) + ' mandatory violation(s)' if mandatory else 'passed'} |",
        "",
        "Method: the stack's Pulumi program was run offline (mock runtime, preview mode) and every rule of the packs, "
        "the same pulumi_policy objects `pulumi preview --policy-pack` loads, was evaluated on every declared resource. "
        "Overrides come from `policies/config/<stack>.json`.",
    ]
    for pack in ev.packs:
        outcomes = [o for o in ev.outcomes if o.pack == pack.name]
        by_clause: dict[str, list[Outcome]] = {}
        for o in outcomes:
            for clause in _clauses(o):
                by_clause.setdefault(clause, []).append(o)
        framework = control_of(outcomes[0].policy)["framework"] if outcomes else pack.name
        out += ["", f"## {pack.name}: {framework}", ""]
        for clause in sorted(by_clause, key=_clause_key):
            out += [f"### {clause}", "", "| rule | level | resources checked | result | controls |",
                    "| --- | --- | --- | --- | --- |"]
            for o in by_clause[clause]:
                refs = ", ".join(control_of(o.policy)["references"]) or "—"
                out.append(f"| `{o.policy.name}` | {o.enforcement} | {len(o.checked)}: {_cell(_names(report, o.checked))} "
                           f"| {_RESULT[o.result]} | {_cell(refs)} |")
            out.append("")
            for o in by_clause[clause]:
                out.append(f"- `{o.policy.name}`: {_cell(o.policy.description)}")
                for f in o.findings:
                    loc = report.location(f)
                    out.append(f"  - finding ({f.enforcement}) at `{loc.file}:{loc.line}`: {_cell(f.message)}")
                out.extend(f"  - note: {_cell(n)}" for n in o.notes)
            out.append("")
    out.append("")
    return "\n".join(out)
