"""Renderer: a `check` report → GitHub Actions workflow commands.

Input: `capplan.advice.Report` from `check_report`. Output: one `::error file=…,line=…::` line per
directive that must change, pointing at the line that sets it (`Fix.location`), or one `::notice::`
line when every target holds. Values are escaped as the workflow-command format requires.
"""

from __future__ import annotations

from capplan.advice import Report
from capplan.render.words import fix_message


def escape_data(text: str) -> str:
    """Message escaping of workflow commands: `%`, CR and LF."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Property escaping: as data, plus `:` and `,` (they delimit properties)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report) -> str:
    lines = []
    for fix in report.fixes:
        title = f"capplan check: {fix.directive}"
        lines.append(
            f"::error file={escape_property(fix.location.path)},line={fix.location.line},"
            f"title={escape_property(title)}::{escape_data(fix_message(fix))}"
        )
    if not lines:
        count = len(report.current.targets) if report.current is not None else 0
        name = report.profile.name
        lines.append(
            f"::notice title=capplan check::{escape_data(f'all {count} targets of {name} hold')}"
        )
    return "\n".join(lines) + "\n"
