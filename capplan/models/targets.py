"""Targets: does one MPM's evaluation meet the profile's targets, and up to which request rate?

Stage: verdict inputs for `check` and `recommend`. Input: `MpmMetrics` (which carry their settings
and profile) and the targets (the profile's, or overridden by flags). Output: one `TargetResult`
per applicable target, in the profile's order: name, limit, value, met; and, on request
(`target_max_rate_per_s`), the largest request rate at which the same settings still meet it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from capplan.models.types import MpmMetrics
from capplan.profile import Memory, Targets, TrafficProfile

# Relative width at which the rate bisection stops; far below any planning accuracy.
_RATE_RTOL = 1e-6
# The bisection gives up growing the rate beyond this factor (a target that holds at any rate).
_RATE_GROWTH_LIMIT = 2.0**40

Metric = Callable[[MpmMetrics], float]


class Target(StrEnum):
    """The targets a profile sets under `targets:`; the value is the profile's key and the name the
    JSON report, JUnit and the sweep's CSV use."""

    max_wait_probability = "max_wait_probability"
    max_wait = "max_wait"
    max_block_probability = "max_block_probability"
    max_connection_limit_probability = "max_connection_limit_probability"
    max_memory_fraction = "max_memory_fraction"

    @property
    def is_memory(self) -> bool:
        """Memory is the one target that does not depend on the rate (and adding processes
        makes it worse, not better)."""
        return self is Target.max_memory_fraction


@dataclass(frozen=True, slots=True)
class TargetResult:
    """One target's outcome. `value` and `limit` share the target's unit (a probability, or a
    fraction of memory.ram); `met` is `value <= limit`. `value_of` is the metric the target
    checks (None for memory), which `target_max_rate_per_s` bisects on."""

    target: Target
    limit: float
    value: float
    met: bool
    value_of: Metric | None = field(default=None, repr=False, compare=False)


def target_max_rate_per_s(result: TargetResult, metrics: MpmMetrics) -> float | None:
    """The largest request rate at which the settings of `metrics` meet this target alone.

    inf when every rate tried does, None for the memory target (it does not depend on the
    rate). A bisection on the rate: each call evaluates the model some 25 times.
    """
    if result.value_of is None:
        return None
    return max_rate_per_s(metrics, result.value_of, result.limit)


def wait_probability_value(metrics: MpmMetrics) -> float:
    """The value checked against `max_wait_probability`.

    prefork/worker: P(an admitted new connection waits), M/M/c/K with retried SYNs. event: the
    larger of P(a new connection waits for a slot or a worker) and 2 B_p: a keep-alive request
    that finds its process saturated is dropped (F7), and B_p carries the model's safety factor
    of 2 (derivations §4.2).
    """
    if metrics.event is None:
        return metrics.p_wait
    return max(metrics.p_wait, min(1.0, 2.0 * metrics.event.process_saturation))


def _connection_limit_value(metrics: MpmMetrics) -> float:
    assert metrics.event is not None
    return metrics.event.p_connection_limit


def _metrics_at_rate(metrics: MpmMetrics, rate_per_s: float) -> MpmMetrics:
    from capplan.models import evaluate

    profile = metrics.profile
    traffic = replace(profile.traffic, requests_per_second=rate_per_s)
    setup = metrics.http2.setup if metrics.http2 is not None else None
    # Only the targets' values are asked for, which do not need an overloaded server's carried
    # figures.
    return evaluate(metrics.settings, replace(profile, traffic=traffic), setup, carried=False)


def max_rate_per_s(
    metrics: MpmMetrics, value_of: Metric, limit: float, rtol: float = _RATE_RTOL
) -> float:
    """The largest request rate with value_of(metrics at that rate) <= limit (monotone in rate).

    Bisection on the rate, relative width `rtol`; inf when the target holds at every rate tried
    (up to 2^40 times the profile's), 0 when it fails at every rate.
    """

    def ok(rate: float) -> bool:
        return value_of(_metrics_at_rate(metrics, rate)) <= limit

    start = metrics.profile.traffic.requests_per_second
    lo, hi = 0.0, start
    if ok(hi):
        while ok(hi * 2.0):
            hi *= 2.0
            if hi > start * _RATE_GROWTH_LIMIT:
                return math.inf
        lo, hi = hi, hi * 2.0
    else:
        while not ok(hi / 2.0):
            hi /= 2.0
            if hi < start / _RATE_GROWTH_LIMIT:
                return 0.0
        lo = hi / 2.0
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def evaluate_targets(
    metrics: MpmMetrics,
    targets: Targets | TrafficProfile | None = None,
    memory: Memory | None = None,
) -> tuple[TargetResult, ...]:
    """Check `targets` (default: the profile's) against `metrics`.

    `targets` may be a `Targets` (for example with a command line's overrides) or a whole
    profile. `memory` (default: the profile's) supplies memory.ram for `max_memory_fraction`.
    Targets that do not apply are left out: `max_connection_limit_probability` for prefork and
    worker, `max_memory_fraction` when memory.ram is unknown, and any target set to null.
    """
    if targets is None:
        targets = metrics.profile
    if isinstance(targets, TrafficProfile):
        memory = targets.memory if memory is None else memory
        targets = targets.targets
    if memory is None:
        memory = metrics.profile.memory
    checks: list[tuple[Target, float, Metric]] = []
    if targets.max_wait_probability is not None:
        checks.append(
            (Target.max_wait_probability, targets.max_wait_probability, wait_probability_value)
        )
    if targets.max_wait is not None:
        wait_s = targets.max_wait.time_s
        checks.append(
            (Target.max_wait, targets.max_wait.probability, lambda m: m.p_wait_exceeds(wait_s))
        )
    if targets.max_block_probability is not None:
        checks.append(
            (Target.max_block_probability, targets.max_block_probability, lambda m: m.p_block)
        )
    if targets.max_connection_limit_probability is not None and metrics.event is not None:
        checks.append(
            (
                Target.max_connection_limit_probability,
                targets.max_connection_limit_probability,
                _connection_limit_value,
            )
        )
    results = []
    for name, limit, value_of in checks:
        value = value_of(metrics)
        results.append(TargetResult(name, limit, value, value <= limit, value_of))
    if targets.max_memory_fraction is not None and memory.ram_bytes:
        fraction = metrics.memory_bytes / memory.ram_bytes
        limit = targets.max_memory_fraction
        results.append(TargetResult(Target.max_memory_fraction, limit, fraction, fraction <= limit))
    return tuple(results)
