"""P(no child can accept) child by child (`children_at_limit`, derivations §4.3).

Checked against sums written out with exact binomial coefficients, against the pooled
independence estimate it reduces to for one child, for monotonicity, and against the test
simulator on two children near their limits.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capplan.models.slot_limit import (
    ThresholdTails,
    _binomial_tail,
    children_at_limit,
    connection_limit,
)
from capplan.queueing.poisson import poisson_logpmf

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def exact_tail(at_least: int, trials: int, p: float) -> float:
    """P(Binomial(trials, p) >= at_least) from math.comb, term by term."""
    return math.fsum(
        math.comb(trials, j) * p**j * (1.0 - p) ** (trials - j)
        for j in range(max(0, at_least), trials + 1)
    )


def written_out(processes: int, tpc: int, factor: int, busy: float, idle: float) -> float:
    """The docstring's sum over X = 0 ... 400, each child's q by exact_tail."""
    x = busy + idle
    share = busy / x
    total = []
    for count in range(400):
        weight = math.exp(poisson_logpmf(count, x))
        product = 1.0
        for child in range(processes):
            k = count // processes + (1 if child < count % processes else 0)
            needed = math.ceil(((1 + factor) * tpc - k) / factor)
            product *= exact_tail(min(tpc, needed), k, share)
        total.append(weight * product)
    return math.fsum(total)


@pytest.mark.parametrize(
    ("at_least", "trials", "p"),
    [(0, 5, 0.3), (3, 5, 0.3), (6, 5, 0.3), (1, 40, 0.01), (30, 40, 0.2), (2, 40, 0.9)],
)
def test_binomial_tail_matches_the_exact_sum(at_least: int, trials: int, p: float) -> None:
    expected = exact_tail(at_least, trials, p)
    assert _binomial_tail(at_least, trials, p) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("tpc", "factor", "p"), [(8, 2, 0.3), (25, 3, 0.02), (64, 4, 0.0001)])
def test_child_shares_step_by_step_match_each_computed_afresh(
    tpc: int, factor: int, p: float
) -> None:
    # k from TPC to past (1 + F) TPC: the threshold falls from TPC to 0, and with a small p
    # the first shares are below 1e-250, where each is computed afresh until one is not.
    shares = ThresholdTails((1 + factor) * tpc, tpc, factor, p)
    stepped = ThresholdTails((1 + factor) * tpc, tpc, factor, p)
    shares.start(tpc)
    for k, tail, point_at, threshold in stepped.walk(tpc, (1 + factor) * tpc + 3):
        needed = min(tpc, math.ceil(((1 + factor) * tpc - k) / factor))
        assert threshold == max(needed, 0), k
        expected = exact_tail(needed, k, p) if needed > 0 else 1.0
        assert shares.at(k) == pytest.approx(expected, rel=1e-11, abs=1e-300), k
        assert tail == pytest.approx(expected, rel=1e-11, abs=1e-300), k
        point = exact_tail(needed, k, p) - exact_tail(needed + 1, k, p) if 0 < needed <= k else 0.0
        assert point_at == pytest.approx(point, rel=1e-9, abs=1e-300), k


@pytest.mark.parametrize(
    ("processes", "tpc", "factor", "busy", "idle"),
    [(2, 8, 2, 8.0, 16.0), (3, 4, 1, 5.0, 8.0), (2, 4, 4, 5.6, 4.0), (4, 6, 2, 3.0, 40.0)],
)
def test_matches_the_sum_written_out(
    processes: int, tpc: int, factor: int, busy: float, idle: float
) -> None:
    expected = written_out(processes, tpc, factor, busy, idle)
    got = children_at_limit(processes, tpc, factor, busy, idle)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_one_child_is_the_independence_estimate() -> None:
    # With few busy workers the M/M/c law of the pooled estimate is Poisson's to within C(c, a).
    for busy, idle in ((2.0, 30.0), (1.0, 12.0), (3.0, 60.0)):
        pooled = connection_limit(16, 2, busy, idle)
        got = children_at_limit(1, 16, 2, busy, idle)
        assert got == pytest.approx(pooled.p_limit, rel=1e-6, abs=pooled.pooled_c)


def test_several_children_are_below_the_pooled_sum() -> None:
    # Two children of 8, F = 2, at utilisation 0.5 with 16 idle connections: the simulator
    # finds no child able to accept 0.116 ± 0.011 of the time; pooled 0.193.
    pooled = connection_limit(16, 2, 8.0, 16.0).p_limit
    got = children_at_limit(2, 8, 2, 8.0, 16.0)
    assert got < 0.75 * pooled
    assert 0.08 < got < 0.16


def test_far_from_every_limit_it_is_negligible() -> None:
    assert children_at_limit(4, 64, 2, 10.0, 20.0) < 1e-200
    assert children_at_limit(4, 64, 2, 1.0, 2.0) == 0.0
    assert children_at_limit(2, 8, 2, 0.0, 0.0) == 0.0


def _grows(low: float, high: float) -> bool:
    return high >= low * (1 - 1e-9) - 1e-300


@FUZZ
@given(
    processes=st.integers(1, 6),
    tpc=st.integers(1, 64),
    factor=st.integers(1, 4),
    busy=st.floats(0.0, 200.0),
    idle=st.floats(0.0, 600.0),
    scale=st.floats(1.0, 1.5),
)
def test_is_monotone_and_a_probability(
    *, processes: int, tpc: int, factor: int, busy: float, idle: float, scale: float
) -> None:
    # More traffic (both loads scaled, as a higher request rate scales them), more busy
    # workers, fewer threads or a smaller factor never lower it. More idle connections alone
    # can, a little, where they are few: an evenly split count of mostly busy connections
    # makes each child's busy workers less variable (the split of `children_at_limit`; in a
    # scan of random points, by up to 4 % with 25-64 threads, 30 % of values below 1e-3 with
    # 1-8).
    base = children_at_limit(processes, tpc, factor, busy, idle)
    assert 0.0 <= base <= 1.0
    assert _grows(base, children_at_limit(processes, tpc, factor, busy * scale, idle * scale))
    assert _grows(base, children_at_limit(processes, tpc, factor, busy * scale, idle))
    assert _grows(children_at_limit(processes, tpc + 1, factor, busy, idle), base)
    assert _grows(children_at_limit(processes, tpc, factor + 1, busy, idle), base)


def test_more_idle_connections_raise_it_near_the_connection_limit() -> None:
    # Where idle connections fill the children (the case the split is made for), more of them
    # mean more children at their limit.
    values = [children_at_limit(2, 8, 2, 8.0, idle) for idle in (12.0, 16.0, 20.0, 24.0)]
    assert values == sorted(values)
    assert values[-1] > 2.0 * values[0]
