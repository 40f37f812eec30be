"""A finite accept queue whose dropped connection attempts are retried (derivations §3.4, F12).

Stage: queueing engine. Input: servers `c`, offered connection load `a` (Erlangs), accept-queue
capacity `Q`, holding-time mean and SCV, and how many times a client tries to connect. Output:
`RetrialResult`, the operating point prefork and worker report.

On Linux a connection that finds the accept queue full is not refused: its SYN is dropped and
the client's kernel sends it again after 1 s, then 3, 7, 15, 31 and 63 s cumulative
(`tcp_syn_retries` 6: seven attempts in about 127 s). A dropped attempt is therefore not lost
load, and the queue sees more attempts than connections. With independent retries each attempt
is dropped with the same probability p, so a connection makes 1 + p + ... + p^(k-1) attempts,
and the attempt load x solves

    x = a (1 - p(x)^k) / (1 - p(x)),      p(x) = P_block of M/M/c/K at load x, queue Q_eff,

a monotone map whose least fixed point is reached by iterating from x = a (the retrial
approximation of derivations §3.4, here without its small-p restriction). Every operating point
then comes from M/M/c/K at the attempt load with the diffusion-scaled queue
Q_eff = 2Q/(1 + cH2) (derivations §3.4), and the waits carry Allen-Cunneen's factor (1 + cH2)/2,
so that a long queue gives back Erlang C and Allen-Cunneen exactly. The fixed point exists for
every offered load: beyond saturation the attempts pile up until most are dropped, and the
connections that run out of attempts (p^k of them) are lost, which keeps the carried load
below c.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from capplan.queueing.erlang import check_load, check_servers, erlang_b
from capplan.queueing.mmck import MMcKResult, blocking_estimate, mmck, p_block_from_b

__all__ = ["LINUX_CONNECT_ATTEMPTS", "RetrialResult", "finite_queue_with_retrials"]

# 1 + net.ipv4.tcp_syn_retries (default 6): how often a Linux client sends its SYN.
LINUX_CONNECT_ATTEMPTS = 7

_RTOL = 1e-12
_ITERATIONS = 200
_BISECTIONS = 200
# Below this per-attempt drop probability retries change the attempt load by less than an ulp.
_NEGLIGIBLE_BLOCK = 1e-17


@dataclass(frozen=True, slots=True)
class RetrialResult:
    """The finite-queue operating point with retried attempts. Times in seconds.

    `attempt_load_erlangs` x (attempts per second times E[H]); `p_block` the probability that an
    attempt is dropped (P_block_est at x), `p_block_conservative` the larger of M/M/c/K at Q and
    at Q_eff; `p_allbusy` the probability that an attempt finds every worker busy (equal to the
    time fraction, PASTA); `p_wait_admitted` the probability that an admitted connection waits;
    `mean_wait_admitted_s` its mean wait and `mean_wait_given_wait_s` w1 (P(wait > t | admitted)
    = p_wait_admitted exp(-t/w1)); `p_lost` the share of connections that run out of attempts;
    `carried_erlangs` a (1 - p_lost), the mean busy workers. `mmck` is M/M/c/K at (x, Q_eff).
    """

    servers: int
    offered_load_erlangs: float
    queue: float
    queue_eff: float
    scv: float
    attempts: int
    attempt_load_erlangs: float
    p_block: float
    p_block_conservative: float
    p_allbusy: float
    p_wait_admitted: float
    mean_wait_admitted_s: float
    mean_wait_given_wait_s: float
    p_lost: float
    carried_erlangs: float
    mmck: MMcKResult

    def wait_quantile_admitted(self, p: float) -> float:
        """The p-quantile of an admitted connection's wait: w1 ln(P(wait)/(1-p)), or 0."""
        tail = 1.0 - p
        if self.p_wait_admitted <= tail:
            return 0.0
        return self.mean_wait_given_wait_s * math.log(self.p_wait_admitted / tail)


def _attempts_per_connection(p: float, attempts: int) -> float:
    """1 + p + ... + p^(k-1), without cancellation for p near 0 or 1."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return float(attempts)
    return -math.expm1(attempts * math.log(p)) / (1.0 - p)


def _p_block(c: int, x: float, q_eff: float) -> float:
    """M/M/c/K's P_block at load x, without the rest of `mmck` (the fixed point needs only it)."""
    return p_block_from_b(c, x, q_eff, erlang_b(c, x))


def _attempt_load(c: int, a: float, q_eff: float, attempts: int, p_at_a: float) -> float:
    """The least fixed point of x -> a * (1 + p(x) + ... + p(x)^(k-1)) (increasing in x).

    `p_at_a` is p(a), the first step's drop probability, which the caller already has.
    """

    def image(x: float) -> float:
        return a * _attempts_per_connection(_p_block(c, x, q_eff), attempts)

    x = a
    nxt = a * _attempts_per_connection(p_at_a, attempts)
    for _ in range(_ITERATIONS):
        if nxt - x <= _RTOL * nxt:
            return nxt
        x = nxt
        nxt = image(x)
    # Slow near saturation: bisect between an iterate (below the fixed point) and k a (above).
    lo, hi = x, a * attempts
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        if image(mid) >= mid:
            lo = mid
        else:
            hi = mid
        if hi - lo <= _RTOL * hi:
            break
    return hi


def finite_queue_with_retrials(
    servers: int,
    load: float,
    queue: float,
    mean_holding_s: float = 1.0,
    scv: float = 1.0,
    *,
    attempts: int = LINUX_CONNECT_ATTEMPTS,
) -> RetrialResult:
    """The operating point of `servers` workers behind an accept queue of `queue` places.

    `load` is the offered connection load (Erlangs) of first attempts; `attempts` >= 1 how many
    times a client tries (1: dropped attempts are lost, plain M/M/c/K). Valid for any load.
    """
    c = check_servers(servers)
    a = check_load(load)
    q = check_load(queue, "queue capacity")
    h = check_load(mean_holding_s, "mean holding time")
    if h == 0.0:
        raise ValueError("mean holding time must be > 0")
    cs2 = check_load(scv, "holding-time SCV")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"connection attempts must be an integer >= 1, got {attempts!r}")
    q_eff = 2.0 * q / (1.0 + cs2)
    x = a
    if a > 0.0 and attempts > 1:
        p_at_a = _p_block(c, a, q_eff)
        if p_at_a > _NEGLIGIBLE_BLOCK:
            x = _attempt_load(c, a, q_eff, attempts, p_at_a)
    at_x = mmck(c, x, q_eff, h)
    p = at_x.p_block
    # Lq of the diffusion-scaled queue, rescaled to connections: Allen-Cunneen's (1 + cH2)/2.
    mean_wait = 0.5 * (1.0 + cs2) * at_x.mean_wait_admitted_s
    p_wait = at_x.p_wait_admitted
    # At a vanishing load the mean wait underflows to 0 while P(wait) does not: w1 then takes
    # its light-load limit (one server freeing up), never 0 (P(wait > t) divides by it).
    w1 = mean_wait / p_wait if mean_wait > 0.0 and p_wait > 0.0 else 0.5 * (1.0 + cs2) * h / c
    p_lost = math.exp(attempts * math.log(p)) if p > 0.0 else 0.0
    return RetrialResult(
        servers=c,
        offered_load_erlangs=a,
        queue=q,
        queue_eff=q_eff,
        scv=cs2,
        attempts=attempts,
        attempt_load_erlangs=x,
        p_block=p,
        p_block_conservative=blocking_estimate(c, x, q, cs2).p_block_cons,
        p_allbusy=min(1.0, at_x.p_allbusy),
        p_wait_admitted=p_wait,
        mean_wait_admitted_s=mean_wait,
        mean_wait_given_wait_s=w1,
        p_lost=p_lost,
        carried_erlangs=min(float(c), a * (1.0 - p_lost)),
        mmck=at_x,
    )
