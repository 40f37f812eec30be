"""`capplan check`: a CI gate — does this config meet the profile's targets?

Input: a main config file, a traffic profile, target flags that override the profile's. Output: the
targets met or missed as a table, JSON, JUnit XML or GitHub Actions annotations pointing at the
directive to change; exit code 0 when every target holds, 1 when one is missed.
"""

from __future__ import annotations

from typing import Annotated

import typer

from capplan.cli.app import EXIT_CHECK_FAILED, app
from capplan.cli.common import (
    DefinesOption,
    EventModelOption,
    FpmPoolOption,
    HeadroomOption,
    OutputOption,
    RequiredProfileOption,
    SomaxconnOption,
    SystemConfigArgument,
    check_output,
    emit,
    format_option,
    parse_defines,
    profile_path,
)
from capplan.mpm_names import EventModel, Mpm
from capplan.render.formats import CHECK_FORMATS, OutputFormat


def _probability_option(flag: str, what: str) -> typer.models.OptionInfo:
    option: typer.models.OptionInfo = typer.Option(
        flag, min=0.0, max=1.0, metavar="P", help=f"Target: {what} at most P."
    )
    return option


@app.command("check")
def check_command(
    config: SystemConfigArgument = None,
    *,
    profile: RequiredProfileOption,
    max_wait_prob: Annotated[
        float | None, _probability_option("--max-wait-prob", "P(a new connection waits)")
    ] = None,
    max_block_prob: Annotated[
        float | None, _probability_option("--max-block-prob", "P(accept queue full)")
    ] = None,
    max_connection_limit_prob: Annotated[
        float | None,
        _probability_option("--max-connection-limit-prob", "P(event: no process can accept)"),
    ] = None,
    max_memory: Annotated[
        str | None,
        typer.Option(
            "--max-memory",
            metavar="SIZE",
            help="Target: worst-case memory at most SIZE (e.g. 6GiB).",
        ),
    ] = None,
    mpm: Annotated[
        Mpm | None,
        typer.Option(help="The MPM compiled into httpd (static builds load none)."),
    ] = None,
    headroom: HeadroomOption = None,
    define: DefinesOption = None,
    somaxconn: SomaxconnOption = None,
    fpm_pool: FpmPoolOption = None,
    event_model: EventModelOption = EventModel.closed_form,
    output_format: Annotated[
        OutputFormat, format_option(CHECK_FORMATS, "table, markdown, json, junit or github.")
    ] = OutputFormat.table,
    output: OutputOption = None,
) -> None:
    """Check a config against the profile's targets: exit 0 if all hold, 1 if one is missed."""
    from capplan.advice import TargetOverrides
    from capplan.pipeline import check_report
    from capplan.render.dispatch import render_report
    from capplan.units import parse_size_bytes

    check_output(output, [config, profile])
    overrides = TargetOverrides(
        max_wait_probability=max_wait_prob,
        max_block_probability=max_block_prob,
        max_connection_limit_probability=max_connection_limit_prob,
        max_memory_bytes=parse_size_bytes(max_memory) if max_memory is not None else None,
    )
    report = check_report(
        str(config) if config is not None else None,
        profile_path(profile),
        overrides=overrides,
        mpm=mpm,
        defines=parse_defines(define),
        somaxconn=somaxconn,
        headroom=headroom,
        fpm_pool=str(fpm_pool) if fpm_pool is not None else None,
        event_model=event_model,
    )
    emit(
        render_report(report, output_format),
        output,
        inputs=[p for p in (config, profile) if p is not None],
    )
    if not report.verdict.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)
