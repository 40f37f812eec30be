"""Measuring a running httpd: memory per process and per thread from /proc, the scoreboard.

Pipeline: `discover` (parent, children) → `procfs` (raw readings) → `memory` (the derivation) →
`status` (mod_status scoreboard) → `pipeline.Measurement` → `report` (JSON, table, profile YAML).
"""

from capplan.measure.pipeline import (
    Measurement,
    measure,
    measure_memory,
    measurement_to_profile_memory,
)
from capplan.measure.procfs import ProcFS

__all__ = ["Measurement", "ProcFS", "measure", "measure_memory", "measurement_to_profile_memory"]
