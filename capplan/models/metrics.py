"""The report's per-MPM metrics, named once: JSON key, label, unit and which way is better.

Stage: model output vocabulary. Every place that lists the design's `mpms.<mpm>` keys reads this
table: the comparison rows (`capplan.compare`), the table labels (`capplan.render.report_table`),
the JSON Schema's required keys and the tests. A new metric is one new row here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Better = Literal["lower", "higher"] | None
Unit = Literal["count", "bytes", "erlangs", "fraction", "per_s", "probability", "seconds", "flag"]


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric: its `MpmMetrics` attribute and JSON key, the label tables print, its unit,
    and the direction that wins a comparison (None: a load, not a merit)."""

    key: str
    label: str
    unit: Unit
    better: Better


# In display order; the design's stable `mpms` keys, `stable` last.
METRICS: tuple[Metric, ...] = (
    Metric("workers", "workers", "count", "higher"),
    Metric("processes", "processes", "count", None),
    Metric("memory_bytes", "memory, worst case", "bytes", "lower"),
    Metric("max_concurrent_requests", "max concurrent requests", "count", "higher"),
    Metric("max_connections", "max connections", "count", "higher"),
    Metric("idle_keepalive_capacity", "idle keep-alive capacity", "count", "higher"),
    Metric("offered_load_erlangs", "workers asked for, mean (offered load)", "erlangs", None),
    Metric("utilization", "utilization (asked for / workers)", "fraction", "lower"),
    Metric("busy_workers_mean", "busy workers, mean", "erlangs", None),
    Metric("idle_keepalive_mean", "idle keep-alive connections, mean", "count", None),
    Metric("connections_per_s", "new connections/s", "per_s", "lower"),
    Metric("p_wait", "P(a new connection waits)", "probability", "lower"),
    Metric("p_wait_request", "P(a request waits)", "probability", "lower"),
    Metric("mean_wait_s", "mean wait of a new connection", "seconds", "lower"),
    Metric("wait_p99_s", "wait of a new connection, p99", "seconds", "lower"),
    Metric("p_block", "P(accept queue full)", "probability", "lower"),
    Metric("stable", "stable", "flag", "higher"),
)
METRIC_BY_KEY = {metric.key: metric for metric in METRICS}
