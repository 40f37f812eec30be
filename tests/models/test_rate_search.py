"""The rate search behind `target_max_rate_per_s` and `recommend`'s sustainable rate: the sign of
a target's excess is its verdict, and the safeguarded regula falsi returns a passing rate with a
failing one within its tolerance above it, in fewer steps than a bisection."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from capplan.models.targets import Target, _boundary, target_excess

TARGETS = tuple(Target)


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_excess_sign_is_the_verdict(target: Target) -> None:
    rng = random.Random(20261207)
    limits = [0.0, 1e-9, 0.001, 0.05, 0.5, 0.999, 1.0, 2.5, 300.0]
    special = [0.0, 1.0, math.inf, math.nan]
    for limit in limits:
        near = [limit, math.nextafter(limit, math.inf), math.nextafter(limit, -math.inf)]
        values = special + [v for v in near if v >= 0.0]
        values += [limit * rng.uniform(0.0, 2.0) for _ in range(50)] + [rng.random()]
        for value in values:
            excess = target_excess(target, value, limit)
            met = value <= limit
            assert (excess <= 0.0) is met, (target, value, limit, excess)
            assert not math.isnan(excess)


def _counted(crossing: float, shape: str) -> tuple[list[float], Callable[[float], float]]:
    """An excess rising with the rate that crosses 0 at `crossing`: the log odds of a
    probability that is a power of the rate (straight against log rate), or one that saturates
    at 1 above 1.05 times the crossing (inf there), as an overloaded server's does."""
    tried: list[float] = []

    def excess(rate: float) -> float:
        tried.append(rate)
        if shape == "saturating" and rate > 1.05 * crossing:
            return math.inf
        p = min(0.999, 0.01 * (rate / crossing) ** 6)
        return target_excess(Target.max_wait_probability, p, 0.01)

    return tried, excess


@pytest.mark.parametrize("shape", ["power", "saturating"])
@pytest.mark.parametrize("crossing", [1.0, 137.3, 1913.0, 1999.0])
def test_boundary_passes_and_the_rate_above_fails(shape: str, crossing: float) -> None:
    rtol = 1e-3
    tried, excess = _counted(crossing, shape)
    lo, hi = crossing / 1.3, crossing * 1.9  # the profile's rate passes, twice it fails
    answer = _boundary(excess, (lo, excess(lo)), (hi, excess(hi)), rtol)
    assert answer <= crossing * (1 + 1e-12)
    assert answer >= crossing * (1 - rtol)
    # Bisection from this bracket takes ceil(log2((hi - lo) / (rtol * crossing))) steps.
    bisection = math.ceil(math.log2((hi - lo) / (rtol * crossing)))
    steps = len(tried) - 2
    assert steps <= bisection - 3, (steps, bisection)
