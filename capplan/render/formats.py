"""The output formats: one name for each, shared by the renderers and the command line.

Each command offers the subset listed here; the renderers dispatch on the member with `match` and
`assert_never`. The values are the `--format` names.
"""

from __future__ import annotations

from enum import StrEnum


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"
    html = "html"
    junit = "junit"
    github = "github"
    yaml = "yaml"


# The subsets, in the order `--help` lists them.
TEXT_FORMATS = (OutputFormat.table, OutputFormat.json, OutputFormat.markdown)
REPORT_FORMATS = (*TEXT_FORMATS, OutputFormat.html)
CHECK_FORMATS = (*TEXT_FORMATS, OutputFormat.junit, OutputFormat.github)
SWEEP_FORMATS = (
    OutputFormat.table,
    OutputFormat.json,
    OutputFormat.csv,
    OutputFormat.markdown,
    OutputFormat.html,
)
MEASURE_FORMATS = (OutputFormat.table, OutputFormat.json, OutputFormat.yaml)


def not_offered(fmt: OutputFormat, what: str) -> ValueError:
    """A format the command line does not offer for `what` (its `--format` choices exclude it)."""
    return ValueError(f"{what} has no {fmt} output")
