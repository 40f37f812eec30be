"""Renderers of reports: JSON against the shipped schema, JUnit, GitHub annotations, text.

Reports come from the real pipeline on the shipped examples and profiles.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from capplan.advice import Report, TargetOverrides
from capplan.compare import Comparison
from capplan.pipeline import check_report, compare_report, recommend_report
from capplan.render.dispatch import render_comparison, render_report
from capplan.render.formats import OutputFormat
from capplan.render.github import escape_data, escape_property, render_github
from capplan.render.junit import render_junit
from capplan.render.report_json import comparison_to_dict, report_schema, report_to_dict
from capplan.render.words import report_reasons
from tests.recommend.examples import prepare

ROOT = Path(__file__).resolve().parents[2]
WORDPRESS = str(ROOT / "profiles/wordpress-prefork.yaml")
STATIC = str(ROOT / "profiles/static-site.yaml")
LENIENT = TargetOverrides(
    max_wait_probability=1.0,
    max_block_probability=1.0,
    max_connection_limit_probability=1.0,
    max_memory_bytes=1 << 50,
)


@dataclass(frozen=True)
class Reports:
    debian_wordpress: Report
    rhel_static: Report
    check_fail: Report
    check_pass: Report
    comparison: Comparison


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Reports:
    _, debian, _ = prepare("debian-prefork-php", tmp_path_factory.mktemp("debian"))
    _, rhel, _ = prepare("rhel-event-rounded", tmp_path_factory.mktemp("rhel"))
    # The profile's max_wait target has no flag: a copy without it lets every target hold.
    text = Path(WORDPRESS).read_text()
    lenient = tmp_path_factory.mktemp("profiles") / "wordpress-lenient.yaml"
    lenient.write_text(text[: text.index("targets:")] + "targets:\n  max_wait: null\n")
    return Reports(
        debian_wordpress=recommend_report(str(debian), WORDPRESS, somaxconn=4096),
        rhel_static=recommend_report(str(rhel), STATIC, somaxconn=4096),
        check_fail=check_report(str(debian), WORDPRESS, somaxconn=4096),
        check_pass=check_report(str(debian), str(lenient), overrides=LENIENT, somaxconn=4096),
        comparison=compare_report([WORDPRESS, STATIC], [str(debian), str(rhel)], somaxconn=4096),
    )


def _validate(document: object) -> None:
    jsonschema.Draft202012Validator.check_schema(report_schema())
    jsonschema.Draft202012Validator(report_schema()).validate(document)


@pytest.mark.parametrize("case", ["debian_wordpress", "rhel_static"])
def test_recommend_json_follows_the_shipped_schema(reports: Reports, case: str) -> None:
    document = json.loads(render_report(getattr(reports, case), OutputFormat.json))
    _validate(document)
    assert list(document)[:6] == [
        "schema_version",
        "command",
        "config",
        "profile",
        "mpms",
        "recommendation",
    ]
    assert set(document["mpms"]) == {"prefork", "worker", "event"}
    recommendation = document["recommendation"]
    if recommendation["action"] == "keep":
        # An empty block means "keep the current settings".
        assert (recommendation["snippet"], recommendation["directives"]) == ("", {})
    else:
        assert recommendation["snippet"].startswith("<IfModule mpm_")


@pytest.mark.parametrize("lenient", [pytest.param(True, id="pass"), pytest.param(False, id="fail")])
def test_check_json_follows_the_shipped_schema(reports: Reports, lenient: bool) -> None:
    report = reports.check_pass if lenient else reports.check_fail
    document = report_to_dict(report)
    _validate(document)
    assert document["verdict"]["ok"] is lenient
    assert (document["verdict"]["fixes"] == []) is lenient


def test_compare_json_follows_the_shipped_schema(reports: Reports) -> None:
    document = comparison_to_dict(reports.comparison)
    _validate(document)
    assert len(document["columns"]) == 4
    assert [c["profile"] for c in document["columns"]] == [
        "wordpress-prefork",
        "wordpress-prefork",
        "static-site",
        "static-site",
    ]


def test_schema_rejects_a_report_without_a_stable_key(reports: Reports) -> None:
    document = report_to_dict(reports.debian_wordpress)
    del document["verdict"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(report_schema()).validate(document)


def test_json_never_has_nan_or_infinity(reports: Reports) -> None:
    # The current Debian config is overloaded under this profile: prefork reports the admitted
    # connections' finite wait for a full accept queue; event's unbounded waits become null.
    text = render_report(reports.debian_wordpress, OutputFormat.json)
    document = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    prefork = document["mpms"]["prefork"]
    assert prefork["stable"] is False
    assert prefork["mean_wait_s"] > 0


def test_junit_has_one_testcase_per_target(reports: Reports) -> None:
    report = reports.check_fail
    assert report.current is not None
    root = ET.fromstring(render_junit(report))
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [t.target for t in report.current.targets]
    failures = [c for c in cases if c.find("failure") is not None]
    assert len(failures) == len(report.verdict.violations) == int(root.get("failures", "-1"))
    text = failures[0].findtext("failure") or ""
    assert text.startswith(str(report.fixes[0].location))


def test_github_annotations_point_at_the_directive(reports: Reports) -> None:
    report = reports.check_fail
    lines = render_github(report).splitlines()
    # One annotation per directive to change, however many targets it addresses.
    assert len(lines) == len(report.fixes)
    assert len({fix.directive for fix in report.fixes}) == len(report.fixes)
    first = report.fixes[0]
    assert first.directive == "MaxRequestWorkers"
    assert lines[0].startswith(
        f"::error file={first.location.path},line={first.location.line},title=capplan check%3A "
    )
    assert first.location.path.endswith("mods-enabled/mpm_prefork.conf")


def test_github_notice_when_every_target_holds(reports: Reports) -> None:
    text = render_github(reports.check_pass)
    assert text.startswith("::notice title=capplan check::all ")


@pytest.mark.parametrize(
    ("function", "raw", "escaped"),
    [
        pytest.param(escape_data, "50% of\nworkers", "50%25 of%0Aworkers", id="data"),
        pytest.param(escape_property, "a:b,c", "a%3Ab%2Cc", id="property"),
    ],
)
def test_workflow_command_escaping(function: object, raw: str, escaped: str) -> None:
    assert function(raw) == escaped  # type: ignore[operator]


@pytest.mark.parametrize("fmt", [OutputFormat.table, OutputFormat.markdown])
def test_text_formats_show_verdict_snippet_and_reasons(reports: Reports, fmt: OutputFormat) -> None:
    report = reports.debian_wordpress
    text = render_report(report, fmt)
    assert report.recommendation is not None
    assert report.recommendation.snippet.splitlines()[0] in text
    assert "Verdict: " in text
    for reason in report_reasons(report):
        assert reason in text
    if fmt == "markdown":
        assert "```apache" in text
        assert "| metric" in text


def test_comparison_table_marks_missed_targets_and_winners(reports: Reports) -> None:
    text = render_comparison(reports.comparison, OutputFormat.table)
    assert "MISSED" in text
    assert "◆" in text


def test_the_schema_is_shipped_as_package_data() -> None:
    import fnmatch
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["capplan"]
    assert any(fnmatch.fnmatch("render/report_schema.json", p) for p in patterns)
    assert report_schema()["oneOf"]
