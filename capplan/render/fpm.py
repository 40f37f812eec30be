"""Rendering PHP-FPM: backends, pool and FPM report → JSON-ready dicts and text lines.

Input: the FastCGI backends of an httpd config and the `FpmSide` found for them (`inspect`), or
a report's `FpmReport` (`recommend`, `check`). Output: plain data (`php_fpm` in the JSON
documents, `recommendation.php_fpm_directives`) and the lines of the table view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from capplan.fpm.handlers import FcgiBackend
from capplan.fpm.locate import FpmSide
from capplan.fpm.model import FpmMetrics
from capplan.fpm.pool import FpmPool
from capplan.fpm_plan import FpmReport
from capplan.measure.fpm import FpmMeasurement
from capplan.render.format import format_bytes

# The pool options shown, in php-fpm's own order, with the FpmPool field behind each.
POOL_FIELDS = (
    ("pm", "pm"),
    ("pm.max_children", "max_children"),
    ("pm.start_servers", "start_servers"),
    ("pm.min_spare_servers", "min_spare_servers"),
    ("pm.max_spare_servers", "max_spare_servers"),
    ("pm.process_idle_timeout", "process_idle_timeout_s"),
    ("pm.max_requests", "max_requests"),
    ("listen", "listen"),
    ("listen.backlog", "listen_backlog"),
    ("request_terminate_timeout", "request_terminate_timeout_s"),
    ("pm.status_path", "status_path"),
)


def backend_to_dict(backend: FcgiBackend) -> dict[str, Any]:
    return {
        "kind": backend.kind,
        "address": backend.address,
        "directive": backend.directive,
        "location": str(backend.location),
        "max_connections": backend.max_connections,
        "max_location": str(backend.max_location) if backend.max_location else None,
    }


def pool_values(pool: FpmPool) -> dict[str, Any]:
    """php-fpm option name → the value the pool runs with (seconds for times)."""
    values: dict[str, Any] = {key: getattr(pool, attr) for key, attr in POOL_FIELDS}
    if pool.memory_limit_bytes is not None:
        values["php memory_limit"] = pool.memory_limit_bytes
    return values


def pool_sources(pool: FpmPool) -> dict[str, str]:
    """php-fpm option name → `file:line`, or `default` (php-fpm's compiled-in value)."""
    out = {}
    for key, _ in POOL_FIELDS:
        location = pool.source_of(key)
        out[key] = str(location) if location is not None else "default"
    for array in ("php_admin_value[memory_limit]", "php_value[memory_limit]"):
        location = pool.source_of(array)
        if location is not None:
            out["php memory_limit"] = str(location)
            break
    return out


def fpm_to_dict(
    backends: Sequence[FcgiBackend], side: FpmSide | None, note: str | None
) -> dict[str, Any]:
    """`inspect --format json`'s `php_fpm`: backends, the pool behind them, how it was found."""
    pool = None
    if side is not None:
        pool = {
            "name": side.pool.name,
            "file": side.config.path,
            "location": str(side.pool.location),
            "chosen": side.how,
            "effective": pool_values(side.pool),
            "provenance": pool_sources(side.pool),
            "warnings": list(side.config.warnings),
        }
    return {"backends": [backend_to_dict(b) for b in backends], "pool": pool, "note": note}


def _shown(key: str, value: object) -> str:
    """A pool value as the table shows it: units for times and sizes, what -1 and 0 mean."""
    if value is None:
        return "undefined"
    if key in ("pm.process_idle_timeout", "request_terminate_timeout"):
        return "0 (off)" if value == 0 else f"{value} s"
    if key == "listen.backlog" and isinstance(value, int) and value < 0:
        return f"{value} (somaxconn)"
    if key == "pm.max_requests" and value == 0:
        return "0 (never recycle)"
    if key == "php memory_limit" and isinstance(value, int):
        return "-1 (no limit)" if value < 0 else format_bytes(value)
    return str(value)


def fpm_lines(backends: Sequence[FcgiBackend], side: FpmSide | None, note: str | None) -> list[str]:
    """`inspect`'s PHP-FPM part: where httpd sends PHP, then the pool with file:line."""
    from capplan.render.table import render_table

    lines = ["", "PHP-FPM:"]
    for backend in backends:
        limit = ""
        if backend.max_connections is not None:
            limit = f", max={backend.max_connections} ({backend.max_location})"
        lines.append(f"  {backend.directive} → {backend} ({backend.location}){limit}")
    if side is not None:
        lines.append(f"  pool [{side.pool.name}] at {side.pool.location}: {side.how}")
        values = pool_values(side.pool)
        sources = pool_sources(side.pool)
        rows = [
            (key, _shown(key, value), sources.get(key, "default")) for key, value in values.items()
        ]
        lines += ["", render_table(("Option", "Effective", "Set at"), rows)]
        lines += [f"  php-fpm warning: {w}" for w in side.config.warnings]
    if note:
        lines.append(f"  {note}")
    return lines


# --- recommend and check ------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: an unstable pool's wait is null."""
    import math

    return value if value is not None and math.isfinite(value) else None


def metrics_to_dict(metrics: FpmMetrics) -> dict[str, Any]:
    """One FPM operating point: the contract's keys first, then detail."""
    return {
        "max_children": metrics.max_children,
        "p_wait": metrics.p_wait,
        "mean_wait_s": _finite(metrics.mean_wait_s),
        "memory_bytes": metrics.memory_bytes,
        "stable": metrics.stable,
        "pm": metrics.pm,
        "servers": metrics.servers,
        "httpd_connections": metrics.httpd_connections,
        "rate_per_s": metrics.rate_per_s,
        "service_time_s": metrics.service_s,
        "service_time_scv": metrics.scv,
        "offered_load_erlangs": metrics.offered_load_erlangs,
        "utilization": metrics.utilization,
        "wait_p99_s": _finite(metrics.wait_p99_s),
        "p_wait_exceeds_max_wait": metrics.p_wait_exceeds,
        "accept_queue": metrics.accept_queue,
        "p_block": metrics.p_block,
        "children_typical": metrics.children_typical,
        "memory_typical_bytes": metrics.memory_typical_bytes,
    }


def fpm_report_to_dict(fpm: FpmReport) -> dict[str, Any]:
    """The report's top-level `php_fpm`: the current pool at the profile's rate (`pool` and the
    figures null when no pool was found), where it was read, its targets at the sizing rate."""
    side = fpm.side
    out: dict[str, Any] = {
        "pool": side.pool.name if side is not None else None,
        "file": side.config.path if side is not None else None,
        "location": str(side.pool.location) if side is not None else None,
        "chosen": side.how if side is not None else None,
        "backend": backend_to_dict(side.backend) if side and side.backend else None,
        "note": fpm.note,
        "assumed_php_defaults": fpm.assumed_defaults,
    }
    if fpm.current is not None:
        out.update(metrics_to_dict(fpm.current))
    else:
        out.update(
            {
                "max_children": None,
                "p_wait": None,
                "mean_wait_s": None,
                "memory_bytes": None,
                "stable": None,
            }
        )
    out["at_sizing_rate"] = (
        metrics_to_dict(fpm.current_at_sizing) if fpm.current_at_sizing is not None else None
    )
    out["targets"] = [
        {"target": t.target, "limit": t.limit, "value": t.value, "met": t.met} for t in fpm.targets
    ]
    if side is not None:
        out["effective"] = pool_values(side.pool)
        out["provenance"] = pool_sources(side.pool)
    return out


def recommendation_fpm_dict(fpm: FpmReport) -> dict[str, Any]:
    """What `recommendation` gains with PHP-FPM: the pool options, their snippet and the
    proposed pool's figures at the sizing rate."""
    return {
        "php_fpm_directives": dict(fpm.directives),
        "php_fpm_snippet": fpm.snippet,
        "php_fpm_file": fpm.side.pool.location.path if fpm.side is not None else None,
        "php_fpm": metrics_to_dict(fpm.proposed) if fpm.proposed is not None else None,
    }


def fpm_report_lines(
    fpm: FpmReport, *, recommend: bool, defaults: tuple[str, ...] = ()
) -> list[str]:
    """The table view's PHP-FPM part: the pool, its figures, targets and (recommend) snippet;
    `defaults` names the php: figures that come from capplan's defaults, said out loud."""
    from capplan.render.format import distinct_from, format_probability, format_seconds

    lines = ["", "PHP-FPM:"]
    side = fpm.side
    if side is not None:
        lines.append(f"  pool [{side.pool.name}] at {side.pool.location} ({side.how})")
    if fpm.note:
        lines.append(f"  {fpm.note}")
    if fpm.assumed_defaults:
        lines.append(
            "  the profile has no php: section: every request is taken to reach PHP for the "
            "whole service time, 64 MiB per child, 128 MiB shared (docs/profile.md)"
        )
    elif defaults:
        lines.append(
            f"  php: figures from capplan's defaults: {', '.join(defaults)} (docs/profile.md; "
            "`capplan measure --fpm-pool` measures process and shared)"
        )
    shown = fpm.current_at_sizing
    if shown is not None:
        wait = format_seconds(shown.mean_wait_s) if shown.stable else "unbounded (overloaded)"
        lines += [
            f"  pm = {shown.pm}, pm.max_children = {shown.max_children} ({shown.servers} usable "
            f"behind httpd's {shown.httpd_connections} FastCGI connections)",
            f"  at the sizing rate: {shown.offered_load_erlangs:.3g} busy children on average, "
            f"P(wait for a child) {format_probability(shown.p_wait)}, mean wait {wait}, "
            f"P(socket queue full) {format_probability(shown.p_block)}",
            f"  memory: {format_bytes(shown.memory_bytes)} worst case "
            f"({format_bytes(shown.memory_typical_bytes)} typical for pm = {shown.pm})",
        ]
        for t in fpm.targets:
            mark = "ok" if t.met else "MISSED"
            lines.append(
                f"  {t.target}: {distinct_from(t.value, t.limit, format_probability)} (limit "
                f"{format_probability(t.limit)}) {mark}"
            )
    if recommend and fpm.proposed is not None:
        proposed = fpm.proposed
        if fpm.snippet:
            where = f" in {side.pool.location.path}" if side is not None else ""
            lines += ["", f"  Pool options{where}:", ""]
            lines += [f"    {line}" for line in fpm.snippet.splitlines()]
        else:
            lines.append("  The pool's sizing options can stay as they are.")
        lines.append(
            f"  With them: P(wait for a child) {format_probability(proposed.p_wait)}, memory "
            f"{format_bytes(proposed.memory_bytes)} worst case, counted with httpd's against "
            "memory.ram"
        )
    return lines


# --- measure --fpm-pool -------------------------------------------------------------------------


def render_fpm_table(m: FpmMeasurement) -> str:
    """`measure --fpm-pool`'s table: the pool's processes, the status page, the php: figures."""
    lines = [
        f"php-fpm pool [{m.pool}]: master PID {m.master.pid}, {len(m.children)} children",
        f"  total PSS {format_bytes(m.total_pss_bytes)}; per child private (USS) "
        f"{format_bytes(m.process_bytes)} on average; shared and master "
        f"{format_bytes(m.shared_bytes)}",
    ]
    for child in m.children:
        lines.append(
            f"  child {child.pid}: PSS {format_bytes(child.pss_bytes)}, private "
            f"{format_bytes(child.uss_bytes)}"
        )
    if m.status is not None:
        lines.append("  status page:")
        lines += [f"    {key}: {value}" for key, value in m.status]
    if m.status_error is not None:
        lines.append(f"  status page: {m.status_error}")
    lines += [
        "",
        "Profile figures (php:):",
        f"  process: {m.process_bytes}",
        f"  shared: {m.shared_bytes}",
    ]
    return "\n".join(lines) + "\n"


def fpm_measurement_to_dict(m: FpmMeasurement) -> dict[str, Any]:
    """`measure --fpm-pool --format json`: the processes, the php: figures, the status page."""
    return {
        "pool": m.pool,
        "master": {
            "pid": m.master.pid,
            "pss_bytes": m.master.pss_bytes,
            "uss_bytes": m.master.uss_bytes,
        },
        "children": [
            {"pid": c.pid, "pss_bytes": c.pss_bytes, "uss_bytes": c.uss_bytes} for c in m.children
        ],
        "total_pss_bytes": m.total_pss_bytes,
        "php": {"process": m.process_bytes, "shared": m.shared_bytes},
        "status": dict(m.status) if m.status is not None else None,
        "status_error": m.status_error,
    }


def render_fpm_yaml(m: FpmMeasurement) -> str:
    """The profile's php: memory lines, measured (merge them into the profile)."""
    return (
        f"# measured on php-fpm pool [{m.pool}], master PID {m.master.pid}, "
        f"{len(m.children)} children\n"
        f"php:\n  process: {m.process_bytes}\n  shared: {m.shared_bytes}\n"
    )
