"""JSON renderer: an `EffectiveConfig` → the reports' `config` object, and JSON text.

Input: frozen results. Output: plain dicts (reused by every report that embeds a config) and
deterministic JSON text (sorted nowhere, insertion order kept; NaN refused).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from capplan.effective import capacity, effective_values
from capplan.mpm_settings import EffectiveConfig

if TYPE_CHECKING:
    from capplan.config.types import HttpdWarning
    from capplan.http2 import Http2Settings

SCHEMA_VERSION = 1


def _warnings(warnings: tuple[HttpdWarning, ...]) -> list[dict[str, Any]]:
    return [
        {
            "code": w.code,
            "message": w.message,
            "location": str(w.location) if w.location is not None else None,
        }
        for w in warnings
    ]


def config_to_dict(config: EffectiveConfig) -> dict[str, Any]:
    """`{path, mpm, layout, effective, provenance, warnings, notes, capacity}` (docs/inspect.md)."""
    values = effective_values(config)
    sources = dict(config.provenance)
    provenance = {
        name: str(sources[name]) if name in sources else "default"
        for name in (*values, *(n for n in sources if n not in values))
    }
    limits = capacity(config.settings)
    return {
        "path": config.path,
        "mpm": config.mpm,
        "layout": config.layout,
        "effective": values,
        "provenance": provenance,
        "warnings": _warnings(config.warnings),
        "notes": list(config.notes),
        "capacity": {
            "processes": limits.processes,
            "threads_per_process": limits.threads_per_process,
            "workers": limits.workers,
            "max_connections": limits.max_connections,
            "accept_queue": limits.accept_queue,
            "somaxconn": config.settings.common.somaxconn,
        },
        # Only when mod_http2 is loaded, so configs without it keep their exact JSON.
        **({"http2": http2_to_dict(config.http2)} if config.http2 is not None else {}),
    }


def http2_to_dict(settings: Http2Settings) -> dict[str, Any]:
    """`config.http2`: mod_http2's effective values, their sources, servers and warnings."""
    from capplan.http2 import effective_rows

    sources = dict(settings.provenance)
    values = effective_rows(settings)
    return {
        "active": settings.active,
        "offered": settings.offered,
        "negotiates": settings.negotiates,
        "effective": {
            **values,
            "Protocols": list(settings.main.protocols),
        },
        "provenance": {n: str(sources[n]) if n in sources else "default" for n in values},
        "servers": [
            {
                "name": s.name,
                "location": str(s.location) if s.location is not None else None,
                "protocols": list(s.protocols),
                "max_session_streams": s.max_session_streams,
                "stream_timeout_s": s.stream_timeout_s,
                "idle_timeout_s": s.idle_timeout_s,
                "timeout_s": s.timeout_s,
            }
            for s in settings.servers
        ],
        "warnings": _warnings(settings.warnings),
        "notes": list(settings.notes),
    }


def inspect_document(config: EffectiveConfig) -> dict[str, Any]:
    """What `capplan inspect --format json` prints: the config object with `schema_version`."""
    return {"schema_version": SCHEMA_VERSION, **config_to_dict(config)}


def dumps(document: object) -> str:
    """Indented JSON text; NaN and infinities are refused (they are bugs upstream)."""
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
