"""Erlang B/C: the three evaluation paths agree, mpmath spot checks, edge cases, validation."""

from __future__ import annotations

import math

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.queueing import (
    erlang_b,
    erlang_b_log10,
    erlang_b_recursion,
    erlang_c,
    erlang_c_log10,
)
from capplan.queueing.erlang import FAST_PATH_MIN_SERVERS


def _mp_erlang_b(c: int, a: float) -> mpmath.mpf:
    """B = pmf(c; a)/cdf(c; a) at 40 digits (independent of the engine's formulas)."""
    with mpmath.workdps(40):
        x = mpmath.mpf(a)
        log_pmf = c * mpmath.log(x) - x - mpmath.loggamma(c + 1)
        return mpmath.exp(log_pmf) / mpmath.gammainc(c + 1, x, mpmath.inf, regularized=True)


def _rel(got: float, want: float) -> float:
    return abs(got - want) / abs(want)


FAST_GRID = [
    pytest.param(c, r, id=f"c={c}-a/c={r}")
    for c in (FAST_PATH_MIN_SERVERS, 1001, 4321, 20_000)
    for r in (0.5, 0.9, 0.95, 0.99, 0.999, 1.0, 1.0005, 1.01)
    if c * (r - 1.0 - math.log(r)) < 600.0  # B = e^-(that) / ...: stays above 1e-290
]


@pytest.mark.parametrize(("c", "ratio"), FAST_GRID)
def test_fast_path_matches_recursion(c: int, ratio: float) -> None:
    a = ratio * c
    want = erlang_b_recursion(c, a)
    assert want > 1e-290
    assert _rel(erlang_b(c, a), want) < 1e-12


@pytest.mark.parametrize(
    ("c", "ratio"),
    [
        pytest.param(c, r, id=f"c={c}-a/c={r}")
        for c in (1, 7, 150, 999, 5000)
        for r in (1.0001, 1.1, 2.0, 50.0, 1e6)
    ],
)
def test_series_for_overload_matches_recursion(c: int, ratio: float) -> None:
    a = ratio * c
    assert _rel(erlang_b(c, a), erlang_b_recursion(c, a)) < 1e-13


def test_one_million_servers_fast_path_matches_recursion() -> None:
    c, a = 1_000_000, 990_000.0
    assert _rel(erlang_b(c, a), erlang_b_recursion(c, a)) < 1e-12


@pytest.mark.parametrize(
    ("c", "a"),
    [
        pytest.param(100_000, 99_000.0, id="issue-point"),
        pytest.param(100_000, 99_990.0, id="c=1e5-rho=0.9999"),
        pytest.param(250_000, 249_000.0, id="c=2.5e5"),
        pytest.param(1_000_000, 999_000.0, id="c=1e6"),
        pytest.param(2_000, 2_100.0, id="overload-fast-span"),
    ],
)
def test_p_wait_within_1e12_of_mpmath(c: int, a: float) -> None:
    b = _mp_erlang_b(c, a)
    want = float(c * b / (c - a + a * b)) if a < c else 1.0
    assert _rel(erlang_c(c, a), want) < 1e-12
    assert _rel(erlang_b(c, a), float(b)) < 1e-12


def test_log_space_below_binary64() -> None:
    # c = 1e5, a = 0.001: log10 B = -756573.45 (derivations §8); B itself underflows to 0.
    assert erlang_b(100_000, 0.001) == 0.0
    assert erlang_b_log10(100_000, 0.001) == pytest.approx(-756573.451334265, abs=1e-6)
    assert erlang_c_log10(100_000, 0.001) == pytest.approx(-756573.451334261, abs=1e-6)


@pytest.mark.parametrize(
    ("c", "a"),
    [(1, 0.0), (10, 0.0), (5000, 0.0)],
)
def test_zero_load(c: int, a: float) -> None:
    assert erlang_b(c, a) == 0.0
    assert erlang_c(c, a) == 0.0
    assert erlang_b_log10(c, a) == -math.inf
    assert erlang_c_log10(c, a) == -math.inf


@pytest.mark.parametrize(
    ("c", "a"),
    [(5, 8.0), (5, 5.0), (1, 1.0), (1000, 1000.0), (100_000, 2e5), (3, 1e300)],
)
def test_overload_is_certain_wait_never_nan(c: int, a: float) -> None:
    assert erlang_c(c, a) == 1.0
    assert erlang_c_log10(c, a) == 0.0
    b = erlang_b(c, a)
    assert 1.0 - c / a <= b <= 1.0
    assert not math.isnan(erlang_b_log10(c, a))


@pytest.mark.parametrize(
    ("servers", "load", "error"),
    [
        pytest.param(2.5, 1.0, TypeError, id="fractional-servers"),
        pytest.param(2.0, 1.0, TypeError, id="float-servers"),
        pytest.param(True, 1.0, TypeError, id="bool-servers"),
        pytest.param("3", 1.0, TypeError, id="str-servers"),
        pytest.param(0, 1.0, ValueError, id="zero-servers"),
        pytest.param(-1, 1.0, ValueError, id="negative-servers"),
        pytest.param(3, math.nan, ValueError, id="nan-load"),
        pytest.param(3, math.inf, ValueError, id="inf-load"),
        pytest.param(3, -1.0, ValueError, id="negative-load"),
        pytest.param(3, "1", TypeError, id="str-load"),
        pytest.param(3, False, TypeError, id="bool-load"),
    ],
)
def test_bad_arguments_raise(servers: object, load: object, error: type[Exception]) -> None:
    for function in (erlang_b, erlang_c, erlang_b_log10, erlang_c_log10, erlang_b_recursion):
        with pytest.raises(error, match=r"servers|load"):
            function(servers, load)  # type: ignore[arg-type]


def test_public_api_resolves() -> None:
    """Every name in capplan.queueing.__all__ exists (the API the MPM models build on)."""
    from capplan import queueing

    for name in queueing.__all__:
        value = getattr(queueing, name)
        assert callable(value) or name in {"VisitShape", "LINUX_CONNECT_ATTEMPTS"}, name


def _mp_erlang_b_recursion(c: int, a: float) -> mpmath.mpf:
    """B by the forward recursion at 40 digits (the oracle where mpmath's gammainc gives up)."""
    with mpmath.workdps(40):
        x = mpmath.mpf(a)
        b = mpmath.mpf(1)
        for j in range(1, c + 1):
            b = x * b / (j + x * b)
        return b


def _assert_matches(c: int, a: float, want: mpmath.mpf) -> None:
    if want < mpmath.mpf("1e-290"):
        want_log10 = float(mpmath.log10(want))
        assert abs(erlang_b_log10(c, a) - want_log10) <= 1e-12 * abs(want_log10)
    else:
        assert _rel(erlang_b(c, a), float(want)) < 1e-12


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=FAST_PATH_MIN_SERVERS, max_value=1_000_000), st.floats(0.8, 1.0))
def test_many_servers_against_mpmath(c: int, ratio: float) -> None:
    """The O(1) path against 40-digit values (incomplete gamma), c from 1e3 to 1e6."""
    _assert_matches(c, ratio * c, _mp_erlang_b(c, ratio * c))


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=FAST_PATH_MIN_SERVERS, max_value=12_000), st.floats(1.0, 1.3))
def test_overload_against_mpmath(c: int, ratio: float) -> None:
    """Both paths above a = c (O(1) up to c + 20 sqrt(c), then the series) at 40 digits."""
    _assert_matches(c, ratio * c, _mp_erlang_b_recursion(c, ratio * c))
