"""The HTML reports in a real browser (Debian's chromium, headless and offline): no console
error, no network request, every chart drawn with its title and axes, a screenshot that is not
blank. A deliberately bad page proves each check can fail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.render.html import MPM_COLOURS
from tests.sweep.browser import colours, load
from tests.sweep.html_cases import CASES, HtmlCase, charts_of, command_line

pytestmark = pytest.mark.browser

BAD_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><p>bad</p>
<script>console.error("broken")</script><img src="http://127.0.0.1:9/missing.png"></body></html>
"""


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def test_the_checks_catch_a_bad_page(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(BAD_PAGE)
    loaded = load(chromium, page, tmp_path / "run", height=600)
    assert any("broken" in line for line in loaded.console)
    assert "http://127.0.0.1:9/missing.png" in loaded.requests


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_page_loads_offline_and_draws_every_chart(
    chromium: str, case: HtmlCase, tmp_path: Path
) -> None:
    page = tmp_path / f"{case.name}.html"
    assert main(command_line(case, page)) == 0
    loaded = load(chromium, page, tmp_path / "run")
    assert loaded.console == ()
    assert loaded.requests == ()
    charts = charts_of(case)
    # The browser parsed every chart as SVG, each inside its figure, with its caption.
    figures = re.findall(r'<figure id="chart-([\w-]+)">(.*?)</figure>', loaded.dom, re.DOTALL)
    assert [key for key, _ in figures] == [c.key for c in charts]
    for (_, body), chart in zip(figures, charts, strict=True):
        assert body.count("<svg") == 1
        assert f'aria-label="{chart.title}"' in body
        assert "<figcaption>" in body
    counts = colours(loaded.screenshot)
    assert len(counts) > 1, "blank screenshot"
    # Lines of the charts were painted: at least one MPM's colour (or a series colour) shows.
    drawn = {name for name, hex_colour in MPM_COLOURS.items() if _rgb(hex_colour) in counts}
    assert drawn, f"no chart line in the screenshot ({len(counts)} colours)"
