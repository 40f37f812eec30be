"""`capplan profile`: derive a traffic profile (YAML, format 1) from httpd access logs."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.app import app
from capplan.cli.common import check_output, emit, parse_defines


class _ProgressBar:
    """A one-line progress bar on stderr, shown only on a terminal and after the first second."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.enabled = sys.stderr.isatty()
        self.shown = False
        self.last = 0.0

    def __call__(self, done_bytes: int, total_bytes: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.started < 1.0 or now - self.last < 0.2:
            return
        self.last = now
        rate = done_bytes / (now - self.started) / 1e6
        if total_bytes > 0:
            frac = min(done_bytes / total_bytes, 1.0)
            bar = "#" * int(frac * 30)
            text = f"\r[{bar:<30}] {frac:6.1%}  {rate:,.0f} MB/s"
        else:
            text = f"\r{done_bytes / 1e6:,.0f} MB read  {rate:,.0f} MB/s"
        sys.stderr.write(text)
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


@app.command("profile")
def profile_command(
    *,
    logs: Annotated[
        list[str], typer.Argument(help="Access logs: plain, .gz, or - for standard input.")
    ],
    log_format: Annotated[
        str | None,
        typer.Option("--log-format", "-f", help="The LogFormat string the logs were written with."),
    ] = None,
    log_format_name: Annotated[
        str | None,
        typer.Option(
            "--log-format-name",
            help="A LogFormat nickname: from the -c config, else common, combined or combinedio.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="httpd config: the CustomLog writing a file named like the first log (else the "
            "first CustomLog) gives the format; KeepAliveTimeout and MaxKeepAliveRequests let "
            "requests per visit be fitted.",
        ),
    ] = None,
    define: Annotated[
        list[str] | None,
        typer.Option("-D", help="Define NAME[=VALUE] for the config, like httpd -D."),
    ] = None,
    window: Annotated[
        str, typer.Option("--window", help="Window for the peak request rate, e.g. 1s, 10s, 1min.")
    ] = "1s",
    peak: Annotated[
        str,
        typer.Option(
            "--peak",
            help="Rate to plan for: p99 or max of the windowed rate (or mean, p50, p90, p95).",
        ),
    ] = "p99",
    visit_gap: Annotated[
        str,
        typer.Option("--visit-gap", help="A client idle this long has ended its visit."),
    ] = "300s",
    service_time: Annotated[
        str | None,
        typer.Option("--service-time", help="Mean service time to use when the log has no %D/%T."),
    ] = None,
    max_bad_fraction: Annotated[
        float,
        typer.Option("--max-bad-fraction", help="Fail when more lines than this do not parse."),
    ] = 0.10,
    name: Annotated[str | None, typer.Option("--name", help="Profile name.")] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Worker processes (0: one per core).")
    ] = 0,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the profile here (atomically).")
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="ADDRESS",
            help="Scan on a dask.distributed scheduler (e.g. tcp://host:8786), or local:N for "
            "N local worker processes; the logs must be paths or URLs the workers can read. "
            "Needs capplan[dask].",
        ),
    ] = None,
    php: Annotated[
        bool,
        typer.Option(
            "--php",
            help="Write a php: section (share and time of the requests that reach PHP): a "
            "request is PHP when its handler (%>R, else %R) matches (?i)^proxy:.*fcgi://|php, "
            "or, when the log has no handler, its URL path matches \\.php$.",
        ),
    ] = False,
    php_urls: Annotated[
        str | None,
        typer.Option(
            "--php-urls",
            metavar="REGEX",
            help="PHP requests are those whose URL path (%>U, %U, or the path in %r) matches "
            "REGEX (searched, Python syntax); implies --php.",
        ),
    ] = None,
    php_handlers: Annotated[
        str | None,
        typer.Option(
            "--php-handlers",
            metavar="REGEX",
            help="PHP requests are those whose handler (%>R, else %R) matches REGEX; implies "
            "--php. With --php-urls too, either match counts.",
        ),
    ] = None,
) -> None:
    """Derive a traffic profile from access logs: rates, service times, keep-alive and visits."""
    from capplan.errors import CapplanError, escape_controls
    from capplan.logs.derive import PEAK_CHOICES, checked_profile_yaml
    from capplan.logs.php_split import PhpRule, compile_pattern
    from capplan.logs.pipeline import ProfileRequest, profile_logs
    from capplan.logs.scan import ScanOptions

    check_output(output, [*(p for p in logs if p != "-"), config])
    if peak not in PEAK_CHOICES:
        raise CapplanError(f"--peak {peak!r}: expected one of {', '.join(PEAK_CHOICES)}")
    if not 0.0 <= max_bad_fraction <= 1.0:
        raise CapplanError(f"--max-bad-fraction {max_bad_fraction:g}: expected a value in [0, 1]")
    if jobs < 0:
        raise CapplanError(f"--jobs {jobs}: expected 0 or more")
    if log_format is not None and log_format_name is not None:
        raise CapplanError("give --log-format or --log-format-name, not both")
    window_s = _positive_duration("--window", window)
    visit_gap_s = _positive_duration("--visit-gap", visit_gap)
    service_s = (
        _positive_duration("--service-time", service_time) if service_time is not None else None
    )
    if logs.count("-") > 1:
        raise CapplanError("standard input (-) can be read only once")
    if dask is not None and jobs != 0:
        raise CapplanError("give -j or --dask, not both (--dask runs one task per worker thread)")
    if php_urls is not None:
        compile_pattern("--php-urls", php_urls)
    if php_handlers is not None:
        compile_pattern("--php-handlers", php_handlers)
    php_rule = (
        PhpRule(url_pattern=php_urls, handler_pattern=php_handlers)
        if php or php_urls is not None or php_handlers is not None
        else None
    )
    request = ProfileRequest(
        paths=tuple(logs),
        log_format=log_format,
        log_format_name=log_format_name,
        config=str(config) if config is not None else None,
        defines=tuple(parse_defines(define).items()),
        peak=peak,
        name=name,
        service_time_s=service_s,
        options=ScanOptions(
            window_s=window_s,
            visit_gap_s=visit_gap_s,
            max_bad_fraction=max_bad_fraction,
            jobs=jobs,
        ),
        dask=dask,
        php=php_rule,
    )
    bar = _ProgressBar()
    try:
        # `capplan profile - <&-`: no standard input at all (the reader says so when asked).
        stdin = sys.stdin.buffer if sys.stdin is not None else None
        profile = profile_logs(request, stdin=stdin, progress=bar)
    finally:
        bar.close()
    for warning in profile.warnings:
        typer.echo(escape_controls(f"capplan profile: warning: {warning}"), err=True)
    emit(
        checked_profile_yaml(profile),
        output,
        inputs=[*(p for p in logs if p != "-"), *([config] if config else [])],
    )


def _positive_duration(flag: str, text: str) -> float:
    from capplan.errors import CapplanError
    from capplan.units import parse_duration_s

    try:
        value = parse_duration_s(text)
    except CapplanError as exc:
        raise CapplanError(f"{flag}: {exc.message}") from None
    if value <= 0.0:
        raise CapplanError(f"{flag} {text!r}: must be greater than 0")
    return value
