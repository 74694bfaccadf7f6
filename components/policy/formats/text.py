"""Text for people: one line per policy, findings grouped under their rule with resource, spec line and remedy."""

from __future__ import annotations

from components.policy.formats import CheckReport

_MARK = {"passed": "ok  ", "failed": "FAIL", "advisory": "warn", "disabled": "off "}


def render(report: CheckReport) -> str:
    ev = report.evaluation
    lines = [f"policy check: stack {ev.stack}, {report.spec_file}, {ev.resources} resources, "
             f"packs {', '.join(p.name for p in ev.packs)}"]
    for o in ev.outcomes:
        level = o.enforcement
        lines.append(f"{_MARK[o.result]} {o.pack}/{o.policy.name} [{level}] — {len(o.checked)} checked"
                     + (f", {len(o.findings)} finding(s)" if o.findings else ""))
        for f in o.findings:
            loc = report.location(f)
            lines.append(f"       {f.problem}")
            lines.append(f"         at {loc.file}:{loc.line} ({loc.field or 'spec'})")
            lines.append(f"         remedy: {f.remedy}")
        lines.extend(f"       note: {n}" for n in o.notes)
    mandatory, advisory = ev.mandatory_violations, [f for f in ev.findings if f.enforcement == "advisory"]
    lines.append("")
    lines.append(f"{len(ev.outcomes)} policies: {sum(o.result == 'passed' for o in ev.outcomes)} passed, "
                 f"{len(mandatory)} mandatory violation(s), {len(advisory)} advisory finding(s)"
                 + (" — FAILED" if mandatory else " — ok"))
    return "\n".join(lines) + "\n"
