"""Markdown renderer: reports → GitHub-flavoured markdown for pull-request comments.

Input: `Report` (recommend, check) or `Comparison` (compare). Output: `str` with a heading, GitHub
tables (via `capplan.render.table`), the reasons as a list and the snippet in an `apache` fence.
The layout is shared with the terminal tables (`capplan.render.report_table`).
"""

from __future__ import annotations

from capplan.advice import Report
from capplan.compare import Comparison
from capplan.render.report_table import render_comparison_table, render_report_table


def render_report_markdown(report: Report) -> str:
    return render_report_table(report, markdown=True)


def render_comparison_markdown(comparison: Comparison) -> str:
    return render_comparison_table(comparison, markdown=True)
