"""Renderer dispatch: (report, format) → text, importing only that renderer.

Input: a `Report` (recommend, check), a `Comparison` (compare) or a `Sweep` (sweep) and an
`OutputFormat`. Output: `str`.
Each renderer module is imported on use, so a JSON run never loads tabulate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, assert_never

from capplan.render.formats import OutputFormat, not_offered

if TYPE_CHECKING:
    from capplan.advice import Report
    from capplan.compare import Comparison
    from capplan.sweep import Sweep


def render_report(report: Report, format_name: OutputFormat) -> str:
    """table, markdown, json, and for `check` also junit and github."""
    text = _render_report(report, format_name)
    if report.php_fpm is not None and format_name in (OutputFormat.table, OutputFormat.markdown):
        from capplan.render.fpm import fpm_report_lines

        defaults = tuple(
            key.removeprefix("php.")
            for key, source in report.sources
            if key.startswith("php.") and source == "default"
        )
        lines = fpm_report_lines(
            report.php_fpm, recommend=report.command == "recommend", defaults=defaults
        )
        text = text.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    return text


def _render_report(report: Report, format_name: OutputFormat) -> str:
    match format_name:
        case OutputFormat.json:
            from capplan.render.report_json import render_report_json

            return render_report_json(report)
        case OutputFormat.markdown:
            from capplan.render.markdown import render_report_markdown

            return render_report_markdown(report)
        case OutputFormat.junit:
            from capplan.render.junit import render_junit

            return render_junit(report)
        case OutputFormat.github:
            from capplan.render.github import render_github

            return render_github(report)
        case OutputFormat.table:
            from capplan.render.report_table import render_report_table

            return render_report_table(report)
        case OutputFormat.csv | OutputFormat.html | OutputFormat.yaml:
            # html is a page with charts (capplan.render.html), rendered from the curves too.
            raise not_offered(format_name, "a report")
        case _:
            assert_never(format_name)


def render_comparison(comparison: Comparison, format_name: OutputFormat) -> str:
    """table, markdown or json."""
    match format_name:
        case OutputFormat.json:
            from capplan.render.report_json import render_comparison_json

            return render_comparison_json(comparison)
        case OutputFormat.markdown:
            from capplan.render.markdown import render_comparison_markdown

            return render_comparison_markdown(comparison)
        case OutputFormat.table:
            from capplan.render.report_table import render_comparison_table

            return render_comparison_table(comparison)
        case (
            OutputFormat.csv
            | OutputFormat.html
            | OutputFormat.junit
            | OutputFormat.github
            | OutputFormat.yaml
        ):
            raise not_offered(format_name, "a comparison")
        case _:
            assert_never(format_name)


def render_sweep(sweep: Sweep, format_name: OutputFormat) -> str:
    """table, markdown, csv, json or html."""
    from capplan.render import sweep as text

    match format_name:
        case OutputFormat.table:
            return text.render_sweep_table(sweep)
        case OutputFormat.markdown:
            return text.render_sweep_table(sweep, markdown=True)
        case OutputFormat.csv:
            return text.render_sweep_csv(sweep)
        case OutputFormat.json:
            from capplan.render.json_out import dumps

            return dumps(text.sweep_to_dict(sweep))
        case OutputFormat.html:
            from capplan.render.html import render_sweep_html

            return render_sweep_html(sweep)
        case OutputFormat.junit | OutputFormat.github | OutputFormat.yaml:
            raise not_offered(format_name, "a sweep")
        case _:
            assert_never(format_name)
