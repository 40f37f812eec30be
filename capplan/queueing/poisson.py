"""Poisson probabilities for large means: the numeric base of the Erlang fast path and the sizing.

Stage: numeric kernel of the queueing engine. Input: a count `k` and a mean `mu` (floats or ints).
Output: log-pmf, cdf, survival function and quantiles as floats, accurate to a few ulps times
`log(k)`, with no cancellation in `k*log(mu) - mu - lgamma(k+1)` (Loader's saddle-point form).

scipy.special is imported on first use only, and only for means above `PURE_MAX_MEAN`: the
command line must start fast, and the tails of smaller means are summed here term by term (the
terms shrink geometrically away from the mode: at most ~8.5 sqrt(mu) + 40, about 0.1 ms at the
largest summed mean; ~1e-13 relative accuracy).
"""

from __future__ import annotations

import functools
import math
from types import ModuleType

__all__ = [
    "bd0",
    "poisson_cdf",
    "poisson_logpmf",
    "poisson_quantile",
    "poisson_sf",
    "stirlerr",
]

_LN_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

# stirlerr(n) = lgamma(n+1) - (n+1/2)*log(n) + n - log(sqrt(2*pi)) for n = 0..15, from mpmath at
# 40 digits (entry 0 is unused: the pmf at k = 0 is exp(-mu) and is handled directly).
_STIRLERR_TABLE = (
    0.0,
    0.08106146679532725822,
    0.041340695955409294094,
    0.027677925684998339149,
    0.020790672103765093112,
    0.016644691189821192163,
    0.013876128823070747999,
    0.011896709945891770095,
    0.010411265261972096497,
    0.0092554621827127329177,
    0.0083305634333628712565,
    0.007573675487951840795,
    0.0069428401072095298657,
    0.0064089941880042070684,
    0.0059513701127588477356,
    0.005554733551962801371,
)


# Means up to this are summed directly (at most ~8.5 sqrt(mu) + 40 terms, ~1900 at the
# bound, 0.1 ms); above it scipy's incomplete gamma is cheaper, import included (~0.3 s: a
# recommend for a few thousand connections must not pay it).
PURE_MAX_MEAN = 50000.0


@functools.cache
def _special() -> ModuleType:
    """scipy.special, imported once on first use (about 0.15 s)."""
    import scipy.special

    module: ModuleType = scipy.special
    return module


def stirlerr(n: int) -> float:
    """The error of Stirling's formula, `lgamma(n+1) - (n+1/2)log n + n - log sqrt(2 pi)`, n >= 1.

    Table for n <= 15, else the asymptotic series 1/(12n) - 1/(360n^3) + ... (Loader 2000,
    "Fast and accurate computation of binomial probabilities"); relative error below 1e-16.
    """
    if n <= 15:
        return _STIRLERR_TABLE[int(n)]
    nn = float(n) * float(n)
    s0, s1, s2, s3, s4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188
    if n > 500:
        return (s0 - s1 / nn) / n
    if n > 80:
        return (s0 - (s1 - s2 / nn) / nn) / n
    if n > 35:
        return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n


def bd0(x: float, mu: float) -> float:
    """The deviance term `x*log(x/mu) + mu - x` >= 0, without cancellation when x is near mu.

    For |x - mu| < 0.35 (x + mu) it sums the series in v = (x-mu)/(x+mu) (Loader 2000; his
    bound is 0.1, widened here): the terms are all of one sign, so the relative error stays at a
    few ulps, and each term shrinks by v^2 <= 0.1225. Outside that band the direct form loses
    about x ulps, but there bd0 > 0.2 x, so the pmf of any x above ~3500 underflows anyway.
    """
    if abs(x - mu) < 0.35 * (x + mu):
        v = (x - mu) / (x + mu)
        s = (x - mu) * v
        ej = 2.0 * x * v
        v2 = v * v
        j = 1
        while True:
            ej *= v2
            j += 2
            s1 = s + ej / j
            if s1 == s:
                return s1
            s = s1
    return x * math.log(x / mu) + mu - x


def poisson_logpmf(k: int, mu: float) -> float:
    """Natural log of P(X = k) for X ~ Poisson(mu); k >= 0 integer, mu >= 0.

    `-stirlerr(k) - bd0(k, mu) - log sqrt(2 pi k)`: absolute error a few ulps of `log k`, where
    the textbook `k log mu - mu - lgamma(k+1)` loses `k log k` ulps.
    """
    if mu == 0.0:
        return 0.0 if k == 0 else -math.inf
    if k == 0:
        return -mu
    return -stirlerr(k) - bd0(float(k), mu) - _LN_SQRT_2PI - 0.5 * math.log(k)


def _tail_away_from_mode(k: int, mu: float, *, upward: bool) -> float:
    """Sum of P(X = j) for j = k, k+1, ... (upward, k > mu) or j = k, k-1, ..., 0 (k < mu).

    Every step moves away from the mode, so the terms shrink (by mu/j or j/mu) and the sum stops
    once a term no longer changes it.
    """
    term = math.exp(poisson_logpmf(k, mu))
    total = 0.0
    j = k
    # One loop per direction: the models sum thousands of these tails per `recommend`.
    if upward:
        while term > 0.0:
            new_total = total + term
            if new_total == total:
                break
            total = new_total
            j += 1
            term *= mu / j
        return total
    while term > 0.0:
        new_total = total + term
        if new_total == total or j == 0:
            return new_total
        total = new_total
        term *= j / mu
        j -= 1
    return total


def poisson_cdf(k: int, mu: float) -> float:
    """P(X <= k) for X ~ Poisson(mu): the regularised upper incomplete gamma Q(k+1, mu)."""
    if k < 0:
        return 0.0
    if mu == 0.0:
        return 1.0
    if mu <= PURE_MAX_MEAN:
        if k < mu:
            return _tail_away_from_mode(k, mu, upward=False)
        return 1.0 - _tail_away_from_mode(k + 1, mu, upward=True)
    return float(_special().gammaincc(k + 1.0, mu))


def poisson_sf(k: int, mu: float) -> float:
    """P(X > k) for X ~ Poisson(mu): the regularised lower incomplete gamma P(k+1, mu).

    Computed directly (not as 1 - cdf) where it is the smaller tail, so tiny tails keep their
    relative accuracy.
    """
    if k < 0:
        return 1.0
    if mu == 0.0:
        return 0.0
    if mu <= PURE_MAX_MEAN:
        if k + 1 > mu:
            return _tail_away_from_mode(k + 1, mu, upward=True)
        return 1.0 - _tail_away_from_mode(k, mu, upward=False)
    return float(_special().gammainc(k + 1.0, mu))


def _normal_quantile_start(p: float) -> float:
    """z with Phi(z) ~= p, 0 < p < 1, to within 4.5e-4 (Abramowitz and Stegun 26.2.23): a
    starting point only (`poisson_quantile` walks to the exact answer from it), without the
    start-up cost of importing `statistics`."""
    tail = min(p, 1.0 - p)
    t = math.sqrt(-2.0 * math.log(tail))
    z = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (
        1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t
    )
    return z if p > 0.5 else -z


def poisson_quantile(p: float, mu: float) -> int:
    """The smallest integer x with P(X <= x) >= p, for X ~ Poisson(mu), 0 < p < 1, mu >= 0.

    Starts from the Cornish-Fisher normal approximation `mu + z sqrt(mu) + (z^2 - 1)/6`, then
    walks one step at a time to the exact boundary, comparing the upper tail P(X > x) with 1 - p
    when p > 1/2 so that high quantiles keep full relative accuracy.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"quantile level must be in (0, 1), got {p!r}")
    if not (math.isfinite(mu) and mu >= 0.0):
        raise ValueError(f"Poisson mean must be finite and >= 0, got {mu!r}")
    if mu == 0.0:
        return 0
    z = _normal_quantile_start(p)
    x = max(0, math.floor(mu + z * math.sqrt(mu) + (z * z - 1.0) / 6.0))

    def reaches(k: int) -> bool:
        if k < 0:
            return False
        if p > 0.5:
            return poisson_sf(k, mu) <= 1.0 - p
        return poisson_cdf(k, mu) >= p

    while not reaches(x):
        x += 1
    while reaches(x - 1):
        x -= 1
    return x
