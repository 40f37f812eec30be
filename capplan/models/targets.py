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

# Relative width at which the rate search stops; far below any planning accuracy.
_RATE_RTOL = 1e-6
# The search gives up growing the rate beyond this factor (a target that holds at any rate).
_RATE_GROWTH_LIMIT = 2.0**40
# Smallest log excess of a missed target: a value above its limit by less than an ulp still
# counts as a miss, and the regula falsi must not divide by its 0.
_SMALLEST_EXCESS = 1e-12

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
    checks (None for memory), which `target_max_rate_per_s` searches the rate on."""

    target: Target
    limit: float
    value: float
    met: bool
    value_of: Metric | None = field(default=None, repr=False, compare=False)


def target_max_rate_per_s(result: TargetResult, metrics: MpmMetrics) -> float | None:
    """The largest request rate at which the settings of `metrics` meet this target alone.

    inf when every rate tried does, None for the memory target (it does not depend on the
    rate). `rate_boundary` on the target's excess.
    """
    if result.value_of is None:
        return None
    value_of, limit, target = result.value_of, result.limit, result.target
    return rate_boundary(metrics, lambda m: target_excess(target, value_of(m), limit))


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


def rate_boundary(
    metrics: MpmMetrics, excess_of: Callable[[MpmMetrics], float], rtol: float = _RATE_RTOL
) -> float:
    """The largest request rate at which excess_of(metrics at that rate) <= 0, for an excess
    that grows with the rate (a target's `target_excess`, or the worst of several).

    A bracket by doubling or halving the profile's rate (inf when it holds at every rate tried,
    up to 2^40 times the profile's; 0 when it fails at every rate down to 2^-40 times), then
    `_boundary` narrows it to a relative width `rtol` and returns its passing end.
    """

    def excess(rate: float) -> float:
        return excess_of(_metrics_at_rate(metrics, rate))

    start = metrics.profile.traffic.requests_per_second
    lo, hi = 0.0, start
    at_hi = excess(hi)
    if at_hi <= 0.0:
        at_lo = at_hi
        at_hi = excess(hi * 2.0)
        while at_hi <= 0.0:
            hi *= 2.0
            if hi > start * _RATE_GROWTH_LIMIT:
                return math.inf
            at_lo = at_hi
            at_hi = excess(hi * 2.0)
        lo, hi = hi, hi * 2.0
    else:
        at_lo = excess(hi / 2.0)
        while at_lo > 0.0:
            hi /= 2.0
            at_hi = at_lo
            if hi < start / _RATE_GROWTH_LIMIT:
                return 0.0
            at_lo = excess(hi / 2.0)
        lo = hi / 2.0
    return _boundary(excess, (lo, at_lo), (hi, at_hi), rtol)


def target_excess(target: Target, value: float, limit: float) -> float:
    """How far `value` is beyond the target's `limit`: <= 0 exactly when it is met, and nearly
    straight against the log of the rate, for the rate search. Every queueing target is a
    probability (`max_wait`'s is P(wait > time)), taken by its log odds: a probability
    saturates at 1 where the server cannot keep up, and its log odds runs on to inf there, which
    the search bisects through. Anything else by the log of value over limit."""
    if not target.is_memory and 0.0 < limit < 1.0:
        if value <= limit:
            return -math.inf if value <= 0.0 else min(0.0, _log_odds(value) - _log_odds(limit))
        if value >= 1.0 or not math.isfinite(value):
            return math.inf
        return max(_SMALLEST_EXCESS, _log_odds(value) - _log_odds(limit))
    return _log_excess(value, limit)


def _log_odds(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def _log_excess(value: float, limit: float) -> float:
    """log(value / limit): <= 0 exactly when the target is met (value <= limit); -inf for a
    value of 0, inf where the limit is 0 and the value is not (or the value is inf or NaN)."""
    if value <= limit:
        return -math.inf if value <= 0.0 else min(0.0, math.log(value / limit))
    if limit <= 0.0 or not math.isfinite(value):
        return math.inf
    return max(math.log(value / limit), _SMALLEST_EXCESS)


def _boundary(
    excess: Callable[[float], float],
    passing: tuple[float, float],
    failing: tuple[float, float],
    rtol: float,
) -> float:
    """The passing end of a bracket (rate, excess) around the rate where `excess` (a target's
    `target_excess`, or the worst of several) crosses 0, narrowed to a relative width `rtol`.

    Illinois regula falsi on the excess against the log of the rate, where it is nearly
    straight (`target_excess`): a step that moves the same end twice halves the other end's
    excess, so both ends close in (Dowell and Jarratt, BIT 11, 1971). A step that keeps more than
    half the bracket is followed by a bisection, and an end whose excess is infinite bisects
    too. The sign of the excess alone decides which end moves, so the answer always passes and
    a rate within `rtol` above it fails, as a bisection's.
    """
    lo, at_lo = passing
    hi, at_hi = failing
    moved = 0  # -1: the passing end moved last, +1: the failing end
    bisect = False
    while hi - lo > rtol * hi:
        rate = 0.5 * (lo + hi)
        finite = math.isfinite(at_lo) and math.isfinite(at_hi)
        if not bisect and lo > 0.0 and finite and at_hi > at_lo:
            share = at_lo / (at_lo - at_hi)  # where the line crosses 0, in log rate
            guess = lo * (hi / lo) ** share
            # Not closer to an end than a quarter of the tolerance: a step there would cut off
            # next to nothing, while one just past a crossing next to an end ends the search.
            margin = 0.25 * rtol * hi
            rate = min(max(guess, lo + margin), hi - margin)
        width = hi - lo
        value = excess(rate)
        if value <= 0.0:
            lo, at_lo = rate, value
            if moved == -1:
                at_hi *= 0.5
            moved = -1
        else:
            hi, at_hi = rate, value
            if moved == 1:
                at_lo *= 0.5
            moved = 1
        # A regula falsi step that kept more than half the bracket is followed by a bisection.
        bisect = not bisect and hi - lo > 0.5 * width
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
