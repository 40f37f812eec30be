"""JSON renderer: an `EffectiveConfig` → the design's `config` object, and JSON text.

Input: frozen results. Output: plain dicts (reused by every report that embeds a config) and
deterministic JSON text (sorted nowhere, insertion order kept; NaN refused).
"""

from __future__ import annotations

import json
from typing import Any

from capplan.mpm import capacity, effective_values
from capplan.settings import EffectiveConfig

SCHEMA_VERSION = 1


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
        "warnings": [
            {
                "code": w.code,
                "message": w.message,
                "location": str(w.location) if w.location is not None else None,
            }
            for w in config.warnings
        ],
        "notes": list(config.notes),
        "capacity": {
            "processes": limits.processes,
            "threads_per_process": limits.threads_per_process,
            "workers": limits.workers,
            "max_connections": limits.max_connections,
            "accept_queue": limits.accept_queue,
            "somaxconn": config.settings.common.somaxconn,
        },
    }


def inspect_document(config: EffectiveConfig) -> dict[str, Any]:
    """What `capplan inspect --format json` prints: the config object with `schema_version`."""
    return {"schema_version": SCHEMA_VERSION, **config_to_dict(config)}


def dumps(document: object) -> str:
    """Indented JSON text; NaN and infinities are refused (they are bugs upstream)."""
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
