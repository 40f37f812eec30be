"""event's connection-slot pool: the probability that no process can accept a new connection.

Stage: event model, slot level (derivations §4.3, normative). Input: workers `c`, the effective
AsyncRequestWorkerFactor `F`, the mean busy workers `a_b` and the mean open connections that hold
no worker `a_y`. Output: `ConnectionLimit` with the independence estimate `P_limit`, its
dependence-free bound, and the pooled Erlang C as the lower reference.

A process accepts while `conns - lingering < TPC + F * idle` (F5); summed over processes, "no
process can accept" needs `(1+F) min(N, c) + (N - c)^+ + Y >= (1+F) c`, where N is the number of
requests in service or waiting (M/M/c) and Y ~ Poisson(a_y) the idle connections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from capplan.queueing.erlang import erlang_c
from capplan.queueing.poisson import poisson_cdf, poisson_logpmf, poisson_sf

# Terms below this fraction of the running sum are dropped once they can only shrink.
_NEGLIGIBLE = 1e-18


@dataclass(frozen=True, slots=True)
class ConnectionLimit:
    """P(no process can accept), three ways (all in [0, 1]).

    `p_limit`: independence estimate (M/G/inf colouring theorem). `p_limit_bound`: holds for
    any dependence between N and Y; `bound_argmin` is the n* that attains it (None when the
    bound saturates at 1). `pooled_c`: C(c, a_b), "every worker busy", a lower reference only.
    """

    p_limit: float
    p_limit_bound: float
    bound_argmin: int | None
    pooled_c: float


def _request_level_window(c: int, a_b: float, pooled_c: float) -> tuple[int, list[float]]:
    """(lo, pi[lo:hi]): pi_n = (1 - C) Pois(n; a_b) / P(Pois(a_b) <= c-1) for n in [lo, hi).

    Computed outward from the mode with `p(n+1) = p(n) a/(n+1)`, accurate to |n - mode| ulps;
    the window stops where the terms fall below 1e-300 of the mode's (binary64 cannot add them
    to anything), so its length grows with sqrt(a_b), not with c.
    """
    scale = (1.0 - pooled_c) / poisson_cdf(c - 1, a_b)
    mode = min(math.floor(a_b), c - 1)
    upper = [scale * math.exp(poisson_logpmf(mode, a_b))]
    n = mode + 1
    floor = upper[0] * 1e-300
    while n < c and upper[-1] > floor:
        upper.append(upper[-1] * a_b / n)
        n += 1
    lower: list[float] = []
    value = upper[0]
    n = mode
    while n > 0 and value > floor:
        value = value * n / a_b
        lower.append(value)
        n -= 1
    lower.reverse()
    return mode - len(lower), lower + upper


def _tail_at_least(k: int, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu)."""
    return poisson_sf(k - 1, mu)


def connection_limit(
    workers: int, factor: int, busy_erlangs: float, idle_connections_mean: float
) -> ConnectionLimit:
    """P_limit and its bound (derivations §4.3).

    `P_limit = C(c, a_b) + sum_{n<c} pi_n P(Y >= (1+F)(c-n))`, Y ~ Poisson(a_y);
    `bound = min_{n*} [P(N >= n*) + P(X >= c + F(c - n*))]`, X ~ Poisson(a_b + Lq + a_y),
    Lq = C a_b / (c - a_b). Cost O(c) Poisson tails at most.
    """
    c, f, a_b, a_y = workers, factor, busy_erlangs, idle_connections_mean
    if c < 1 or f < 1:
        raise ValueError(f"need workers >= 1 and factor >= 1, got {c}, {f}")
    if a_b >= c:
        return ConnectionLimit(1.0, 1.0, None, 1.0)
    pooled = erlang_c(c, a_b)
    lo, window = _request_level_window(c, a_b, pooled)
    hi = lo + len(window)  # pi_n = 0 for n outside [lo, hi)
    above = [0.0] * (len(window) + 1)  # above[n - lo] = P(N >= n, N < c) = sum of pi[n:]
    for i in range(len(window) - 1, -1, -1):
        above[i] = above[i + 1] + window[i]

    def pi(n: int) -> float:
        return window[n - lo] if lo <= n < hi else 0.0

    def mass_above(n: int) -> float:
        return above[min(max(n, lo), hi) - lo]

    # Independence estimate: from the mode upward until the remaining mass is negligible, then
    # downward, where both factors shrink with every step.
    def term(n: int) -> float:
        return pi(n) * _tail_at_least((1 + f) * (c - n), a_y)

    mode = min(math.floor(a_b), c - 1)
    total = 0.0
    for n in range(mode, min(c, hi)):
        total += term(n)
        if mass_above(n + 1) <= _NEGLIGIBLE * total:
            break
    for n in range(mode - 1, lo - 1, -1):
        step = term(n)
        total += step
        if step * (a_b / (a_b - n) + 1.0) <= _NEGLIGIBLE * total:
            break
    p_limit = min(1.0, pooled + total)

    # Dependence-free bound: scan n* down from c; P(N >= n*) grows as n* falls, so stop once
    # it alone exceeds the best bound found.
    mean_x = a_b + pooled * a_b / (c - a_b) + a_y
    best, best_n = math.inf, c

    def scan(n_star: int) -> bool:
        nonlocal best, best_n
        at_least_n = pooled + mass_above(n_star)
        if at_least_n >= best:
            return False
        value = at_least_n + _tail_at_least(c + f * (c - n_star), mean_x)
        if value < best:
            best, best_n = value, n_star
        return True

    # Above the window P(N >= n*) is the constant C, so the second term alone decides there and
    # it falls as n* falls: only n* = c and n* = hi can be the best of that stretch.
    start = c
    if hi < c:
        scan(c)
        start = hi
    for n_star in range(start, -1, -1):
        if not scan(n_star):
            break
    # The bound holds for the independent law too, so it is never below P_limit; near 1 the two
    # sums can round the other way by an ulp.
    bound = min(1.0, max(best, p_limit))
    return ConnectionLimit(p_limit, bound, best_n if best < 1.0 else None, pooled)
