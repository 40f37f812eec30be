"""Measuring a running httpd: memory per process and per thread from /proc, the scoreboard.

Pipeline: `discover` (parent, children) → `procfs` (raw readings) → `memory` (the derivation) →
`status` (mod_status scoreboard) → `pipeline.Measurement` → `report` (JSON, table, profile YAML).

The names below are imported on first use, so that a command reading only `procfs` (`capplan fit`)
does not pay for the pipeline's HTTP client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capplan.measure.pipeline import (
        Measurement,
        measure,
        measure_memory,
        measurement_to_profile_memory,
    )
    from capplan.measure.procfs import ProcFS

__all__ = ["Measurement", "ProcFS", "measure", "measure_memory", "measurement_to_profile_memory"]


def __getattr__(name: str) -> Any:
    if name == "ProcFS":
        from capplan.measure import procfs

        return procfs.ProcFS
    if name in __all__:
        from capplan.measure import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'capplan.measure' has no attribute {name!r}")
