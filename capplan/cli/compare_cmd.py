"""`capplan compare`: side-by-side metrics for several profiles and/or configs.

Input: profiles and configs (`-c`, repeatable; default: the system's config). Output: one column
per (profile, config) pair, one row per metric, targets marked met or missed and the best value of
each row marked; as a table, markdown (for pull-request comments) or JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.app import app
from capplan.cli.common import (
    DefinesOption,
    Format,
    FormatOption,
    OutputOption,
    SomaxconnOption,
    check_output,
    emit,
    parse_defines,
    profile_path,
)


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
    output_format: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """Compare profiles and configs side by side; mark targets met or missed and the best values."""
    from capplan.pipeline import compare_report
    from capplan.render.report import render_comparison

    check_output(output, [*profiles, *(config or [])])
    comparison = compare_report(
        [str(profile_path(p)) for p in profiles],
        [str(c) for c in config or []],
        defines=parse_defines(define),
        somaxconn=somaxconn,
    )
    emit(
        render_comparison(comparison, output_format.value),
        output,
        inputs=[*profiles, *(config or [])],
    )
