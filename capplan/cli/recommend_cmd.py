"""`capplan recommend`: the current config under a profile, and the settings that meet its targets.

Input: a main config file (or the system's), a traffic profile, options. Output: per-MPM metrics,
the targets met or missed, the smallest coherent settings per MPM, the recommended MPM with its
reasons, and a snippet with where it goes; as a table, markdown, JSON (schema_version 1) or a
self-contained HTML page with charts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.app import app
from capplan.cli.common import (
    DefinesOption,
    EventModelOption,
    FpmPoolOption,
    HeadroomOption,
    OutputOption,
    ReportFormatOption,
    RequiredProfileOption,
    SomaxconnOption,
    SystemConfigArgument,
    check_output,
    emit,
    parse_defines,
    profile_path,
    require_html,
)
from capplan.mpm_names import EventModel, MpmChoice
from capplan.render.formats import OutputFormat


@app.command("recommend")
def recommend_command(
    config: SystemConfigArgument = None,
    *,
    profile: RequiredProfileOption,
    mpm: Annotated[
        MpmChoice,
        typer.Option(help="MPMs to size: the config's own, one of them, or all three."),
    ] = MpmChoice.all,
    ram: Annotated[
        str | None,
        typer.Option(metavar="SIZE", help="Memory available to httpd (overrides memory.ram)."),
    ] = None,
    define: DefinesOption = None,
    measure: Annotated[
        bool,
        typer.Option(
            "--measure",
            help="Use the memory measured on the running httpd of this config (capplan measure).",
        ),
    ] = False,
    headroom: HeadroomOption = None,
    min_saving: Annotated[
        float | None,
        typer.Option(
            "--min-saving",
            metavar="FRACTION",
            help="Share of memory.ram a change of MPM or of keep-alive must save to be "
            "recommended (default 0.1).",
        ),
    ] = None,
    error_log: Annotated[
        list[Path] | None,
        typer.Option(
            "--error-log",
            metavar="FILE",
            help="httpd's error log (plain or .gz; repeatable): cite how often the server reached "
            "MaxRequestWorkers, and whether the model agrees.",
        ),
    ] = None,
    somaxconn: SomaxconnOption = None,
    fpm_pool: FpmPoolOption = None,
    event_model: EventModelOption = EventModel.closed_form,
    output_format: ReportFormatOption = OutputFormat.table,
    output: OutputOption = None,
) -> None:
    """Recommend MPM settings that meet the profile's targets and fit in memory."""
    from capplan.pipeline import recommend_report
    from capplan.render.dispatch import render_report
    from capplan.units import parse_size_bytes

    check_output(output, [config, profile])
    if output_format is OutputFormat.html:
        require_html()
    report = recommend_report(
        str(config) if config is not None else None,
        profile_path(profile),
        mpm=mpm,
        ram_bytes=parse_size_bytes(ram) if ram is not None else None,
        defines=parse_defines(define),
        somaxconn=somaxconn,
        measure=measure,
        headroom=headroom,
        min_saving=min_saving,
        error_logs=[str(path) for path in error_log or ()],
        fpm_pool=str(fpm_pool) if fpm_pool is not None else None,
        event_model=event_model,
    )
    if output_format is OutputFormat.html:
        from capplan.pipeline import report_curves
        from capplan.render.html import render_report_html

        text = render_report_html(report, report_curves(report))
    else:
        text = render_report(report, output_format)
    emit(text, output, inputs=[p for p in (config, profile, *(error_log or ())) if p is not None])
