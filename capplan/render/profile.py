"""The JSON report's `profile` object: the profile with its defaults filled, under the YAML keys.

Stage: renderer (JSON). Input: a `TrafficProfile`. Output: a JSON-ready dict in seconds and bytes,
built from the profile's field table (`capplan.profile`), so the keys are the ones a profile is
written with.
"""

from __future__ import annotations

from typing import Any

from capplan.profile import (
    HTTP2_KEYS,
    MEMORY_FIELDS,
    PHP_FIELDS,
    PROFILE_VERSION,
    VISITS_FIELDS,
    TrafficProfile,
)


def profile_to_dict(profile: TrafficProfile) -> dict[str, Any]:
    """The profile with defaults filled, under the YAML keys, in seconds and bytes (JSON-safe)."""
    t, v, m, g = profile.traffic, profile.visits, profile.memory, profile.targets
    out: dict[str, Any] = {
        "version": PROFILE_VERSION,
        "name": profile.name,
        "traffic": {
            "requests_per_second": t.requests_per_second,
            "service_time": t.service_time_s,
            "service_time_scv": t.service_time_scv,
            "service_time_p50": t.service_time_p50_s,
            "service_time_p95": t.service_time_p95_s,
            "worker_share": t.worker_share,
        },
        "visits": {
            spec.key: getattr(v, spec.attr)
            for spec in VISITS_FIELDS
            if v.uses_http2 or f"visits.{spec.key}" not in HTTP2_KEYS
        },
        "memory": {spec.key: getattr(m, spec.attr) for spec in MEMORY_FIELDS},
        "targets": {
            "max_wait_probability": g.max_wait_probability,
            "max_wait": None
            if g.max_wait is None
            else {"time": g.max_wait.time_s, "probability": g.max_wait.probability},
            "max_block_probability": g.max_block_probability,
            "max_connection_limit_probability": g.max_connection_limit_probability,
            "max_memory_fraction": g.max_memory_fraction,
            "headroom": g.headroom,
        },
    }
    if profile.php is not None:
        # Only a profile with a php: section says anything about PHP (older reports unchanged).
        out["php"] = {spec.key: getattr(profile.php, spec.attr) for spec in PHP_FIELDS}
    return out
