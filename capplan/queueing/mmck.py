"""The finite accept queue: M/M/c/K with K = c + Q, and its SCV-corrected blocking estimate.

Stage: queueing engine. Input: servers `c`, offered load `a` (Erlangs), accept-queue capacity `Q`
(a real number >= 0; Linux: min(ListenBacklog, somaxconn) + 1), mean holding time and its SCV.
Output: `MMcKResult` (blocking, waits, carried load) and `BlockingEstimate` (derivations §3.4).

All quantities come from B = B(c, a) and geometric sums of rho = a/c, written without overflow
(the `u = 1/rho` form for rho > 1) and without `1 - rho^Q` cancellation (expm1/log1p):
    p_c          = B / (1 + B G1),   G1 = sum_{j=1..Q} rho^j
    P_block      = p_c rho^Q
    P_allbusy    = p_c sum_{j=0..Q} rho^j
    P_wait|adm   = (P_allbusy - P_block) / (1 - P_block)
    Lq           = p_c sum_{j=1..Q} j rho^j,   Wq|adm = Lq E[H] / (a (1 - P_block))
A real Q uses the closed forms of these sums (their analytic continuation in Q).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from capplan.queueing.erlang import check_load, check_servers, erlang_b, erlang_b_log10

__all__ = [
    "BlockingEstimate",
    "MMcKResult",
    "blocking_estimate",
    "mmck",
    "p_block_from_b",
]

_LN10 = math.log(10.0)
# Below this x = Q |ln rho| the closed form of sum j rho^j cancels; an integer Q is then summed
# term by term (all terms positive) as long as it has at most this many terms.
_DIRECT_SUM_MAX_TERMS = 1_000_000


@dataclass(frozen=True, slots=True)
class MMcKResult:
    """M/M/c/K metrics (K = c + Q). Times in seconds; probabilities per connection attempt.

    `p_block`: an arriving connection finds the accept queue full (on Linux its SYN is dropped
    and retried after ~1 s). `p_allbusy`: it finds every worker busy. `p_wait_admitted`: an
    admitted connection waits. `busy_servers`: carried load a (1 - P_block).
    """

    servers: int
    load_erlangs: float
    queue: float
    mean_holding_s: float
    utilization: float
    p_block: float
    log10_p_block: float
    p_allbusy: float
    p_wait_admitted: float
    mean_queue_length: float
    mean_wait_admitted_s: float
    busy_servers: float


@dataclass(frozen=True, slots=True)
class BlockingEstimate:
    """P(block) for a non-exponential holding time (derivations §3.4, normative).

    `p_block_est` uses the diffusion-scaled queue `queue_eff = 2Q/(1 + cH2)`; `p_block_cons` is
    max(M/M/c/K at Q, at Q_eff), which bounded every DES case to within 6 %.
    """

    queue: float
    queue_eff: float
    scv: float
    p_block_mmck: float
    p_block_est: float
    p_block_cons: float


def _check_queue(queue: object) -> float:
    return check_load(queue, "queue capacity")


def _log_ratio(x: float, y: float) -> float:
    """ln(x/y) for x, y > 0: log1p near 1 (no cancellation), a difference of logs elsewhere."""
    if 0.5 <= x / y <= 2.0:
        return math.log1p((x - y) / y)
    return math.log(x) - math.log(y)


def _sums_rho_le_1(c: int, a: float, q: float) -> tuple[float, float]:
    """(ln rho, sum_{j=0..Q-1} rho^j) for rho = a/c <= 1, without `1 - rho^Q` cancellation."""
    ln_rho = _log_ratio(a, c)
    if a == c:
        return 0.0, q
    return ln_rho, -math.expm1(q * ln_rho) / ((c - a) / c)


def _sums_rho_gt_1(c: int, a: float, q: float) -> tuple[float, float, float]:
    """(ln u, u^Q, sum_{i=0..Q-1} u^i) for u = 1/rho = c/a < 1: nothing can overflow."""
    ln_u = _log_ratio(c, a)
    return ln_u, math.exp(q * ln_u), -math.expm1(q * ln_u) / ((a - c) / a)


def _sum_j_x_pow_j(x: float, ln_x: float, q: float) -> float:
    """sum_{j=1..Q} j x^j for 0 < x <= 1 (closed form for real Q, direct sum where it cancels)."""
    if q == 0.0:
        return 0.0
    if x == 1.0:
        return q * (q + 1.0) / 2.0
    if q * abs(ln_x) < 1.0 and q.is_integer() and q <= _DIRECT_SUM_MAX_TERMS:
        return math.fsum(j * math.exp(j * ln_x) for j in range(1, int(q) + 1))
    one_minus_xq = -math.expm1(q * ln_x)
    one_minus_x = -math.expm1(ln_x)
    xq = math.exp(q * ln_x)
    # x (1 - (Q+1) x^Q + Q x^(Q+1)) / (1-x)^2, with the numerator as (1 - x^Q) - Q x^Q (1 - x).
    return x * (one_minus_xq - q * xq * one_minus_x) / (one_minus_x * one_minus_x)


def p_block_from_b(servers: int, load: float, queue: float, b: float) -> float:
    """P_block of M/M/c/K from a known B = B(c, a) (also used by the sizing walk)."""
    c, a, q = servers, load, queue
    if q == 0.0 or a == 0.0:
        return b
    if a <= c:
        ln_rho, head = _sums_rho_le_1(c, a, q)
        return b * math.exp(q * ln_rho) / (1.0 + b * (a / c) * head)
    _, u_q, sum_u = _sums_rho_gt_1(c, a, q)
    return b / (u_q + b * sum_u)


def mmck(servers: int, load: float, queue: float, mean_holding_s: float = 1.0) -> MMcKResult:
    """M/M/c/K: `servers` >= 1, `load` >= 0 Erlangs, `queue` >= 0 (real), K = c + Q.

    Valid for any rho (the system is always stable). `queue = 0` gives Erlang B (insensitive).
    """
    c = check_servers(servers)
    a = check_load(load)
    q = _check_queue(queue)
    h = check_load(mean_holding_s, "mean holding time")
    if h == 0.0:
        raise ValueError("mean holding time must be > 0")
    b = erlang_b(c, a)
    if a == 0.0:
        return MMcKResult(c, a, q, h, 0.0, 0.0, -math.inf, 0.0, 0.0, 0.0, 0.0, 0.0)
    if a <= c:
        ln_rho, head = _sums_rho_le_1(c, a, q)  # head = sum_{j=0..Q-1} rho^j
        g1 = (a / c) * head  # sum_{j=1..Q} rho^j
        p_c = b / (1.0 + b * g1)
        p_block = p_c * math.exp(q * ln_rho)
        if p_block >= 1e-290:
            log10_p_block = math.log10(p_block)
        else:  # B or rho^Q below the binary64 range: the same product in log space
            log10_p_block = erlang_b_log10(c, a) + (q * ln_rho - math.log1p(b * g1)) / _LN10
        allbusy_minus_block = p_c * head
        lq = p_c * _sum_j_x_pow_j(a / c, ln_rho, q)
    else:
        ln_u, u_q, sum_u = _sums_rho_gt_1(c, a, q)
        u = c / a
        p_block = b / (u_q + b * sum_u)
        log10_p_block = math.log10(p_block)
        allbusy_minus_block = p_block * u * sum_u  # P_block sum_{i=1..Q} u^i
        # Lq = p_c sum_j j rho^j = P_block sum_{i=0..Q-1} (Q - i) u^i
        lq = p_block * _sum_q_minus_i_u_pow_i(u, ln_u, q)
    p_allbusy = p_block + allbusy_minus_block
    admitted = 1.0 - p_block
    if admitted <= 0.0:
        # Overload so deep that P_block rounds to 1 (a ≫ c): the few admitted arrivals find
        # all c busy and wait behind a full queue, Q h / c; c servers carry the load.
        return MMcKResult(
            c, a, q, h, a / c, p_block, log10_p_block, p_allbusy, 1.0, lq, q * h / c, float(c)
        )
    return MMcKResult(
        servers=c,
        load_erlangs=a,
        queue=q,
        mean_holding_s=h,
        utilization=a / c,
        p_block=p_block,
        log10_p_block=log10_p_block,
        p_allbusy=p_allbusy,
        p_wait_admitted=allbusy_minus_block / admitted,
        mean_queue_length=lq,
        mean_wait_admitted_s=lq * h / (a * admitted),
        busy_servers=a * admitted,
    )


def _sum_q_minus_i_u_pow_i(u: float, ln_u: float, q: float) -> float:
    """sum_{i=0..Q-1} (Q - i) u^i for 0 < u < 1 = (Q - (Q+1)u + u^(Q+1)) / (1-u)^2."""
    if q == 0.0:
        return 0.0
    if q * abs(ln_u) < 1.0 and q.is_integer() and q <= _DIRECT_SUM_MAX_TERMS:
        n = int(q)
        return math.fsum((n - i) * math.exp(i * ln_u) for i in range(n))
    one_minus_u = -math.expm1(ln_u)
    one_minus_uq = -math.expm1(q * ln_u)
    # numerator Q(1-u) - u(1-u^Q)
    return (q * one_minus_u - u * one_minus_uq) / (one_minus_u * one_minus_u)


def blocking_estimate(
    servers: int, load: float, queue: float, scv: float = 1.0
) -> BlockingEstimate:
    """P_block with the SCV correction `Q_eff = 2Q/(1 + cH2)` (derivations §3.4, normative)."""
    c = check_servers(servers)
    a = check_load(load)
    q = _check_queue(queue)
    cs2 = check_load(scv, "holding-time SCV")
    q_eff = 2.0 * q / (1.0 + cs2)
    b = erlang_b(c, a)
    at_q = p_block_from_b(c, a, q, b)
    at_q_eff = p_block_from_b(c, a, q_eff, b)
    return BlockingEstimate(q, q_eff, cs2, at_q, at_q_eff, max(at_q, at_q_eff))
