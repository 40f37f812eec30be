"""`capplan sweep`: capacity curves, every MPM at every point of one or more varied quantities.

Input: a main config file (or the system's), a traffic profile, `--vary NAME=FROM:TO[:STEP]`
(repeatable; the rate, MaxRequestWorkers, KeepAliveTimeout, think_time, service_time). Output: one
row per point with every MPM's metrics, the targets marked, and the first point where each target
fails; as a table, markdown, CSV, JSON (`rows[]`) or a self-contained HTML page with
charts.
"""

from __future__ import annotations

from typing import Annotated

import typer

from capplan.cli.app import app
from capplan.cli.common import (
    DefinesOption,
    OutputOption,
    RequiredProfileOption,
    SomaxconnOption,
    SystemConfigArgument,
    check_output,
    emit,
    format_option,
    parse_defines,
    profile_path,
    require_html,
)
from capplan.mpm_names import MpmChoice
from capplan.render.formats import SWEEP_FORMATS, OutputFormat


@app.command("sweep")
def sweep_command(
    config: SystemConfigArgument = None,
    *,
    profile: RequiredProfileOption,
    vary: Annotated[
        list[str],
        typer.Option(
            "--vary",
            metavar="NAME=FROM:TO[:STEP]",
            help="Quantity to vary (repeatable): rate (req/s, or multiples of the profile's: "
            "1x:3x:0.25x), MaxRequestWorkers, KeepAliveTimeout, think_time, service_time "
            "(times: 2, 2s, 200ms). Without STEP: 10 steps. At most 1000 points in all.",
        ),
    ],
    mpm: Annotated[
        MpmChoice,
        typer.Option(help="MPMs to show: the config's own, one of them, or all three."),
    ] = MpmChoice.all,
    define: DefinesOption = None,
    somaxconn: SomaxconnOption = None,
    output_format: Annotated[
        OutputFormat,
        format_option(
            SWEEP_FORMATS, "table, markdown, csv, json or html (needs the capplan[html] extra)."
        ),
    ] = OutputFormat.table,
    output: OutputOption = None,
) -> None:
    """Sweep the rate, workers, keep-alive or times: capacity curves and where each target fails."""
    from capplan.pipeline import sweep_report
    from capplan.render.dispatch import render_sweep

    check_output(output, [config, profile])
    if output_format is OutputFormat.html:
        require_html()
    sweep = sweep_report(
        str(config) if config is not None else None,
        profile_path(profile),
        vary,
        mpm=mpm,
        defines=parse_defines(define),
        somaxconn=somaxconn,
    )
    emit(
        render_sweep(sweep, output_format),
        output,
        inputs=[p for p in (config, profile) if p is not None],
    )
