"""M/M/c/K beyond the goldens: real Q, rho > 1 without overflow, the SCV-corrected estimate."""

from __future__ import annotations

import math

import pytest

from capplan.queueing import blocking_estimate, erlang_b, mmck


def _brute_force(c: int, a: float, q: int) -> tuple[float, float, float]:
    """(P_block, P_allbusy, Lq) from normalising the birth-death weights directly (small c, Q)."""
    weights = [1.0]
    for n in range(1, c + q + 1):
        weights.append(weights[-1] * a / min(n, c))
    total = math.fsum(weights)
    p = [w / total for w in weights]
    lq = math.fsum((n - c) * p[n] for n in range(c, c + q + 1))
    return p[c + q], math.fsum(p[c:]), lq


@pytest.mark.parametrize(
    ("c", "a", "q"),
    [(3, 2.0, 5), (10, 9.9, 1), (10, 10.0, 7), (20, 30.0, 40), (5, 0.3, 2), (50, 45.0, 200)],
)
def test_closed_forms_match_brute_force(c: int, a: float, q: int) -> None:
    p_block, p_allbusy, lq = _brute_force(c, a, q)
    got = mmck(c, a, q)
    assert got.p_block == pytest.approx(p_block, rel=1e-12)
    assert got.p_allbusy == pytest.approx(p_allbusy, rel=1e-12)
    assert got.mean_queue_length == pytest.approx(lq, rel=1e-12)


def test_queue_zero_is_erlang_b() -> None:
    assert mmck(40, 37.5, 0).p_block == erlang_b(40, 37.5)
    assert mmck(40, 37.5, 0).p_wait_admitted == 0.0


@pytest.mark.parametrize("rho", [0.5, 0.999, 1.0, 1.001, 3.0])
def test_real_queue_is_continuous_and_monotone(rho: float) -> None:
    c = 25
    values = [mmck(c, rho * c, q).p_block for q in (10.0, 10.25, 10.5, 10.75, 11.0)]
    assert values == sorted(values, reverse=True)
    assert mmck(c, rho * c, 10.5 + 1e-9).p_block == pytest.approx(values[2], rel=1e-7)


def test_overload_with_huge_queue_does_not_overflow() -> None:
    got = mmck(100, 150.0, 10**6)
    assert got.p_block == pytest.approx(1 - 100 / 150, rel=1e-12)
    assert math.isfinite(got.mean_queue_length)
    assert got.busy_servers == pytest.approx(100.0, rel=1e-12)


def test_scv_correction() -> None:
    """Q_eff = 2Q/(1 + cH2): smoother holding times behave like a longer queue."""
    est = blocking_estimate(50, 45.0, 50, scv=0.27)
    assert est.queue_eff == pytest.approx(100 / 1.27)
    assert est.p_block_est == pytest.approx(mmck(50, 45.0, 100 / 1.27).p_block, rel=1e-15)
    assert est.p_block_mmck == mmck(50, 45.0, 50).p_block
    assert est.p_block_cons == max(est.p_block_mmck, est.p_block_est)
    assert est.p_block_est < est.p_block_mmck
    bursty = blocking_estimate(50, 45.0, 50, scv=3.1)
    assert bursty.p_block_est > bursty.p_block_mmck
    assert bursty.p_block_cons == bursty.p_block_est
    assert blocking_estimate(50, 45.0, 50, scv=1.0).p_block_est == est.p_block_mmck


@pytest.mark.parametrize("queue", [-1.0, math.nan, math.inf])
def test_bad_queue_raises(queue: float) -> None:
    with pytest.raises(ValueError, match="queue capacity"):
        mmck(10, 5.0, queue)
