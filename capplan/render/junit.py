"""Renderer: a `check` report → JUnit XML, one testcase per target, for CI dashboards.

Input: `capplan.advice.Report` from `check_report`. Output: the XML document as `str`
(deterministic: no timestamps, no host names, no durations).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from capplan.advice import Report
from capplan.render.words import describe_target, fix_message


def render_junit(report: Report) -> str:
    assert report.current is not None, "JUnit output needs an evaluated config"
    config = report.config
    targets = report.current.targets
    failures = sum(1 for t in targets if not t.met)
    suite_name = f"capplan check {config.path if config else ''} -p {report.profile.name}".strip()
    root = ET.Element(
        "testsuites",
        {
            "name": "capplan check",
            "tests": str(len(targets)),
            "failures": str(failures),
            "errors": "0",
        },
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": suite_name,
            "tests": str(len(targets)),
            "failures": str(failures),
            "errors": "0",
            "skipped": "0",
        },
    )
    mpm = config.mpm if config is not None else "none"
    for target in targets:
        case = ET.SubElement(
            suite, "testcase", {"classname": f"capplan.check.{mpm}", "name": target.target}
        )
        event = report.current.metrics.event is not None
        summary = describe_target(target, report.profile, event=event)
        if target.met:
            ET.SubElement(case, "system-out").text = summary
            continue
        failure = ET.SubElement(case, "failure", {"message": summary, "type": "TargetMissed"})
        fixes = [f for f in report.fixes if target.target in f.targets]
        if fixes:
            failure.text = "\n".join(f"{f.location}: {fix_message(f)}" for f in fixes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
