"""`capplan measure`: memory per process and thread of a running httpd, and its scoreboard."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from capplan.cli.app import EXIT_OK, app
from capplan.cli.common import emit, format_option
from capplan.errors import CapplanError
from capplan.render.formats import MEASURE_FORMATS, OutputFormat, not_offered

if TYPE_CHECKING:
    from capplan.mpm_names import Mpm

# Two status samples an hour apart measure a rate; longer is a mistake (and 1e300 overflows).
MAX_INTERVAL_S = 3600.0


@app.command("measure")
def measure_command(
    *,
    pid: Annotated[
        int | None, typer.Option("--pid", help="PID of the httpd parent (or of a child).", min=1)
    ] = None,
    pidfile: Annotated[
        Path | None, typer.Option("--pidfile", help="httpd's PID file.", dir_okay=False)
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("-c", "--config", help="httpd config: its PidFile, Listen, mod_status."),
    ] = None,
    status_url: Annotated[
        str | None,
        typer.Option(
            "--status-url",
            help="mod_status URL (default: http://127.0.0.1[:port]/server-status?auto).",
        ),
    ] = None,
    no_status: Annotated[
        bool, typer.Option("--no-status", help="Do not read the scoreboard.")
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            "--interval", help="Seconds between the two status samples (0: one sample).", min=0
        ),
    ] = 1.0,
    error_log: Annotated[
        list[Path] | None,
        typer.Option(
            "--error-log",
            metavar="FILE",
            help="httpd's error log (plain or .gz; repeat for rotated files): count the messages "
            "saying the server reached MaxRequestWorkers.",
        ),
    ] = None,
    fmt: Annotated[
        OutputFormat,
        format_option(MEASURE_FORMATS, "table, json, or yaml (a profile's memory:)."),
    ] = OutputFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
    fpm_pool: Annotated[
        Path | None,
        typer.Option(
            "--fpm-pool",
            metavar="FILE",
            help="Measure the running PHP-FPM pool of this pool file (or php-fpm.conf) instead: "
            "PSS and private memory per child, and its status page when pm.status_path is set.",
        ),
    ] = None,
) -> int:
    """Measure a running httpd: PSS, shared and private memory per process and per thread."""
    if fpm_pool is not None:
        return _measure_fpm(fpm_pool, fmt, output)
    from capplan.measure.pipeline import measure
    from capplan.render.measure import render_json, render_profile_memory, render_table

    if no_status and status_url is not None:
        raise typer.BadParameter("--no-status and --status-url exclude each other")
    if not 0.0 <= interval <= MAX_INTERVAL_S:  # also false for NaN
        raise CapplanError(
            f"--interval {interval!r}: expected seconds from 0 to {MAX_INTERVAL_S:g} "
            "between the two status samples"
        )
    evidence = None
    if error_log:
        from capplan.errorlog import read_error_logs

        evidence = read_error_logs(str(path) for path in error_log)
    unmeasured = None
    try:
        result = measure(
            pid=pid,
            pidfile=pidfile,
            config=config,
            status_url=status_url,
            read_status=not no_status,
            interval_s=interval,
        )
    except CapplanError as exc:
        if evidence is None:
            raise
        result, unmeasured = None, exc.message
    if evidence is not None:
        from capplan.render.errorlog import measure_report
        from capplan.render.measure import measurement_to_dict

        mpm = _config_mpm(config) or (result.mpm if result is not None else None)
        rendered = None  # the JSON document is built from the measurement itself
        if result is not None and fmt is OutputFormat.table:
            rendered = render_table(result)
        elif result is not None and fmt is OutputFormat.yaml:
            rendered = render_profile_memory(result)
        document = measurement_to_dict(result) if result is not None else None
        text = measure_report(
            rendered,
            measured_document=document,
            evidence=evidence,
            mpm=mpm,
            fmt=fmt,
            unmeasured=unmeasured,
        )
        inputs = [p for p in (pidfile, config, *(error_log or ())) if p is not None]
        emit(text, output, inputs=inputs)
        return EXIT_OK
    assert result is not None
    match fmt:
        case OutputFormat.table:
            text = render_table(result)
        case OutputFormat.json:
            text = render_json(result)
        case OutputFormat.yaml:
            text = render_profile_memory(result)
        case _:  # the other formats are not among its --format choices
            raise not_offered(fmt, "measure")
    emit(text, output, inputs=[p for p in (pidfile, config) if p is not None])
    return EXIT_OK


def _measure_fpm(pool_file: Path, fmt: OutputFormat, output: Path | None) -> int:
    """`measure --fpm-pool`: the pool's first pool section, measured while it runs."""
    from capplan.fpm.pool import read_fpm_config
    from capplan.measure.fpm import measure_fpm
    from capplan.render.fpm import fpm_measurement_to_dict, render_fpm_table, render_fpm_yaml

    pool = read_fpm_config(str(pool_file)).pools[0]
    result = measure_fpm(pool)
    match fmt:
        case OutputFormat.table:
            text = render_fpm_table(result)
        case OutputFormat.json:
            import json

            text = json.dumps(fpm_measurement_to_dict(result), indent=2) + "\n"
        case OutputFormat.yaml:
            text = render_fpm_yaml(result)
        case _:  # the other formats are not among its --format choices
            raise not_offered(fmt, "measure")
    emit(text, output, inputs=[pool_file])
    return EXIT_OK


def _config_mpm(config: Path | None) -> Mpm | None:
    """The MPM the config loads, for what the error log's messages mean (None without -c)."""
    if config is None:
        return None
    from capplan.machine import load_effective_config

    return load_effective_config(config).mpm
