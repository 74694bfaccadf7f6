"""JUnit XML for CI test tabs: one suite per pack, one test case per policy; mandatory findings fail it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from components.policy.formats import CheckReport


def render(report: CheckReport) -> str:
    ev = report.evaluation
    root = ET.Element("testsuites", name=f"podforge policy check ({ev.stack})")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for pack in ev.packs:
        outcomes = [o for o in ev.outcomes if o.pack == pack.name]
        suite = ET.SubElement(root, "testsuite", name=pack.name, timestamp=report.time,
                              tests=str(len(outcomes)), failures=str(sum(o.result == "failed" for o in outcomes)),
                              skipped=str(sum(o.result == "disabled" for o in outcomes)), errors="0")
        props = ET.SubElement(suite, "properties")
        for name, value in (("stack", ev.stack), ("spec", report.spec_file), ("commit", report.commit)):
            ET.SubElement(props, "property", name=name, value=value)
        for o in outcomes:
            case = ET.SubElement(suite, "testcase", classname=f"{pack.name}.{ev.stack}", name=o.policy.name,
                                 time="0")
            details = "\n".join(f"{f.message} ({report.location(f).file}:{report.location(f).line})" for f in o.findings)
            if o.result == "failed":
                failure = ET.SubElement(case, "failure", message=o.findings[0].message, type="mandatory")
                failure.text = details
            elif o.result == "disabled":
                ET.SubElement(case, "skipped", message="disabled by the stack's policy config")
            elif o.findings or o.notes:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join(filter(None, [details and f"advisory:\n{details}", *o.notes]))
        for key in totals:
            totals[key] += int(suite.get(key if key != "skipped" else "skipped", "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
