"""HTML renderer: sweeps, `recommend` reports and comparisons → one self-contained HTML file.

Input: a `Sweep`, or a `Report` / `Comparison` with their `Curves` (computed by
`capplan.pipeline`), and the `Chart`s of `capplan.render.charts`. Output: one HTML document with
inline CSS and the charts as inline SVG drawn by matplotlib at write time: no script, no external
font, image or style sheet, and a Content-Security-Policy that forbids fetching any. Readable on a
phone (viewport, fluid charts, tables that scroll sideways) and printable (one chart per page
region, no backgrounds). matplotlib is the optional extra `capplan[html]`, imported only here.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from capplan.errors import CapplanError
from capplan.mpm_names import Mpm
from capplan.render.charts import Chart, comparison_charts, report_charts, sweep_charts
from capplan.render.sweep import legend_lines, summary_lines, sweep_table, sweep_title

if TYPE_CHECKING:
    from capplan.advice import Report
    from capplan.compare import Comparison
    from capplan.sweep import Curves, Sweep

# One colour per MPM (colour-blind safe, Okabe-Ito), the same in every chart.
MPM_COLOURS = {Mpm.prefork: "#D55E00", Mpm.worker: "#0072B2", Mpm.event: "#009E73"}
OTHER_COLOURS = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
MARK_COLOURS = {"x": "#555555", "y": "#B00020"}

STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1b1b1b; background: #fff; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
h1, p, li { overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; border-bottom: 1px solid #ddd; }
p.meta { color: #555; margin: 0 0 1rem; }
figure { margin: 1rem 0; page-break-inside: avoid; break-inside: avoid; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { font-size: .9rem; color: #444; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 30rem), 1fr));
          gap: 1rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: .2rem .45rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
td.miss { color: #B00020; font-weight: 600; }
pre { background: #f6f6f6; padding: .75rem; overflow-x: auto; font-size: .85rem; }
.verdict { font-weight: 600; }
.side { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 20rem), 1fr));
        gap: 1rem; }
@media print {
  main { max-width: none; padding: 0; }
  .scroll { overflow: visible; }
  pre { white-space: pre-wrap; }
  th { background: none; }
  a { color: inherit; text-decoration: none; }
}
"""
# No network at view time, enforced by the browser: nothing may be fetched, no script runs.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


# --- charts ---------------------------------------------------------------------------------------


def ensure_matplotlib() -> None:
    """Import matplotlib, or say in one line how to get it (exit 2, nothing written)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise CapplanError(
            "--format html needs matplotlib: pip install 'capplan[html]' (or pip install "
            "matplotlib)"
        ) from exc


def _colour(label: str, index: int) -> str:
    """The MPM's colour when the label names one (`recommended event`), else by position."""
    for mpm, colour in MPM_COLOURS.items():
        if mpm in label.split():
            return colour
    return OTHER_COLOURS[index % len(OTHER_COLOURS)]


def chart_svg(chart: Chart) -> str:
    """The chart drawn by matplotlib as an inline `<svg>` element (text kept as text, so the
    page's own font is used and no font is embedded; ids salted by the chart's key)."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": chart.key, "font.size": 9}):
        # Fixed margins: a layout engine would draw every chart twice.
        figure = Figure(figsize=(6.4, 4.2))
        figure.subplots_adjust(left=0.11, right=0.98, top=0.92, bottom=0.12)
        axes = figure.add_subplot()
        for index, series in enumerate(chart.series):
            recommended = series.label.startswith("recommended")
            colour = (
                _colour(series.label, index)
                if chart.colour_by_mpm
                else (OTHER_COLOURS[index % len(OTHER_COLOURS)])
            )
            axes.plot(
                series.x,
                series.y,
                linestyle="--" if series.dashed or recommended else "-",
                linewidth=2.4 if recommended else 1.6,
                color=colour,
                label=series.label,
            )
        for mark in chart.marks:
            if mark.axis == "x":
                axes.axvline(
                    mark.value,
                    color=MARK_COLOURS["x"],
                    linestyle=":",
                    linewidth=1.2,
                    label=mark.label,
                )
            else:
                axes.axhline(
                    mark.value,
                    color=MARK_COLOURS["y"],
                    linestyle="-.",
                    linewidth=1.2,
                    label=mark.label,
                )
        if chart.log_y:
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            axes.set_yscale("log")
            # Plain `1e-06` labels: matplotlib's default `10^-6` goes through mathtext, which
            # costs a quarter of a second per chart.
            axes.yaxis.set_major_locator(LogLocator(base=10.0, numticks=8))
            axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axes.yaxis.set_minor_formatter(NullFormatter())
        if chart.y_max is not None:
            axes.set_ylim(0.0, chart.y_max)
        axes.set_title(chart.title, fontsize=10)
        axes.set_xlabel(chart.x_label)
        axes.set_ylabel(chart.y_label)
        axes.grid(True, which="major", linewidth=0.4, alpha=0.5)
        axes.margins(x=0.02)
        # A fixed corner: `best` tries every position against every point (slow).
        axes.legend(
            fontsize=7, loc="upper left" if not chart.log_y else "lower right", framealpha=0.85
        )
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    # Inline SVG needs neither the XML declaration nor the DOCTYPE (whose URL is only a name).
    svg = svg[svg.index("<svg") :]
    # The metadata block names RDF vocabularies by URL; drop it (no `Date`, `Creator` anyway).
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    label = html.escape(chart.title, quote=True)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def _figure(chart: Chart) -> str:
    caption = f"<figcaption>{html.escape(chart.caption)}</figcaption>" if chart.caption else ""
    return f'<figure id="chart-{chart.key}">{chart_svg(chart)}{caption}</figure>'


def _charts(charts: Sequence[Chart]) -> str:
    return '<div class="charts">' + "".join(_figure(c) for c in charts) + "</div>"


# --- page parts -----------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            missed = cell.startswith("✗") or cell.endswith("MISSED")
            css = ' class="miss"' if missed else ""
            cells.append(f"<td{css}>{html.escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def _page(title: str, meta: str, sections: Sequence[str]) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>"
        f'<p class="meta">{html.escape(meta)}</p>' + "".join(sections) + "</main></body></html>\n"
    )


def _section(heading: str, body: str) -> str:
    return f"<section><h2>{html.escape(heading)}</h2>{body}</section>"


# --- documents ------------------------------------------------------------------------------------


def render_sweep_html(sweep: Sweep) -> str:
    """Charts against the sweep's first axis, the first failures, then every row."""
    from capplan.render.format import format_number, format_seconds

    traffic = sweep.profile.traffic
    meta = (
        f"config: {sweep.config_path or 'httpd defaults'} · profile {sweep.profile.name} "
        f"({format_number(traffic.requests_per_second)} req/s, "
        f"{format_seconds(traffic.service_time_s)} per request) · {len(sweep.rows)} points"
    )
    headers, rows = sweep_table(sweep)
    return _page(
        sweep_title(sweep),
        meta,
        [
            _section("Where each target is first missed", _list(summary_lines(sweep))),
            _section("Charts", _charts(sweep_charts(sweep))),
            _section("Every point", _table(headers, rows) + _list(legend_lines(sweep))),
        ],
    )


def _directive_rows(report: Report) -> list[list[str]]:
    """Current and recommended directives side by side, in the snippet's order."""
    from capplan.snippet import all_directives

    current = dict(all_directives(report.config.settings)) if report.config is not None else {}
    rec = report.recommendation
    new = dict(all_directives(rec.settings)) if rec is not None and rec.settings else {}
    names = list(dict.fromkeys([*new, *current]))
    rows = []
    for name in names:
        old_value, new_value = current.get(name, "–"), new.get(name, "–")
        mark = "" if old_value == new_value or name not in new else " ←"
        rows.append([name, old_value, new_value + mark])
    return rows


def render_report_html(report: Report, curves: Sequence[Curves]) -> str:
    """`recommend`: verdict and reasons, settings side by side, the snippet, the charts and the
    per-MPM metrics."""
    from capplan.compare import COMPARE_METRICS
    from capplan.render.report_table import METRIC_LABELS, _title, metric_cell
    from capplan.render.words import report_reasons, stability_words

    rec = report.recommendation
    sections = []
    if rec is not None:
        match rec.action:
            case "keep":
                headline = f"Keep the current {rec.mpm} settings: every target holds."
            case "change":
                headline = f"Recommended: {rec.mpm} with the settings below."
            case _:
                headline = (
                    "Nothing meets every target."
                    if rec.mpm is None
                    else f"Best possible (targets NOT met): {rec.mpm}."
                )
        body = f'<p class="verdict">{html.escape(headline)}</p>' + _list(report_reasons(report))
        sections.append(_section("Recommendation", body))
        current_mpm = report.config.mpm if report.config is not None else "none"
        side = _table(
            ["directive", f"current ({current_mpm})", f"recommended ({rec.mpm or 'none'})"],
            _directive_rows(report),
        )
        snippet = f"<h3>Snippet</h3><pre>{html.escape(rec.snippet)}</pre>" if rec.snippet else ""
        where = _list(rec.placement.steps) if rec.placement is not None else ""
        sections.append(
            _section(
                "Settings side by side",
                f'<div class="side"><div>{side}</div><div>{snippet}{where}</div></div>',
            )
        )
    sections.append(_section("Charts", _charts(report_charts(report, curves))))
    current = report.config.mpm if report.config is not None else None
    headers = ["metric"] + [f"{n}*" if n == current else n for n, _ in report.mpms]
    names = [name for name, _ in COMPARE_METRICS] + ["stable"]
    rows = [[METRIC_LABELS.get(n, n)] + [metric_cell(m, n) for _, m in report.mpms] for n in names]
    table = _table(headers, rows)
    unstable = [f"{name}: {stability_words(m)}" for name, m in report.mpms if not m.stable]
    if unstable:
        table += "<p>Not stable, the limit that binds:</p>" + _list(unstable)
    sections.append(_section("Every MPM at the profile's rate (* = the config's own)", table))
    if report.error_log is not None:
        from capplan.render.errorlog import evidence_text

        mpm = report.config.mpm if report.config is not None else None
        evidence = html.escape(evidence_text(report.error_log, mpm, markdown=False).rstrip("\n"))
        sections.append(_section("Error log", f"<pre>{evidence}</pre>"))
    return _page(_title(report), "capplan recommend", sections)


def render_comparison_html(comparison: Comparison, curves: Sequence[Curves]) -> str:
    """`compare`: the side-by-side table and the charts of every column."""
    from capplan.render.report_table import METRIC_LABELS, _row_cells

    headers = ["metric"] + [
        f"{c.profile.name} / {c.config.path} ({c.config.mpm})" for c in comparison.columns
    ]
    rows = [[METRIC_LABELS.get(r.name, r.name), *_row_cells(r)] for r in comparison.rows]
    meta = f"{len(comparison.columns)} columns · ◆ best in the row; MISSED: a target is not met"
    return _page(
        "capplan compare",
        meta,
        [
            _section("Side by side", _table(headers, rows)),
            _section("Charts", _charts(comparison_charts(comparison, curves))),
        ],
    )
