"""The JSON report's per-MPM objects, `mpms.<name>` and its HTTP/2 part, from the models' metrics.

Stage: renderer (JSON). Input: `MpmMetrics`. Output: JSON-ready dicts with sizes in bytes, times in
seconds, probabilities in [0, 1], and null where a wait is infinite (no NaN or Infinity token).
"""

from __future__ import annotations

import math
from typing import Any

from capplan.models.http2 import Http2Detail
from capplan.models.types import MpmMetrics


def _finite(value: float) -> float | None:
    """JSON has no infinity: an infinite wait (unstable) becomes null."""
    return value if math.isfinite(value) else None


def metrics_to_dict(metrics: MpmMetrics) -> dict[str, Any]:
    """The JSON report's `mpms.<name>` object: the stable keys first, then detail.

    Sizes in bytes, times in seconds, probabilities in [0, 1]; infinite waits are null.
    """
    m = metrics
    out: dict[str, Any] = {
        "workers": m.workers,
        "processes": m.processes,
        "memory_bytes": m.memory_bytes,
        "max_concurrent_requests": m.max_concurrent_requests,
        "max_connections": m.max_connections,
        "idle_keepalive_capacity": m.idle_keepalive_capacity,
        "offered_load_erlangs": m.offered_load_erlangs,
        "utilization": m.utilization,
        "busy_workers_mean": m.busy_workers_mean,
        "idle_keepalive_mean": m.idle_keepalive_mean,
        "connections_per_s": m.connections_per_s,
        "p_wait": m.p_wait,
        "p_wait_request": m.p_wait_request,
        "mean_wait_s": _finite(m.mean_wait_s),
        "wait_p99_s": _finite(m.wait_p99_s),
        "p_block": m.p_block,
        "stable": m.stable,
        "threads_per_child": m.threads_per_child,
        "server_limit": m.server_limit,
        "accept_queue": m.accept_queue,
        "p_block_conservative": m.p_block_conservative,
        "requests_per_connection": m.requests_per_connection,
        "holding_time_s": m.holding_time_s,
        "holding_time_scv": m.holding_time_scv,
        "scoreboard": {
            "busy_requests": m.scoreboard.busy_requests,
            "idle_keepalive": m.scoreboard.idle_keepalive,
            "closing": m.scoreboard.closing,
        },
        "open_connections_mean": m.open_connections_mean,
        "open_connections_p99": m.open_connections_p99,
        "memory": {
            "typical_bytes": m.memory.typical_bytes,
            "full_bytes": m.memory.full_bytes,
            "worst_bytes": m.memory.worst_bytes,
            "available_bytes": m.memory.available_bytes,
            "max_workers": m.memory.max_workers,
            "worst_processes": m.memory.worst_processes,
        },
    }
    if m.event is not None:
        e = m.event
        out["event"] = {
            "worker_factor": e.worker_factor,
            "busy_erlangs": e.busy_erlangs,
            "idle_connections_mean": e.idle_connections_mean,
            "process_saturation": e.process_saturation,
            "kill_episodes_per_s": e.kill_episodes_per_s,
            "keepalive_drops_per_s": e.keepalive_drops_per_s,
            "stale_requests_per_s": e.stale_requests_per_s,
            "kill_hazard_per_s": e.kill_hazard_per_s,
            "connections_per_s_without_kills": e.connections_per_s_without_kills,
            "churn_per_s": e.churn_per_s,
            "p_connection_limit": e.p_connection_limit,
            "p_connection_limit_bound": e.p_connection_limit_bound,
            "pooled_wait_probability": e.pooled_wait_probability,
            "slot_capacity": e.slot_capacity,
            "lingering_mean": e.lingering_mean,
            "wait_for_worker_probability": e.wait_for_worker_probability,
            "wait_for_slot_probability": e.wait_for_slot_probability,
            "deferred_closes_mean": e.deferred_closes_mean,
            "carried_requests_per_s": e.carried_requests_per_s,
            "model": e.model,
            "model_note": e.model_note or None,
        }
    if m.http2 is not None:
        out["http2"] = http2_to_dict(m.http2)
    return out


def http2_to_dict(detail: Http2Detail) -> dict[str, Any]:
    """`mpms.<mpm>.http2` in the JSON report (infinite waits are null)."""
    d = detail
    return {
        "active": d.active,
        "reason": d.reason or None,
        "share": d.share,
        "streams_per_burst": d.streams_per_burst,
        "burst_time_s": d.burst_time_s,
        "sessions_per_s": d.sessions_per_s,
        "sessions_open_mean": d.sessions_open_mean,
        "idle_sessions_mean": d.idle_sessions_mean,
        "mpm_workers_held_mean": d.mpm_workers_held_mean,
        "h2_min_workers": d.h2_min_workers,
        "h2_max_workers": d.h2_max_workers,
        "h2_workers_busy_per_child": d.h2_workers_busy_per_child,
        "h2_utilization": d.h2_utilization,
        "h2_threads_per_child": d.h2_threads_per_child,
        "stream_wait_probability": d.stream_wait_probability,
        "stream_mean_wait_s": d.stream_mean_wait_s if math.isfinite(d.stream_mean_wait_s) else None,
        "stable": d.stable,
        "memory_bytes": d.memory_bytes,
        "first_limit": d.first_limit,
        "limits": dict(d.limits),
        "warnings": list(d.warnings),
    }
