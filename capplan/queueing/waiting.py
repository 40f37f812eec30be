"""Waiting times of the pooled connection queue: M/M/c exactly, M/G/c by Allen-Cunneen.

Stage: queueing engine. Input: servers `c`, offered load `a` (Erlangs), the mean holding time
E[H] (s) and its squared coefficient of variation cH2. Output: an `MGcResult` (P(wait), mean and
percentile waits in seconds, queue length), with `stable=False` and infinite waits for a >= c.

Formulas (derivations §3.2-3.3):
    w1        = ((1 + cH2)/2) E[H] / (c - a)        mean wait of those who wait
    Wq        = C(c, a) w1
    P(Wq > t) = C(c, a) exp(-t / w1)
    t_p       = w1 ln(C / (1 - p)) if C > 1 - p, else 0
cH2 = 1 gives the exact M/M/c results; Allen-Cunneen is validated against a DES to +-10 % on the
mean for 0.05 <= cH2 <= 3.1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from capplan.queueing.erlang import check_load, check_servers, erlang_b, erlang_c_from_b

__all__ = ["MGcResult", "mgc", "mmc"]


def _check_probability(p: float, name: str) -> float:
    if not 0.0 < p < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {p!r}")
    return float(p)


@dataclass(frozen=True, slots=True)
class MGcResult:
    """The M/G/c (infinite queue) metrics of one operating point. Times in seconds.

    `mean_wait_s`, `wait_p99_s` and `mean_wait_given_wait_s` use Allen-Cunneen with `scv`;
    the `_mmc_` fields are the exponential-holding reference. For `stable=False` (a >= c) the
    waits and the queue length are `math.inf` and `p_wait` is 1.
    """

    servers: int
    load_erlangs: float
    mean_holding_s: float
    scv: float
    utilization: float
    stable: bool
    erlang_b: float
    p_wait: float
    mean_wait_given_wait_s: float
    mean_wait_s: float
    wait_p99_s: float
    mean_wait_mmc_s: float
    wait_p99_mmc_s: float
    mean_queue_length: float

    @property
    def arrival_rate_per_s(self) -> float:
        """Connection arrival rate a / E[H]."""
        return self.load_erlangs / self.mean_holding_s

    def p_wait_exceeds(self, wait_s: float) -> float:
        """P(Wq > t) = C exp(-t / w1) for t >= 0 (1 when unstable)."""
        t = check_load(wait_s, "wait time")
        if not self.stable:
            return 1.0
        if self.p_wait == 0.0:
            return 0.0
        return self.p_wait * math.exp(-t / self.mean_wait_given_wait_s)

    def wait_quantile(self, p: float) -> float:
        """The p-quantile of the wait: `w1 ln(C/(1-p))` if C > 1-p, else 0 (inf when unstable)."""
        return _wait_quantile(self.p_wait, self.mean_wait_given_wait_s, self.stable, p)


def _wait_quantile(p_wait: float, w1_s: float, stable: bool, p: float) -> float:
    level = _check_probability(p, "quantile level")
    if not stable:
        return math.inf
    tail = 1.0 - level
    if p_wait <= tail:
        return 0.0
    return w1_s * math.log(p_wait / tail)


def mgc(servers: int, load: float, mean_holding_s: float = 1.0, scv: float = 1.0) -> MGcResult:
    """M/G/c with Poisson arrivals: Erlang C for P(wait), Allen-Cunneen for the waits.

    `servers` integer >= 1; `load` Erlangs >= 0; `mean_holding_s` > 0 (the time unit of the
    waits: 1.0 reports waits in multiples of E[H]); `scv` >= 0 (1 = exponential).
    """
    c = check_servers(servers)
    a = check_load(load)
    h = check_load(mean_holding_s, "mean holding time")
    if h == 0.0:
        raise ValueError("mean holding time must be > 0")
    cs2 = check_load(scv, "holding-time SCV")
    b = erlang_b(c, a)
    if a >= c:
        inf = math.inf
        return MGcResult(c, a, h, cs2, a / c, False, b, 1.0, inf, inf, inf, inf, inf, inf)
    p_wait = erlang_c_from_b(c, a, b)
    w1_mmc = h / (c - a)
    w1 = 0.5 * (1.0 + cs2) * w1_mmc
    return MGcResult(
        servers=c,
        load_erlangs=a,
        mean_holding_s=h,
        scv=cs2,
        utilization=a / c,
        stable=True,
        erlang_b=b,
        p_wait=p_wait,
        mean_wait_given_wait_s=w1,
        mean_wait_s=p_wait * w1,
        wait_p99_s=_wait_quantile(p_wait, w1, True, 0.99),
        mean_wait_mmc_s=p_wait * w1_mmc,
        wait_p99_mmc_s=_wait_quantile(p_wait, w1_mmc, True, 0.99),
        # Lq = lambda Wq (Little): C a / (c - a) for M/M/c, scaled by (1 + cH2)/2.
        mean_queue_length=p_wait * a / (c - a) * 0.5 * (1.0 + cs2),
    )


def mmc(servers: int, load: float, mean_holding_s: float = 1.0) -> MGcResult:
    """M/M/c: `mgc` with exponential holding times (cH2 = 1), exact."""
    return mgc(servers, load, mean_holding_s, 1.0)
