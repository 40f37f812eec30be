"""The `capplan profile` pipeline: access logs (+ optional httpd config) → `LogProfile`.

Input: a `ProfileRequest` (log paths, the format or its nickname, the config, options). Output:
the derived `LogProfile`; `render_profile_yaml` turns it into profile text. The format comes from
`--log-format`, else the nickname (looked up in the config given with `-c`, else among httpd's
stock formats), else the config's first CustomLog, else `combined`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from capplan.errors import CapplanError
from capplan.logs.derive import KeepAliveConfig, LogProfile, derive_profile, time_resolution_s
from capplan.logs.logformat import (
    BUILTIN_FORMATS,
    COMBINED_FORMAT,
    CompiledFormat,
    compile_format,
    format_from_directives,
)
from capplan.logs.parse import make_plan
from capplan.logs.php_split import PhpRule, resolve_split
from capplan.logs.scan import Progress, ScanOptions, scan_logs


@dataclass(frozen=True, slots=True)
class ProfileRequest:
    paths: tuple[str, ...]
    log_format: str | None = None
    log_format_name: str | None = None
    config: str | None = None
    defines: tuple[tuple[str, str], ...] = ()
    peak: str = "p99"
    name: str | None = None
    service_time_s: float | None = None  # when the log has no duration field
    options: ScanOptions = field(default_factory=ScanOptions)
    dask: str | None = None  # scan on this dask.distributed scheduler (or local:N)
    php: PhpRule | None = None  # --php, --php-urls, --php-handlers: split PHP requests off


@dataclass(frozen=True, slots=True)
class ConfigFacts:
    """What `capplan profile` reads from an httpd config."""

    log_format: str | None
    log_format_origin: str
    keepalive: KeepAliveConfig


def read_config(
    path: str,
    defines: dict[str, str],
    nickname: str | None,
    *,
    want_format: bool,
    log_path: str | None = None,
) -> ConfigFacts:
    """Evaluate the config; take its LogFormat (when wanted) and its keep-alive settings."""
    from capplan.config.evaluator import evaluate_config
    from capplan.effective import effective_config

    evaluated = evaluate_config(path, defines=defines)
    common = effective_config(evaluated).settings.common
    fmt: str | None = None
    origin = ""
    if want_format:
        fmt, where, what = format_from_directives(evaluated.directives, nickname, log_path)
        origin = f"{what} at {where}" if where is not None else what
    keepalive = KeepAliveConfig(
        timeout_s=common.keep_alive_timeout_s,
        max_requests=common.max_keep_alive_requests,
        enabled=common.keep_alive,
        origin=path,
    )
    return ConfigFacts(fmt, origin, keepalive)


def choose_format(request: ProfileRequest, facts: ConfigFacts | None) -> CompiledFormat:
    if request.log_format is not None:
        return compile_format(request.log_format, origin="--log-format")
    if facts is not None and facts.log_format is not None:
        return compile_format(facts.log_format, origin=facts.log_format_origin)
    if request.log_format_name is not None:
        fmt = BUILTIN_FORMATS.get(request.log_format_name)
        if fmt is None:
            known = ", ".join(sorted(BUILTIN_FORMATS))
            raise CapplanError(
                f"--log-format-name {request.log_format_name!r}: not a stock format ({known}); "
                "give -c CONFIG to look it up in your config"
            )
        return compile_format(fmt, origin=f"--log-format-name {request.log_format_name}")
    return compile_format(COMBINED_FORMAT, origin="combined")


def profile_logs(
    request: ProfileRequest, *, stdin: BinaryIO | None = None, progress: Progress | None = None
) -> LogProfile:
    """Scan the logs and derive the profile (raises CapplanError on unusable input)."""
    facts = None
    keepalive_cap = request.options.keepalive_cap
    if request.config is not None:
        facts = read_config(
            request.config,
            dict(request.defines),
            request.log_format_name,
            want_format=request.log_format is None,
            log_path=request.paths[0] if request.paths[0] != "-" else None,
        )
        ka = facts.keepalive
        keepalive_cap = ka.max_requests if ka.enabled and ka.max_requests > 0 else None
    fmt = choose_format(request, facts)
    check_window(fmt, request.options.window_s)
    split = None if request.php is None else resolve_split(request.php, fmt, request.paths)
    options = ScanOptions(
        window_s=request.options.window_s,
        visit_gap_s=request.options.visit_gap_s,
        reorder_s=request.options.reorder_s,
        max_bad_fraction=request.options.max_bad_fraction,
        keepalive_cap=keepalive_cap,
        jobs=request.options.jobs,
        block_bytes=request.options.block_bytes,
        max_clients=request.options.max_clients,
        php=split,
    )
    if request.dask is not None:
        from capplan.logs.dask_scan import scan_logs_dask

        result = scan_logs_dask(
            request.paths, fmt, options, address=request.dask, progress=progress
        )
    else:
        result = scan_logs(request.paths, fmt, options, stdin=stdin, progress=progress)
    name = request.name
    if name is None:
        first = request.paths[0]
        name = "stdin" if first == "-" else Path(first).name.split(".")[0] or "access"
    return derive_profile(
        result,
        name=name,
        peak=request.peak,
        keepalive=facts.keepalive if facts is not None else None,
        service_time_s=request.service_time_s,
        now_s=time.time(),
    )


def check_window(fmt: CompiledFormat, window_s: float) -> None:
    """A rate window shorter than the time stamps' tick would count a tick's requests in one
    window and none in the others: refuse it (CapplanError)."""
    tick = time_resolution_s(make_plan(fmt, window_s=1.0, visit_gap_s=300.0))
    if window_s < tick:
        what = "whole seconds" if tick >= 1.0 else f"steps of {tick:g} s"
        raise CapplanError(
            f"--window {window_s:g}s is shorter than the log's time stamps, which count in "
            f"{what} ({fmt.source!r}): give --window {tick:g}s or longer"
        )
