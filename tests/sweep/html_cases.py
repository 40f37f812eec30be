"""The HTML reports under test: each case's command line, and the data behind its charts.

Every case uses the Debian example and `--somaxconn 4096`, so neither the charts nor the pages
depend on this machine. `regenerate_goldens.py` writes the chart data to
tests/data/golden_charts/; `test_html.py` compares it and `test_browser.py` loads each page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capplan.mpm_names import MpmChoice
from capplan.pipeline import (
    compare_report,
    comparison_curves,
    recommend_report,
    report_curves,
    sweep_report,
)
from capplan.render.charts import (
    Chart,
    chart_to_dict,
    comparison_charts,
    report_charts,
    sweep_charts,
)
from tests.recommend.profiles import PROFILES_DIR

ROOT = Path(__file__).resolve().parents[2]
DEBIAN = "examples/debian/apache2/apache2.conf"
GOLDEN_DIR = ROOT / "tests" / "data" / "golden_charts"
SOMAXCONN = 4096
SHIPPED = tuple(sorted(path.stem for path in PROFILES_DIR.glob("*.yaml")))


@dataclass(frozen=True)
class HtmlCase:
    name: str
    argv: tuple[str, ...]


CASES = (
    *(
        HtmlCase(f"recommend__debian__{profile}", ("recommend", DEBIAN, "-p", profile))
        for profile in SHIPPED
    ),
    HtmlCase(
        "sweep__debian__wordpress-prefork__rate",
        ("sweep", DEBIAN, "-p", "wordpress-prefork", "--vary", "rate=0.25x:3x:0.25x"),
    ),
    HtmlCase(
        "sweep__debian__static-site__keepalive",
        ("sweep", DEBIAN, "-p", "static-site", "--vary", "KeepAliveTimeout=1:15:2"),
    ),
    HtmlCase(
        "sweep__debian__wordpress-prefork__workers-rate",
        (
            "sweep",
            DEBIAN,
            "-p",
            "wordpress-prefork",
            "--mpm",
            "prefork",
            "--vary",
            "MaxRequestWorkers=100:300:50",
            "--vary",
            "rate=40:80:20",
        ),
    ),
    HtmlCase(
        "compare__debian__wordpress-prefork__static-site",
        ("compare", "wordpress-prefork", "static-site", "-c", DEBIAN),
    ),
)


def command_line(case: HtmlCase, output: Path) -> list[str]:
    return [*case.argv, "--somaxconn", str(SOMAXCONN), "--format", "html", "-o", str(output)]


def _profile(name: str) -> str:
    return str(PROFILES_DIR / f"{name}.yaml")


def charts_of(case: HtmlCase) -> tuple[Chart, ...]:
    """The charts the case's page draws, built the way the command builds them."""
    argv = case.argv
    config = str(ROOT / DEBIAN)
    match argv[0]:
        case "recommend":
            report = recommend_report(config, _profile(argv[3]), somaxconn=SOMAXCONN)
            return report_charts(report, report_curves(report))
        case "sweep":
            vary = [argv[i + 1] for i, a in enumerate(argv) if a == "--vary"]
            mpm = MpmChoice.prefork if "--mpm" in argv else MpmChoice.all
            sweep = sweep_report(config, _profile(argv[3]), vary, mpm=mpm, somaxconn=SOMAXCONN)
            return sweep_charts(sweep)
        case _:
            comparison = compare_report(
                [_profile(argv[1]), _profile(argv[2])], [config], somaxconn=SOMAXCONN
            )
            return comparison_charts(comparison, comparison_curves(comparison))


def chart_data(case: HtmlCase) -> list[dict[str, Any]]:
    return [chart_to_dict(chart) for chart in charts_of(case)]


def golden_path(case: HtmlCase) -> Path:
    return GOLDEN_DIR / f"{case.name}.json"


def dumps(data: object) -> str:
    return json.dumps(data, indent=1, allow_nan=False) + "\n"
