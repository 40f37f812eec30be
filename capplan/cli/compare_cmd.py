"""`capplan compare`: side-by-side metrics for several profiles and/or configs.

Input: profiles and configs (`-c`, repeatable; default: the system's config). Output: one column
per (profile, config) pair, one row per metric, targets marked met or missed and the best value of
each row marked; as a table, markdown (for pull-request comments), JSON or a self-contained HTML
page with charts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.app import app
from capplan.cli.common import (
    DefinesOption,
    EventModelOption,
    OutputOption,
    ReportFormatOption,
    SomaxconnOption,
    check_output,
    emit,
    parse_defines,
    profile_path,
    require_html,
)
from capplan.mpm_names import EventModel
from capplan.render.formats import OutputFormat


@app.command("compare")
def compare_command(
    profiles: Annotated[
        list[str],
        typer.Argument(
            metavar="PROFILE...",
            help="Traffic profiles: YAML files or shipped profiles' names (`capplan profiles`).",
        ),
    ],
    *,
    config: Annotated[
        list[Path] | None,
        typer.Option(
            "-c",
            "--config",
            metavar="CONFIG",
            help="Main httpd config file; repeat to compare configs.",
        ),
    ] = None,
    define: DefinesOption = None,
    somaxconn: SomaxconnOption = None,
    event_model: EventModelOption = EventModel.closed_form,
    output_format: ReportFormatOption = OutputFormat.table,
    output: OutputOption = None,
) -> None:
    """Compare profiles and configs side by side; mark targets met or missed and the best values."""
    from capplan.pipeline import compare_report
    from capplan.render.dispatch import render_comparison

    check_output(output, [*profiles, *(config or [])])
    if output_format is OutputFormat.html:
        require_html()
    comparison = compare_report(
        [str(profile_path(p)) for p in profiles],
        [str(c) for c in config or []],
        defines=parse_defines(define),
        somaxconn=somaxconn,
        event_model=event_model,
    )
    if output_format is OutputFormat.html:
        from capplan.pipeline import comparison_curves
        from capplan.render.html import render_comparison_html

        text = render_comparison_html(comparison, comparison_curves(comparison))
    else:
        text = render_comparison(comparison, output_format)
    emit(
        text,
        output,
        inputs=[*profiles, *(config or [])],
    )
