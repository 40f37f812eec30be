"""Sizing: the fast-start pass equals a pass from one server; the other targets; timing."""

from __future__ import annotations

import math

import pytest

from capplan.queueing import (
    GeometricVisits,
    HoldingInputs,
    blocking_estimate,
    erlang_b,
    erlang_c,
    holding_time,
    max_load_block,
    max_load_erlang_c,
    max_load_wait_tail,
    mgc,
    min_servers_block,
    min_servers_erlang_b,
    min_servers_erlang_c,
    min_servers_wait_tail,
    round_up_to_multiple,
)
from capplan.queueing.erlang import erlang_b_from_previous, erlang_c_from_b


def _pass_from_one(a: float, accept: object) -> int:
    """Reference: the plain forward recursion from B(0) = 1, testing every j."""
    b, j = 1.0, 0
    while True:
        j += 1
        b = erlang_b_from_previous(b, j, a)
        if accept(j, b):  # type: ignore[operator]
            return j


LOADS = [1500.0, 2000.5, 7777.7, 9000.0, 31_415.9, 90_000.0]
TARGETS = [0.5, 0.2, 0.05, 0.01, 1e-3, 1e-6, 1e-12]


@pytest.mark.parametrize("a", LOADS)
@pytest.mark.parametrize("eps", TARGETS)
def test_fast_start_equals_single_pass(a: float, eps: float) -> None:
    want_c = _pass_from_one(a, lambda j, b: j > a and erlang_c_from_b(j, a, b) <= eps)
    assert min_servers_erlang_c(a, eps) == want_c
    want_b = _pass_from_one(a, lambda j, b: b <= eps)
    assert min_servers_erlang_b(a, eps) == want_b


@pytest.mark.parametrize(
    ("a", "holding_s", "wait_s", "scv", "eps"),
    [(5.0, 1.0, 0.5, 1.0, 0.01), (678.9, 7.874, 0.2, 0.268, 0.01), (3000.0, 2.0, 1.0, 3.1, 0.05)],
)
def test_wait_tail_target_is_the_first_success(
    a: float, holding_s: float, wait_s: float, scv: float, eps: float
) -> None:
    c = min_servers_wait_tail(a, holding_s, wait_s, eps, scv=scv)
    assert mgc(c, a, holding_s, scv).p_wait_exceeds(wait_s) <= eps
    assert c - 1 <= a or mgc(c - 1, a, holding_s, scv).p_wait_exceeds(wait_s) > eps


@pytest.mark.parametrize(
    ("a", "q", "scv", "eps"),
    [
        (10.0, 5, 1.0, 0.01),
        (678.9, 512, 0.268, 1e-3),
        (2500.0, 512, 1.0, 1e-3),
        (300.0, 0, 1.0, 0.1),
    ],
)
def test_block_target_is_the_first_success(a: float, q: int, scv: float, eps: float) -> None:
    c = min_servers_block(a, q, eps, scv=scv)
    assert blocking_estimate(c, a, q, scv).p_block_est <= eps
    assert c == 1 or blocking_estimate(c - 1, a, q, scv).p_block_est > eps


@pytest.mark.parametrize(("timeout_s", "want_c"), [(5.0, 743), (1.0, 228)])
def test_worked_example_model_3_6(timeout_s: float, want_c: int) -> None:
    """derivations §3.6: 200 req/s, m = 10, S = 50 ms, Z = 5 s, K = 100, q = 1."""
    holding = holding_time(
        HoldingInputs(
            service_s=0.05,
            visits=GeometricVisits(10.0),
            think_s=5.0,
            keepalive_timeout_s=timeout_s,
            max_keepalive_requests=100,
        )
    )
    a = 200.0 * holding.conn_per_req * holding.mean_s
    assert min_servers_erlang_c(a, 0.01) == want_c
    assert erlang_c(want_c, a) <= 0.01 < erlang_c(want_c - 1, a)


def test_max_load_is_the_boundary() -> None:
    a = max_load_erlang_c(256, 0.01)
    assert erlang_c(256, a) <= 0.01
    assert erlang_c(256, math.nextafter(a, math.inf) * (1 + 1e-12)) > 0.01


@pytest.mark.parametrize(
    ("c", "holding_s", "wait_s", "scv"), [(50, 1.0, 0.1, 0.27), (743, 7.87, 0.2, 1.0)]
)
def test_max_load_wait_tail_is_the_boundary(
    c: int, holding_s: float, wait_s: float, scv: float
) -> None:
    a = max_load_wait_tail(c, holding_s, wait_s, 0.01, scv=scv)
    assert mgc(c, a, holding_s, scv).p_wait_exceeds(wait_s) <= 0.01
    assert mgc(c, a * (1 + 1e-12), holding_s, scv).p_wait_exceeds(wait_s) > 0.01
    # a larger delay budget allows more load than P(wait) <= 1 % alone
    assert a > max_load_erlang_c(c, 0.01)


@pytest.mark.parametrize(("c", "q", "scv", "eps"), [(256, 512, 0.27, 1e-3), (10, 0, 1.0, 0.05)])
def test_max_load_block_is_the_boundary(c: int, q: int, scv: float, eps: float) -> None:
    a = max_load_block(c, q, eps, scv=scv)
    assert blocking_estimate(c, a, q, scv).p_block_est <= eps
    assert blocking_estimate(c, a * (1 + 1e-12), q, scv).p_block_est > eps
    assert min_servers_block(a, q, eps, scv=scv) == c


@pytest.mark.parametrize(("c", "m", "want"), [(1, 25, 25), (25, 25, 25), (26, 25, 50), (7, 1, 7)])
def test_round_up_to_multiple(c: int, m: int, want: int) -> None:
    assert round_up_to_multiple(c, m) == want


@pytest.mark.parametrize("target", [0.0, 1.0, -0.1, math.nan])
def test_bad_target_raises(target: float) -> None:
    with pytest.raises(ValueError, match="target probability"):
        min_servers_erlang_c(10.0, target)


def test_zero_load_needs_one_server() -> None:
    assert min_servers_erlang_c(0.0, 0.01) == 1
    assert min_servers_erlang_b(0.0, 0.01) == 1
    assert erlang_b(1, 0.0) == 0.0
