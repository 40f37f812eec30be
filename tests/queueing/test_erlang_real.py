"""Erlang B and C at a real number of servers (Jagerman's continuous extension) against 40-digit
values of its definition, and where it meets the whole-server functions."""

from __future__ import annotations

import itertools
import math

import mpmath
import pytest

from capplan.queueing import erlang_b, erlang_b_real, erlang_c, erlang_c_real
from capplan.queueing.erlang import FAST_PATH_MIN_SERVERS


def _mp_b(x: float, a: float) -> mpmath.mpf:
    """1/B(x, a) = a integral_0^inf e^(-a t) (1 + t)^x dt = e^a a^-x Gamma(x + 1, a)."""
    with mpmath.workdps(40):
        xm, am = mpmath.mpf(x), mpmath.mpf(a)
        return 1 / (mpmath.exp(am) * am ** (-xm) * mpmath.gammainc(xm + 1, am, mpmath.inf))


SERVERS = (0.3, 0.999, 1.5, 3.55, 10.86, 49.16, 195.5, 830.4)
LOADS = (1e-3, 0.5, 1.99, 2.0, 5.6, 45.0, 190.0, 800.0)


@pytest.mark.parametrize("a", LOADS)
@pytest.mark.parametrize("x", SERVERS)
def test_against_the_integral(x: float, a: float) -> None:
    want = _mp_b(x, a)
    got = erlang_b_real(x, a)
    if want < mpmath.mpf("1e-290"):
        assert got < 1e-280
        return
    assert abs(got - float(want)) <= 1e-11 * float(want)
    c_want = float(x * want / (x - a + a * want)) if a < x else 1.0
    assert erlang_c_real(x, a) == pytest.approx(c_want, rel=1e-11)


@pytest.mark.parametrize("n", [1, 2, 7, 64, 999, FAST_PATH_MIN_SERVERS, 4321])
@pytest.mark.parametrize("a", [0.5, 30.0, 900.0, 1900.0])
def test_whole_servers_are_erlang(n: int, a: float) -> None:
    assert erlang_b_real(float(n), a) == erlang_b(n, a)
    assert erlang_c_real(float(n), a) == pytest.approx(erlang_c(n, a), rel=1e-15)


@pytest.mark.parametrize("x", [1200.5, 1600.7, 4321.25])
@pytest.mark.parametrize("ratio", [0.6, 0.9, 1.1])
def test_many_servers_interpolate_within_a_thousandth(x: float, ratio: float) -> None:
    a = ratio * x
    want = float(_mp_b(x, a))
    assert abs(erlang_b_real(x, a) - want) <= 1e-3 * want


def test_between_the_whole_counts_around_it() -> None:
    # B falls with every server added, fractions of one included; C likewise below a = x.
    for a in (0.7, 6.8, 45.0):
        values = [erlang_b_real(k / 8.0, a) for k in range(1, 8 * 60)]
        assert all(lo > hi for lo, hi in itertools.pairwise(values))
        waits = [erlang_c_real(k / 8.0, a) for k in range(math.floor(8 * a) + 1, 8 * 60)]
        assert all(lo >= hi for lo, hi in itertools.pairwise(waits))
        assert erlang_c_real(a, a) == 1.0


@pytest.mark.parametrize(
    ("servers", "load", "error"),
    [
        pytest.param(0.0, 1.0, ValueError, id="no-servers"),
        pytest.param(-1.5, 1.0, ValueError, id="negative-servers"),
        pytest.param(math.nan, 1.0, ValueError, id="nan-servers"),
        pytest.param(True, 1.0, TypeError, id="bool-servers"),
        pytest.param(2.5, -1.0, ValueError, id="negative-load"),
        pytest.param(2.5, "1", TypeError, id="str-load"),
    ],
)
def test_bad_arguments_raise(servers: object, load: object, error: type[Exception]) -> None:
    for function in (erlang_b_real, erlang_c_real):
        with pytest.raises(error, match=r"servers|load"):
            function(servers, load)  # type: ignore[arg-type]


@pytest.mark.parametrize("a", [5e-324, 1e-310, 1e-300, 1e-100, 1e-10])
@pytest.mark.parametrize("x", [0.3, 0.999, 2.5, 64.5])
def test_a_vanishing_load_neither_overflows_nor_loses_digits(x: float, a: float) -> None:
    # B(x, a) ~ a^x / Gamma(x + 1) as a -> 0; a subnormal load (a traffic profile of 5e-324
    # requests a second) once overflowed a^-x on the way there.
    want = _mp_b(x, a)
    got = erlang_b_real(x, a)
    if want < mpmath.mpf("1e-290"):
        assert got < 1e-280
    else:
        assert abs(got - float(want)) <= 1e-11 * float(want)
    assert erlang_c_real(x, a) <= got * (1.0 + 1e-9) / (1.0 - a / x)
