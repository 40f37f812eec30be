"""Renderer dispatch for reports: (report, format name) → text, importing only that renderer.

Input: a `Report` (recommend, check) or a `Comparison` (compare) and a format name. Output: `str`.
Each renderer module is imported on use, so a JSON run never loads tabulate.
"""

from __future__ import annotations

from capplan.compare import Comparison
from capplan.report import Report


def render_report(report: Report, format_name: str) -> str:
    """table, markdown, json, and for `check` also junit and github."""
    text = _render_report(report, format_name)
    if report.php_fpm is not None and format_name in ("table", "markdown"):
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


def _render_report(report: Report, format_name: str) -> str:
    match format_name:
        case "json":
            from capplan.render.report_json import render_report_json

            return render_report_json(report)
        case "markdown":
            from capplan.render.markdown import render_report_markdown

            return render_report_markdown(report)
        case "junit":
            from capplan.render.junit import render_junit

            return render_junit(report)
        case "github":
            from capplan.render.github import render_github

            return render_github(report)
        case "table":
            from capplan.render.report_table import render_report_table

            return render_report_table(report)
    raise ValueError(f"unknown report format {format_name!r}")


def render_comparison(comparison: Comparison, format_name: str) -> str:
    """table, markdown or json."""
    match format_name:
        case "json":
            from capplan.render.report_json import render_comparison_json

            return render_comparison_json(comparison)
        case "markdown":
            from capplan.render.markdown import render_comparison_markdown

            return render_comparison_markdown(comparison)
        case "table":
            from capplan.render.report_table import render_comparison_table

            return render_comparison_table(comparison)
    raise ValueError(f"unknown comparison format {format_name!r}")
