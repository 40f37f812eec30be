"""`capplan fit`: how many workers fit in this machine's memory, per MPM, with no profile needed.

Input: a main config file (or the system's, or httpd's defaults), `--ram`, the reserve for the
rest of the box (`--reserve SIZE` or `--reserve-measured`), `--measure` for the running server's
memory, and optionally a profile. Output: per MPM the largest MaxRequestWorkers that fits, the
next size up that does not, the directive block, and where every figure came from.
"""

from __future__ import annotations

from typing import Annotated

import typer

from capplan.cli.app import app
from capplan.cli.common import (
    DefinesOption,
    FormatOption,
    OutputOption,
    ProfileOption,
    SomaxconnOption,
    SystemConfigArgument,
    emit,
    parse_defines,
    profile_path,
)
from capplan.render.formats import OutputFormat


@app.command("fit")
def fit_command(
    config: SystemConfigArgument = None,
    *,
    ram: Annotated[
        str | None,
        typer.Option(
            metavar="SIZE",
            help="Memory of the machine (default: the profile's memory.ram, else this machine's "
            "MemTotal or cgroup limit, whichever is lower).",
        ),
    ] = None,
    reserve: Annotated[
        str | None,
        typer.Option(metavar="SIZE", help="Memory the rest of the box needs (databases, caches)."),
    ] = None,
    reserve_measured: Annotated[
        bool,
        typer.Option(
            "--reserve-measured",
            help="Reserve what every other process on this machine uses now (PSS, by name).",
        ),
    ] = False,
    measure: Annotated[
        bool,
        typer.Option(
            "--measure", help="Use the memory per process and thread of the running httpd."
        ),
    ] = False,
    profile: ProfileOption = None,
    define: DefinesOption = None,
    somaxconn: SomaxconnOption = None,
    output_format: FormatOption = OutputFormat.table,
    output: OutputOption = None,
) -> None:
    """The largest MaxRequestWorkers per MPM whose worst-case memory fits in RAM."""
    from capplan.fit import fit_report
    from capplan.render.fit import render_fit
    from capplan.units import parse_size_bytes

    report = fit_report(
        str(config) if config is not None else None,
        profile_path=profile_path(profile),
        ram_bytes=parse_size_bytes(ram) if ram is not None else None,
        reserve_bytes=parse_size_bytes(reserve) if reserve is not None else None,
        reserve_measured=reserve_measured,
        measure=measure,
        defines=parse_defines(define),
        somaxconn=somaxconn,
    )
    emit(render_fit(report, output_format), output)
