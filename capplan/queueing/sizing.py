"""Sizing: the inverse problems of the queueing engine (derivations §7).

Stage: queueing engine. Input: an offered load `a` (Erlangs) and a target probability, or a
server count and a target. Output: the smallest server count meeting the target (int), or the
largest load that keeps it (float, 1e-12 relative or better).

Smallest c: every metric (Erlang C, the Allen-Cunneen tail P(Wq > t), M/M/c/K blocking, Erlang B)
decreases in c, so the answer is the first success of one forward pass of the recursion
`B(j) = a B(j-1)/(j + a B(j-1))`, testing the metric from the running B(j) at each step. For small
loads the pass starts at j = 1. For large loads it starts near the answer: the square-root
staffing rule gives a first guess, the O(1) Poisson-ratio path of `erlang_b` (relative error
~1e-13) brackets the answer by galloping and bisection, and the pass then starts one server below
the bracket's upper end, from B evaluated there. Every server count the pass tests is therefore
decided from a B value with ~1e-13 relative error, the same accuracy as a pass from j = 1, so both
agree unless the metric at the answer lies within ~1e-13 (relative) of the target; the tests check
this against a pass from j = 1 and against sizing.csv.

Largest load: bisection on a to full binary64 resolution; each step evaluates the metric once,
in O(1) for c >= FAST_PATH_MIN_SERVERS.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

from capplan.queueing.erlang import (
    FAST_PATH_MIN_SERVERS,
    check_load,
    check_servers,
    erlang_b,
    erlang_b_from_previous,
    erlang_c,
    erlang_c_from_b,
)
from capplan.queueing.mmck import p_block_from_b
from capplan.queueing.search import smallest_passing

__all__ = [
    "max_load_block",
    "max_load_erlang_b",
    "max_load_erlang_c",
    "max_load_wait_tail",
    "min_servers_block",
    "min_servers_erlang_b",
    "min_servers_erlang_c",
    "min_servers_wait_tail",
    "round_up_to_multiple",
]

# Accepts (servers j, B(j, a)) -> whether the target is met at j.
Acceptor = Callable[[int, float], bool]


def _check_target(target: object) -> float:
    eps = check_load(target, "target probability")
    if not 0.0 < eps < 1.0:
        raise ValueError(f"target probability must be in (0, 1), got {eps!r}")
    return eps


def _halfin_whitt_beta(eps: float) -> float:
    """beta with 1/(1 + beta Phi(beta)/phi(beta)) = eps: Erlang C at c = a + beta sqrt(a).

    Halfin-Whitt's square-root staffing rule; bisection on [0, 40] (enough for eps >= 1e-300).
    """
    lo, hi = 0.0, 40.0
    for _ in range(60):
        beta = 0.5 * (lo + hi)
        cdf = 0.5 * math.erfc(-beta / math.sqrt(2.0))
        pdf = math.exp(-0.5 * beta * beta) / math.sqrt(2.0 * math.pi)
        if 1.0 / (1.0 + beta * cdf / pdf) > eps:
            lo = beta
        else:
            hi = beta
    return hi


def _first_success(load: float, lowest: int, accept: Acceptor, guess: float) -> int:
    """The smallest c >= `lowest` with accept(c, B(c, a)), for an `accept` monotone in c."""
    a = load
    if lowest >= FAST_PATH_MIN_SERVERS or guess >= 2 * FAST_PATH_MIN_SERVERS:
        j = _bracket(a, lowest, accept, guess)
        b = erlang_b(j, a)
    else:
        b, j = 1.0, 0
        while j < lowest:
            j += 1
            b = erlang_b_from_previous(b, j, a)
    if j == lowest and accept(j, b):
        return j
    while True:  # the forward pass: terminates because every metric tends to 0 as B -> 0
        j += 1
        b = erlang_b_from_previous(b, j, a)
        if accept(j, b):
            return j


def _bracket(a: float, lowest: int, accept: Acceptor, guess: float) -> int:
    """Where the forward pass starts: `lowest` if it passes, else c0 failing with c0 + 1 passing.

    Decided by the O(1) path of B: a gallop from `guess` and a bisection (`smallest_passing`).
    """
    first = smallest_passing(
        lambda c: accept(c, erlang_b(c, a)), lowest, sys.maxsize, max(lowest, math.ceil(guess))
    )
    # B -> 0 as c grows, so every acceptor passes eventually: `first` is never None.
    assert first is not None
    return first if first == lowest else first - 1


def _staffing_guess(a: float, eps: float) -> float:
    return a + _halfin_whitt_beta(eps) * math.sqrt(a)


def min_servers_erlang_c(load: float, target: float) -> int:
    """Smallest c with C(c, a) <= target (P(wait) in M/M/c); c > a always."""
    a = check_load(load)
    eps = _check_target(target)
    if a == 0.0:
        return 1

    def accept(j: int, b: float) -> bool:
        return erlang_c_from_b(j, a, b) <= eps

    return _first_success(a, math.floor(a) + 1, accept, _staffing_guess(a, eps))


def min_servers_wait_tail(
    load: float, mean_holding_s: float, wait_s: float, target: float, scv: float = 1.0
) -> int:
    """Smallest c with P(Wq > t) = C exp(-t/w1) <= target (Allen-Cunneen, derivations §3.3).

    `mean_holding_s` E[H] > 0, `wait_s` t >= 0, `scv` cH2 >= 0; w1 = (1 + cH2)/2 E[H]/(c - a).
    """
    a = check_load(load)
    h = check_load(mean_holding_s, "mean holding time")
    if h == 0.0:
        raise ValueError("mean holding time must be > 0")
    t = check_load(wait_s, "wait time")
    cs2 = check_load(scv, "holding-time SCV")
    eps = _check_target(target)
    if a == 0.0:
        return 1
    scale = 0.5 * (1.0 + cs2) * h

    def accept(j: int, b: float) -> bool:
        return erlang_c_from_b(j, a, b) * math.exp(-t * (j - a) / scale) <= eps

    return _first_success(a, math.floor(a) + 1, accept, _staffing_guess(a, eps))


def min_servers_block(load: float, queue: float, target: float, scv: float = 1.0) -> int:
    """Smallest c with M/M/c/K P_block <= target, for the queue `Q_eff = 2Q/(1 + cH2)` (§3.4).

    `scv = 1` sizes on plain M/M/c/K with the given Q; any c >= 1 is a candidate (a finite queue is
    stable for every load).
    """
    a = check_load(load)
    q = check_load(queue, "queue capacity")
    cs2 = check_load(scv, "holding-time SCV")
    eps = _check_target(target)
    if a == 0.0:
        return 1
    q_eff = 2.0 * q / (1.0 + cs2)

    def accept(j: int, b: float) -> bool:
        return p_block_from_b(j, a, q_eff, b) <= eps

    return _first_success(a, 1, accept, _staffing_guess(a, eps))


def min_servers_erlang_b(load: float, target: float) -> int:
    """Smallest c with B(c, a) <= target (M/G/c/c loss; event's per-process saturation)."""
    a = check_load(load)
    eps = _check_target(target)
    if a == 0.0:
        return 1

    def accept(j: int, b: float) -> bool:
        return b <= eps

    # B <= C, so the Erlang C staffing guess is an upper estimate; the bracket gallops down.
    return _first_success(a, 1, accept, _staffing_guess(a, eps))


def _largest_load(ok: Callable[[float], bool], hi: float) -> float:
    """The largest a with ok(a), for ok true at 0 and monotone: bisection to one ulp."""
    lo = 0.0
    while ok(hi):
        lo, hi = hi, 2.0 * hi
    while True:
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            return lo
        if ok(mid):
            lo = mid
        else:
            hi = mid


def max_load_erlang_c(servers: int, target: float) -> float:
    """Largest a with C(c, a) <= target; a* < c. Multiply by E[R]/E[H] for a request rate."""
    c = check_servers(servers)
    eps = _check_target(target)
    return _largest_load(lambda a: erlang_c(c, a) <= eps, float(c))


def max_load_erlang_b(servers: int, target: float) -> float:
    """Largest a with B(c, a) <= target (searched from [0, 10c + 10], extended if needed)."""
    c = check_servers(servers)
    eps = _check_target(target)
    return _largest_load(lambda a: erlang_b(c, a) <= eps, 10.0 * c + 10.0)


def max_load_wait_tail(
    servers: int, mean_holding_s: float, wait_s: float, target: float, scv: float = 1.0
) -> float:
    """Largest a with Allen-Cunneen P(Wq > t) = C exp(-t/w1) <= target; a* < c."""
    c = check_servers(servers)
    h = check_load(mean_holding_s, "mean holding time")
    if h == 0.0:
        raise ValueError("mean holding time must be > 0")
    t = check_load(wait_s, "wait time")
    cs2 = check_load(scv, "holding-time SCV")
    eps = _check_target(target)
    scale = 0.5 * (1.0 + cs2) * h

    def ok(a: float) -> bool:
        return a < c and erlang_c(c, a) * math.exp(-t * (c - a) / scale) <= eps

    return _largest_load(ok, float(c))


def max_load_block(servers: int, queue: float, target: float, scv: float = 1.0) -> float:
    """Largest a with M/M/c/K P_block <= target at Q_eff = 2Q/(1 + cH2) (may exceed c)."""
    c = check_servers(servers)
    q = check_load(queue, "queue capacity")
    cs2 = check_load(scv, "holding-time SCV")
    eps = _check_target(target)
    q_eff = 2.0 * q / (1.0 + cs2)
    return _largest_load(lambda a: p_block_from_b(c, a, q_eff, erlang_b(c, a)) <= eps, float(c))


def round_up_to_multiple(servers: int, multiple: int) -> int:
    """The smallest multiple of `multiple` (e.g. ThreadsPerChild) that is >= `servers`."""
    c = check_servers(servers)
    m = check_servers(multiple)
    return -(-c // m) * m
