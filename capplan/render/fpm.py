"""Rendering the FPM side for `inspect`: backends and pool → JSON-ready dicts and text lines.

Input: the FastCGI backends of an httpd config and the `FpmSide` found for them (or None).
Output: plain data (`php_fpm` in `inspect --format json`) and the lines of the table view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from capplan.fpm.handlers import FcgiBackend
from capplan.fpm.locate import FpmSide
from capplan.fpm.pool import FpmPool

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
        from capplan.units import format_size

        return "-1 (no limit)" if value < 0 else format_size(value)
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
