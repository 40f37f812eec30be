"""Erlang B and Erlang C: the probability that all of `c` servers are busy.

Stage: core of the queueing engine. Input: an integer number of servers `c >= 1` and an offered
load `a >= 0` in Erlangs (arrival rate x mean holding time). Output: probabilities as floats in
[0, 1] (never NaN), and their base-10 logarithms for values below the binary64 range.

Three evaluation paths, all exact up to rounding (derivations §8):

* the forward recursion `B(j) = a B(j-1) / (j + a B(j-1))`: stable for every c and a (each step
  contracts the relative error), O(c); used for few servers, where it is also the cheapest;
* the Poisson ratio `B = pmf(c; a) / cdf(c; a)` with the pmf in Loader's saddle-point form and the
  cdf as the regularised incomplete gamma Q(c+1, a): O(1) in c, relative error about 1e-15 times
  the size of `log B` (no `c log a - lgamma(c+1)` cancellation); used for many servers when the cdf
  cannot underflow (a <= c + 20 sqrt(c));
* the series `1/B = sum_j prod_{i<j} (c-i)/a` of positive, decreasing terms: used for every a > c
  that the O(1) path does not take (few servers, or a well above c); it converges geometrically
  and B > 1 - c/a cannot underflow.

`erlang_b_real` and `erlang_c_real` extend both to a real number of servers x > 0 (Jagerman's
continuous Erlang B, 1/B(x, a) = a integral_0^inf e^(-a t) (1 + t)^x dt, which is the usual B at
whole x): for a server pool some of whose servers are unavailable part of the time.

In this package the engine raises TypeError/ValueError for bad arguments; the command line checks
its flags first and turns problems into CapplanError.
"""

from __future__ import annotations

import math
import numbers

from capplan.queueing.poisson import poisson_cdf, poisson_logpmf

__all__ = [
    "FAST_PATH_MIN_SERVERS",
    "check_load",
    "check_servers",
    "erlang_b",
    "erlang_b_from_previous",
    "erlang_b_log10",
    "erlang_b_real",
    "erlang_b_recursion",
    "erlang_c",
    "erlang_c_from_b",
    "erlang_c_log10",
    "erlang_c_real",
]

# Below this many servers the recursion is cheaper than the O(1) path (whose first use also
# imports scipy.special, about 0.15 s) and just as accurate.
FAST_PATH_MIN_SERVERS = 1000

# The O(1) path is used while a <= c + _FAST_SPAN_SIGMAS * sqrt(c): there Q(c+1, a) >= ~1e-90,
# far from underflow; beyond it the 1/B series needs at most ~2 sqrt(c) terms.
_FAST_SPAN_SIGMAS = 20.0
_LN10 = math.log(10.0)
# Below this, B is recomputed in log space (binary64 loses precision among subnormals).
_TINY = 1e-290


def check_servers(servers: object) -> int:
    """Return `servers` as an int if it is an integer >= 1, else raise TypeError/ValueError.

    bool and non-integral numbers (2.5, but also 2.0) are rejected: derivations §0 forbids rounding
    a server count silently.
    """
    if isinstance(servers, bool) or not isinstance(servers, numbers.Integral):
        raise TypeError(f"servers must be an integer, got {servers!r}")
    c = int(servers)
    if c < 1:
        raise ValueError(f"servers must be >= 1, got {c}")
    return c


def check_load(load: object, name: str = "load") -> float:
    """Return `load` as a float if it is a finite real >= 0, else raise TypeError/ValueError."""
    if isinstance(load, bool) or not isinstance(load, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {load!r}")
    a = float(load)
    if not math.isfinite(a) or a < 0.0:
        raise ValueError(f"{name} must be finite and >= 0, got {a!r}")
    return a


def erlang_b_from_previous(b_prev: float, j: int, load: float) -> float:
    """One step of the forward recursion: B(j, a) from B(j-1, a) (B(0, a) = 1)."""
    ab = load * b_prev
    return ab / (j + ab)


def erlang_b_recursion(servers: int, load: float) -> float:
    """Erlang B by the forward recursion from B(0) = 1: O(c), the reference path.

    It underflows gracefully to 0 (or a subnormal) when B < ~1e-308.
    """
    c = check_servers(servers)
    a = check_load(load)
    b = 1.0
    for j in range(1, c + 1):
        ab = a * b
        b = ab / (j + ab)
    return b


def _inverse_b_series(c: int, a: float) -> float:
    """1/B(c, a) = sum_{j=0}^{c} prod_{i<j} (c-i)/a, for a > c (ratios below c/a < 1)."""
    total = 1.0
    term = 1.0
    for i in range(c):
        term *= (c - i) / a
        total += term
        if term < 1e-17 * total:
            break
    return total


def _uses_fast_path(c: int, a: float) -> bool:
    return c >= FAST_PATH_MIN_SERVERS and a <= c + _FAST_SPAN_SIGMAS * math.sqrt(c)


def _log_b_fast(c: int, a: float) -> float:
    """ln B(c, a) = ln pmf(c; a) - ln Q(c+1, a); Q is near 1 for a << c and >= ~1e-90 here."""
    return poisson_logpmf(c, a) - math.log(poisson_cdf(c, a))


def erlang_b(servers: int, load: float) -> float:
    """Erlang B: blocking probability of M/G/c/c with offered load `load` (Erlangs), in [0, 1].

    Insensitive to the holding-time distribution (derivations §3.2). Exact up to rounding: relative
    error below 1e-13 on every path for c up to 10^6; values below ~1e-308 underflow to 0 (use
    `erlang_b_log10`).
    """
    c = check_servers(servers)
    a = check_load(load)
    if a == 0.0:
        return 0.0
    if _uses_fast_path(c, a):
        return math.exp(_log_b_fast(c, a))
    if a > c:
        return 1.0 / _inverse_b_series(c, a)
    return erlang_b_recursion(c, a)


def erlang_b_log10(servers: int, load: float) -> float:
    """log10 of Erlang B, finite even where B itself underflows (e.g. c = 1e5, a = 0.001).

    -inf for a = 0. Absolute error about 1e-16 times |log B|.
    """
    c = check_servers(servers)
    a = check_load(load)
    if a == 0.0:
        return -math.inf
    b = erlang_b(c, a)
    if b >= _TINY:
        return math.log10(b)
    # Only reachable for a well below c: the Poisson ratio in log form cannot underflow.
    return _log_b_fast(c, a) / _LN10


def erlang_c_from_b(servers: int, load: float, b: float) -> float:
    """Erlang C from Erlang B: `c B / (c - a + a B)` for a < c, else 1 (unstable).

    This form has no `1 - rho` cancellation (derivations §8).
    """
    if load >= servers:
        return 1.0
    return servers * b / (servers - load + load * b)


def erlang_c(servers: int, load: float) -> float:
    """Erlang C: probability that an arrival waits in M/M/c (P(wait)), in [0, 1].

    Returns 1.0 for a >= c (unstable: the queue grows without bound). Underflows to 0 below
    ~1e-308 (use `erlang_c_log10`).
    """
    c = check_servers(servers)
    a = check_load(load)
    if a >= c:
        return 1.0
    return erlang_c_from_b(c, a, erlang_b(c, a))


def erlang_c_log10(servers: int, load: float) -> float:
    """log10 of Erlang C; 0 for a >= c, -inf for a = 0.

    `log C = log B + log c - log(c - a + a B)`.
    """
    c = check_servers(servers)
    a = check_load(load)
    if a >= c:
        return 0.0
    if a == 0.0:
        return -math.inf
    b = erlang_b(c, a)
    log10_b = math.log10(b) if b >= _TINY else _log_b_fast(c, a) / _LN10
    return log10_b + math.log10(c) - math.log10(c - a + a * b)


# The continued fraction of the incomplete gamma function stops when a step changes it by less.
_CF_EPS = 1e-16
_CF_MAX_STEPS = 500


def _b_fraction(eps: float, a: float) -> float:
    """B(eps, a) = a^eps e^-a / Gamma(1 + eps, a) for 0 < eps < 1 and a > 0.

    For a >= 2: Gamma(s, a) = e^-a a^s h, h the continued fraction 1/(a + 1 - s -
    1 (1 - s)/(a + 3 - s - 2 (2 - s)/(a + 5 - s - ...))) (modified Lentz), so B = 1/(a h) with
    nothing to overflow. Below: Gamma(s, a) = Gamma(s) - gamma(s, a), the lower one by its
    series e^-a a^s sum_n a^n / (s (s + 1) ... (s + n)), so
    B = a^eps / (e^a Gamma(s) - a^s sum_n a^n / (s ... (s + n))): both terms of the difference
    are below 8 there and it is at least a^eps, so it keeps about 15 digits, and nothing
    overflows even for a subnormal load (a^-eps alone would).
    """
    s = 1.0 + eps
    if a < 2.0:
        term = 1.0 / s
        total = term
        n = 0
        while term > 1e-17 * total:
            n += 1
            term *= a / (s + n)
            total += term
        return math.pow(a, eps) / (math.exp(a) * math.gamma(s) - math.pow(a, s) * total)
    tiny = 1e-300
    b = a + 1.0 - s
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, _CF_MAX_STEPS):
        an = -i * (i - s)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < _CF_EPS:
            break
    return 1.0 / (a * h)


def erlang_b_real(servers: float, load: float) -> float:
    """Erlang B at a real number of servers x > 0 (Jagerman's continuous extension).

    B(eps, a) for the fraction eps of x (`_b_fraction`), then the forward recursion
    `B(eps + j) = a B / (eps + j + a B)` up to x, stable as for whole x; at whole x it is
    `erlang_b`. From 1000 servers on, where the recursion would cost a millisecond, ln B is
    taken linear between the whole counts around x: ln B is convex in x with a curvature below
    1/x there, so that is within 1e-3 of B, relative.
    """
    x = check_load(servers, "servers")
    a = check_load(load)
    if x <= 0.0:
        raise ValueError(f"servers must be > 0, got {x!r}")
    n = math.floor(x)
    eps = x - n
    if eps == 0.0:
        return erlang_b(n, a)
    if a == 0.0:
        return 0.0
    if n >= FAST_PATH_MIN_SERVERS:
        low, high = erlang_b(n, a), erlang_b(n + 1, a)
        if low <= 0.0 or high <= 0.0:
            return (1.0 - eps) * low + eps * high
        return math.exp((1.0 - eps) * math.log(low) + eps * math.log(high))
    b = _b_fraction(eps, a)
    for j in range(1, n + 1):
        ab = a * b
        b = ab / (eps + j + ab)
    return b


def erlang_c_real(servers: float, load: float) -> float:
    """Erlang C at a real number of servers x > 0: `x B / (x - a + a B)` with `erlang_b_real`,
    1 for a >= x."""
    x = check_load(servers, "servers")
    a = check_load(load)
    if x <= 0.0:
        raise ValueError(f"servers must be > 0, got {x!r}")
    if a >= x:
        return 1.0
    b = erlang_b_real(x, a)
    return x * b / (x - a + a * b)
