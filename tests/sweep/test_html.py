"""`--format html` of sweep, recommend and compare: self-contained pages, labelled charts, the
data behind each chart against goldens, and matplotlib only when HTML is asked for."""

from __future__ import annotations

import contextlib
import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.render.charts import Chart, chart_to_dict
from tests.recommend.test_goldens import _same
from tests.sweep.html_cases import (
    CASES,
    ROOT,
    HtmlCase,
    charts_of,
    command_line,
    golden_path,
)

# Anything that would make a browser fetch: a URL in src/href/url(), an import, a script.
FETCHES = re.compile(
    r"""(?:\b(?:src|href|xlink:href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import|<script|<link\b|<iframe|<object|<embed""",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every case's page, written by the real command line."""
    out = tmp_path_factory.mktemp("html")
    written = {}
    for case in CASES:
        path = out / f"{case.name}.html"
        code = main(command_line(case, path))
        assert code == 0, case.name
        written[case.name] = path.read_text(encoding="utf-8")
    return written


def _svg_texts(svg: str) -> list[str]:
    """The text drawn in an SVG (matplotlib writes text as <text> with svg.fonttype none)."""
    return [html.unescape(re.sub(r"<[^>]+>", "", t)) for t in re.findall(
        r"<text\b[^>]*>(.*?)</text>", svg, re.DOTALL)]  # fmt: skip


def _figures(page: str) -> dict[str, str]:
    return dict(re.findall(r'<figure id="chart-([\w-]+)">(.*?)</figure>', page, re.DOTALL))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_page_is_self_contained(case: HtmlCase, pages: dict[str, str]) -> None:
    page = pages[case.name]
    assert page.startswith("<!DOCTYPE html>")
    assert FETCHES.search(page) is None, FETCHES.search(page)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "Content-Security-Policy" in page
    assert "default-src 'none'" in page
    assert "@media print" in page
    assert "font-face" not in page


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_chart_has_title_axes_and_units(case: HtmlCase, pages: dict[str, str]) -> None:
    figures = _figures(pages[case.name])
    charts = charts_of(case)
    assert [c.key for c in charts] == list(figures)
    for chart in charts:
        texts = _svg_texts(figures[chart.key])
        assert chart.title in texts, (chart.key, texts[:5])
        assert chart.x_label in texts
        assert chart.y_label in texts
        # Units in parentheses on both axes.
        assert re.search(r"\(.+\)", chart.x_label)
        assert re.search(r"\(.+\)", chart.y_label)
        # Every series and mark is in the legend.
        for label in [s.label for s in chart.series] + [m.label for m in chart.marks]:
            assert label in texts, (chart.key, label)
        assert len(re.findall(r"<svg\b", figures[chart.key])) == 1


def test_recommend_page_shows_settings_side_by_side_and_the_snippet(
    pages: dict[str, str],
) -> None:
    page = pages["recommend__debian__wordpress-prefork"]
    assert "<h2>Settings side by side</h2>" in page
    assert "current (prefork)" in page
    assert re.search(r"recommended \((prefork|worker|event)\)", page)
    assert "<h3>Snippet</h3><pre>&lt;IfModule mpm_" in page


def test_recommend_page_says_why_a_column_is_not_stable(pages: dict[str, str]) -> None:
    # Debian's stock config under seasonal-peak: every MPM overloaded; event's figures are those
    # of the load its connection slots carry (derivations §4.14).
    page = html.unescape(pages["recommend__debian__seasonal-peak"])
    assert "<p>Not stable, the limit that binds:</p>" in page
    assert "<li>prefork: workers are the limit: " in page
    carried = re.search(
        r"<li>event: connection slots are full .*?it carries about (\S+) req/s", page
    )
    assert carried is not None
    assert 100.0 < float(carried.group(1)) < 1500.0


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_chart_data_matches_golden(case: HtmlCase) -> None:
    want = json.loads(golden_path(case).read_text())
    got = json.loads(json.dumps([chart_to_dict(c) for c in charts_of(case)]))
    problems = _same(got, want)
    assert not problems, (
        f"{case.name}: chart data changed; run `python -m tests.sweep.regenerate_goldens` and "
        f"review the diff: {problems[:5]}"
    )


def test_rate_charts_mark_targets_and_the_profiles_rate() -> None:
    charts: dict[str, Chart] = {c.key: c for c in charts_of(CASES[0])}
    for key in ("p_wait", "p_block"):
        marks = {m.axis: m for m in charts[key].marks}
        assert marks["x"].label.startswith("profile's rate")
        assert marks["y"].label.startswith("target")
        assert charts[key].log_y
    memory = charts["memory"]
    assert any(m.label.startswith("RAM") for m in memory.marks)
    assert memory.x_label == "MaxRequestWorkers (workers)"


def _imports_matplotlib(args: list[str], tmp: Path) -> bool:
    code = (
        "import sys\nfrom capplan.cli import main\n"
        f"assert main({args!r}) == 0\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.strip() == "True"


def test_matplotlib_is_imported_only_for_html(tmp_path: Path) -> None:
    base = ["recommend", "examples/debian/apache2/apache2.conf", "-p", "wordpress-prefork"]
    assert not _imports_matplotlib([*base, "-o", str(tmp_path / "r.txt")], tmp_path)
    assert not _imports_matplotlib([*base, "--format", "json", "-o", str(tmp_path / "r.json")],
                                   tmp_path)  # fmt: skip
    assert _imports_matplotlib([*base, "--format", "html", "-o", str(tmp_path / "r.html")],
                               tmp_path)  # fmt: skip


@pytest.mark.parametrize("command", ["recommend", "sweep", "compare"])
def test_without_matplotlib_html_is_one_line_and_exit_2(
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = next(c for c in CASES if c.argv[0] == command)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    output = tmp_path / "out.html"
    assert main(command_line(case, output)) == 2
    err = capsys.readouterr().err
    assert err == (
        "--format html needs matplotlib: pip install 'capplan[html]' (or pip install matplotlib)\n"
    )
    assert not output.exists()


def test_recommend_page_cites_the_error_log(tmp_path: Path) -> None:
    output = tmp_path / "r.html"
    args = ["recommend", "examples/debian/apache2/apache2.conf", "-p", "wordpress-prefork",
            "--error-log", str(ROOT / "tests/data/errorlog/prefork-week.log"),
            "--format", "html", "-o", str(output)]  # fmt: skip
    with contextlib.chdir(ROOT):
        assert main(args) == 0
    page = output.read_text()
    assert "<h2>Error log</h2><pre>" in page
    assert "MaxRequestWorkers" in page.split("<h2>Error log</h2>")[1]
    assert FETCHES.search(page) is None
