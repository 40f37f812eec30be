"""Properties of the queueing engine (hypothesis): orderings, monotonicity, limits, Little's law."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.queueing import (
    erlang_b,
    erlang_c,
    mgc,
    mmck,
    poisson_cdf,
    poisson_quantile,
)

servers = st.integers(min_value=1, max_value=3000)
ratios = st.floats(min_value=0.0, max_value=3.0, allow_nan=False)
stable_ratios = st.floats(min_value=0.0, max_value=0.999, allow_nan=False)


@given(servers, ratios)
def test_erlang_c_at_least_erlang_b_and_both_in_unit_interval(c: int, r: float) -> None:
    a = r * c
    b, cc = erlang_b(c, a), erlang_c(c, a)
    assert 0.0 <= b <= cc <= 1.0


@given(servers, ratios)
def test_monotone_in_servers(c: int, r: float) -> None:
    a = r * c
    assert erlang_b(c + 1, a) <= erlang_b(c, a)
    if a < c:
        assert erlang_c(c + 1, a) <= erlang_c(c, a)


@given(servers, ratios, st.floats(min_value=1.0, max_value=1.5))
def test_monotone_in_load(c: int, r: float, factor: float) -> None:
    a = r * c
    assert erlang_b(c, a) <= erlang_b(c, a * factor) * (1 + 1e-13)
    assert erlang_c(c, a) <= erlang_c(c, a * factor) * (1 + 1e-13)


@given(servers, st.floats(min_value=1e-6, max_value=0.999))
def test_mmck_tends_to_mmc_and_littles_law(c: int, r: float) -> None:
    """As Q grows, M/M/c/K's P(all busy) -> Erlang C, and its Lq -> lambda Wq of M/M/c.

    (rho >= 1e-6: below it Lq ~ rho^2 leaves the binary64 range and both sides round to 0.)
    """
    a = r * c
    big_q = 60.0 / max(1e-12, -math.log(r)) + 10.0 if r > 0 else 10.0
    finite = mmck(c, a, big_q, mean_holding_s=2.0)
    infinite = mgc(c, a, mean_holding_s=2.0)
    assert finite.p_block <= 1e-24
    assert math.isclose(finite.p_allbusy, infinite.p_wait, rel_tol=1e-9, abs_tol=1e-300)
    # Little: Lq = lambda Wq with lambda = a / E[H]
    littles = infinite.arrival_rate_per_s * infinite.mean_wait_s
    assert math.isclose(finite.mean_queue_length, littles, rel_tol=1e-9, abs_tol=1e-300)
    assert math.isclose(
        finite.mean_wait_admitted_s, infinite.mean_wait_s, rel_tol=1e-9, abs_tol=1e-300
    )


@given(st.floats(min_value=0.0, max_value=0.999), st.floats(min_value=0.01, max_value=100.0))
def test_mm1_closed_forms(rho: float, holding_s: float) -> None:
    result = mgc(1, rho, mean_holding_s=holding_s)
    assert math.isclose(result.p_wait, rho, rel_tol=1e-14, abs_tol=1e-300)
    assert math.isclose(
        result.mean_wait_s, rho * holding_s / (1 - rho), rel_tol=1e-13, abs_tol=1e-300
    )
    t = 0.7 * holding_s
    want_tail = rho * math.exp(-(1 - rho) * t / holding_s)
    assert math.isclose(result.p_wait_exceeds(t), want_tail, rel_tol=1e-13, abs_tol=1e-300)


@given(st.floats(min_value=0.01, max_value=3.0), st.integers(min_value=0, max_value=400))
def test_mm1k_closed_form(rho: float, q: int) -> None:
    """M/M/1/K with K = Q + 1: P_block = (1 - rho) rho^K / (1 - rho^(K+1))."""
    k = q + 1
    near_one = abs(rho - 1.0) < 1e-9
    want = 1.0 / (k + 1) if near_one else (1 - rho) * rho**k / (1 - rho ** (k + 1))
    got = mmck(1, rho, q).p_block
    assert math.isclose(got, want, rel_tol=1e-11, abs_tol=1e-300)


@given(
    servers, st.floats(min_value=0.0, max_value=0.99), st.floats(min_value=0.5, max_value=0.9999)
)
def test_wait_quantile_inverts_the_tail(c: int, r: float, p: float) -> None:
    result = mgc(c, r * c, mean_holding_s=3.0, scv=0.3)
    t = result.wait_quantile(p)
    if t == 0.0:
        assert result.p_wait <= 1 - p
    else:
        assert math.isclose(result.p_wait_exceeds(t), 1 - p, rel_tol=1e-12)


@settings(max_examples=60)
@given(st.floats(min_value=0.01, max_value=1e5), st.floats(min_value=0.01, max_value=0.9999))
def test_poisson_quantile_is_the_boundary(mu: float, p: float) -> None:
    x = poisson_quantile(p, mu)
    assert poisson_cdf(x, mu) >= p
    assert x == 0 or poisson_cdf(x - 1, mu) < p
