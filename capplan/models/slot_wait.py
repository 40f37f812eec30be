"""event's accept queue as a waiting system: how often and how long a new connection waits.

Stage: event model, connection level (docs/models.md, "The wait for a slot or a worker"). Input:
processes P, ThreadsPerChild, the effective AsyncRequestWorkerFactor F, the mean busy workers
a_b, the mean open connections (busy plus idle, lingering excluded) and the mean slot holding
time. Output: `SlotWait`, P(a new connection waits) split into a wait for a worker and a wait for
a connection slot, the wait's mean, its exponential tail and P(block) of the accept queue.

A child with n busy workers accepts while `(1 + F) n + y < (1 + F) TPC` (y idle connections):
its connections, busy or idle, have `(1 + F) TPC - F n` places. Connections are pinned to the
child that accepted them and leave only when they close (or time out), so the open connections
are the servers of a delay system whose service is a connection's whole slot lifetime. The
children share the listening socket, and a waiting connection goes to the first child that
accepts: with N busy workers in all the server has `K(N) = P (1 + F) TPC - F N` places.

Two time scales (`slot_full_share`, several children): the open connections X change when one
is accepted or closes, the busy workers N among them on a request's time scale. At X = s below
the count at which the connections alone fill the server, it is full for the share of time the
busy workers fill the rest, and a connection that waits then is let in at the next finishing
request, so X keeps its Poisson law there; from that count on, new connections wait for a
connection to close, as in Erlang C with that many servers. One child keeps Erlang C averaged
over K(N) with N held still (`one_child_slot_share`): the two-scale form meets the test
simulator better there, but a real single child waits less than the rules give at low load
(derivations §4.3a), and the held form is what httpd shows.

NOTE: event.c connections_above_limit() subtracts one idle worker while the child's listeners are
disabled, so a child that reached its limit accepts again only F below it: while connections
wait each child holds between its limit - F and its limit, and the server between K(N) - P F and
K(N). The children are not all at the bottom of that band at once; the count at which the
connections alone fill the server is averaged over K0 - W ... K0, K0 = P (1 + F) TPC,
W = F sqrt(P), the spread of P independent bands of width F (for a W between whole numbers, the
averages over floor(W) + 1 and floor(W) + 2 counts mixed by W's fraction). Checked against the
test simulator with the busy workers held still (docs/models.md, "Many children near the slot
limit"): W = P F was 1.3 to 1.9 times high with 4 to 16 children, W = F up to 2 times low with
8. Below that count the same rule holds the listener off at one busy worker fewer than it took
to disable it, while it came from above (`slot_full_share`).

How long a wait for a slot lasts takes the same two time scales apart
(`slot_wait_given_wait`): where the busy workers' churn fills the server, a request that
finishes ends the wait, long before a connection closes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

from capplan.models.slot_limit import ThresholdTails, _binomial_point, _binomial_tail
from capplan.queueing import erlang_b, erlang_c, p_block_from_b
from capplan.queueing.poisson import poisson_cdf, poisson_logpmf, poisson_sf

# Busy-worker states whose probability is below this are skipped (they change no digit printed).
_NEGLIGIBLE = 1e-16
# A wait for a slot rarer than this keeps Erlang C's length (`slot_wait`).
_RARE_SLOT_WAIT = 1e-9
# Counts of open connections whose Poisson weight is below this (log) add nothing in binary64.
_LOG_SMALLEST = math.log(1e-300)


@dataclass(frozen=True, slots=True)
class SlotWait:
    """P(wait) of a new connection and the wait's law (probabilities in [0, 1], times in s).

    `p_wait = p_worker + (1 - p_worker) p_slot`: `p_worker` the probability that no idle worker
    takes it (pooled C(c, a_b) across children; Erlang C(TPC, a_b) for one child; the event model
    puts its listeners' own in place of it, `with_worker_wait`), `p_slot` the probability that it
    finds every child's slots full while a worker is idle.
    `mean_wait_given_wait_s` w1 of the exponential tail `P(W > t) = p_wait exp(-t / w1)`,
    `mean_wait_s = p_wait w1`; `slots_mean` K at the mean busy workers; `p_block` the probability
    that the accept queue is full (M/M/K/K+Q); `stable` is `open < K - P F / 2` and `a_b < c`;
    `slot_wait_given_wait_s` the mean of a wait for a slot (`slot_wait_given_wait`).
    """

    p_wait: float
    p_worker: float
    p_slot: float
    mean_wait_s: float
    mean_wait_given_wait_s: float
    p_block: float
    slots_mean: float
    stable: bool
    slot_wait_given_wait_s: float = 0.0

    def wait_quantile_s(self, level: float) -> float:
        """Level-quantile of the wait: 0 if P(wait) <= 1 - level, else w1 ln(P(wait)/(1-level))."""
        if not self.stable:
            return math.inf
        tail = 1.0 - level
        if self.p_wait <= tail:
            return 0.0
        return self.mean_wait_given_wait_s * math.log(self.p_wait / tail)


class ErlangCRange:
    """sum_{k=lo..hi} C(k, load) for server counts k in any range, from one window of values.

    C(k, load) = 1 for k <= load (the queue never empties) and falls faster than a Gaussian tail
    above it: beyond load + 40 sqrt(load) + 300 servers it is below 1e-300 and counts as 0. The
    values in between come from Erlang B at the window's first k and the forward recursion
    `B(k) = a B(k-1) / (k + a B(k-1))`, `C(k) = k B(k) / (k - a (1 - B(k)))`, kept as running
    sums: O(sqrt(load) + 300) to build, whatever the range of k asked for, O(1) per sum.
    """

    __slots__ = ("first", "suffix")

    def __init__(self, lowest: int, highest: int, load: float) -> None:
        first = max(lowest, math.floor(load) + 1, 1)
        last = min(highest, math.floor(load + 40.0 * math.sqrt(load) + 300.0))
        self.first = first
        values: list[float] = []
        if first <= last:
            b = erlang_b(first, load)
            for k in range(first, last + 1):
                if k > first:
                    b = load * b / (k + load * b)
                values.append(min(1.0, k * b / (k - load * (1.0 - b))))
        # Sums from the top, smallest terms first: a difference of two of them keeps the
        # relative accuracy of the small values it stands for (they fall geometrically in k).
        self.suffix = [0.0] * (len(values) + 1)
        for i in range(len(values) - 1, -1, -1):
            self.suffix[i] = self.suffix[i + 1] + values[i]

    def total(self, lo: int, hi: int) -> float:
        """sum_{k=lo..hi} C(k, load) (lo <= hi)."""
        ones = max(0, min(hi, self.first - 1) - lo + 1)
        size = len(self.suffix) - 1
        start = min(max(lo - self.first, 0), size)
        end = min(max(hi - self.first + 1, 0), size)
        return ones + (self.suffix[start] - self.suffix[end] if end > start else 0.0)


def busy_worker_law(workers: int, busy_erlangs: float) -> tuple[int, list[float]]:
    """(lo, weights of N = lo, lo + 1, ...): a single child's busy workers N while one is idle,
    the M/M/TPC number in system below TPC (`one_child_slot_share`).

    The weights are Poisson's up to a constant (the caller normalises them), 1 at the mode; only
    the window of terms above 1e-16 of the mode is kept, so its length grows with sqrt(a_b), not
    with the worker count.
    """
    c, a = workers, busy_erlangs
    mode = min(math.floor(a), c - 1)
    values = [1.0]
    n = mode + 1
    while n < c and values[-1] > _NEGLIGIBLE:
        values.append(values[-1] * a / n)
        n += 1
    below: list[float] = []
    value, n = 1.0, mode
    while n > 0 and value > _NEGLIGIBLE:
        value *= n / a
        below.append(value)
        n -= 1
    below.reverse()
    return mode - len(below), below + values


def serving_places(processes: int, threads_per_child: int, factor: int, busy: float) -> float:
    """K' = P (1 + F) TPC - F a_b - P F / 2: the places that serve waiting connections.

    K(a_b) less half the hysteresis range (module docstring); a delay system with K' servers
    carries min(x, K') of x offered Erlangs.
    """
    return processes * (1 + factor) * threads_per_child - factor * busy - processes * factor / 2.0


def slot_full_share(
    processes: int,
    threads_per_child: int,
    factor: int,
    *,
    busy_erlangs: float,
    open_connections_mean: float,
) -> float:
    """P(every child is at its slot limit while a worker is idle), a time share (derivations
    §4.3a): a new connection's chance to wait for a slot, less its chance to wait for a worker.

    The open connections X change when one is accepted or closes, the busy workers N among them
    on a request's time scale, so at X = s the server is full for the share of time
    phi(s) = P(F N >= K0 - s), K0 = P (1 + F) TPC, N ~ Binomial(s, a_b / x) (colouring
    theorem): a wait there ends at the next finishing request and the connections that waited
    are let in soon after, so X keeps its Poisson law below the count h at which the
    connections alone fill the server. From h on every new connection waits for one to close,
    as in Erlang C with h servers, and X's law is M/M/h's:
    `g(h) = C(h, x) + (1 - C(h, x)) E[phi(X) | X < h]`, X ~ Poisson(x), with h averaged over the
    hysteresis band K0 - W ... K0, W = F sqrt(P) (module docstring).
    phi pools the children's busy workers: a connection's first request comes with it, so a
    child that has just accepted is the one nearest its limit, and the listeners steer new
    connections to the others until all are full together. The listener's hysteresis holds it
    off until N falls to m - 2, m = ceil((K0 - s) / F) the busy workers that disable it, so at
    N = m - 1 it is still off when N came down from m: the share up / (up + down) of the
    birth-death rates of N there. phi leaves out the states with every worker busy (those wait
    for a worker). Against the test simulator at its own X and N it is inside the interval or
    within a quarter of the simulated value at 26 of 31 points of two and three children where
    1 % to 99.9 % wait (the grid's traffic at utilisation 0.4, the validation runs' inputs); it
    is about twice the simulator with four or eight children of 8 (F = 2), and a third low
    where connections that live a minute fill the children nearly to their limits
    (docs/models.md). `slot_wait` uses it for two children or more.
    Domain: P, TPC, F >= 1, loads >= 0.
    """
    p, tpc, f = processes, threads_per_child, factor
    c = p * tpc
    x = open_connections_mean
    if x <= 0.0:
        return 0.0
    top = p * (1 + f) * tpc
    spread = f * math.sqrt(p)
    width = math.floor(spread)
    frac = spread - width
    lowest_cap = top - width - 1
    share = min(1.0, busy_erlangs / x)
    hysteresis = 0.0 < share < 1.0
    # Below K0 - F c no count of busy workers fills the server. phi rises with s, so the
    # counts below the mean by 8 standard deviations, under 1e-14 of the Poisson mass, add under
    # 1e-14 of the sum. Nor is it full but once in about 1e-10 while the busy workers needed are
    # more than 7 standard deviations and 14 above their mean (Bernstein's bound, one more for
    # the hysteresis state m - 1).
    churn_from = (top - f * (7.0 * math.sqrt(share * top) + 14.0)) / (1.0 + f * share)
    lowest = max(0, top - f * c, math.floor(x - 8.0 * math.sqrt(x)), math.floor(churn_from))
    # S(j) = sum_{s <= j} P(X = s) phi(s) and P(X <= j), kept from j = first on (the band's
    # h - 1; below `lowest` S is 0), up to `last`; beyond it S is `total` within 1e-17 and
    # P(X <= j) is 1 (j > x; or S is 0 where nothing was summed).
    first = max(lowest, lowest_cap - 1)
    kept: list[tuple[float, float]] = []
    total = 0.0
    if lowest < top and poisson_logpmf(lowest, x) > _LOG_SMALLEST:
        tails = ThresholdTails(top, c, f, share)
        weight = math.exp(poisson_logpmf(lowest, x))
        mass_below = poisson_cdf(lowest - 1, x) if lowest > 0 else 0.0
        walks = zip(tails.walk(lowest, top), _every_worker_busy(c, share, lowest, top), strict=True)
        for (s, mass, point, needed), busy_all in walks:
            phi = mass - busy_all if needed < c else 0.0
            if hysteresis and needed >= 2:
                # P(N = m - 1) up / (up + down): up = (s - m + 1) share / (1 - share), down =
                # m - 1 (per mean request time); P(N = m - 1) up = P(N = m) m.
                phi += point * needed / ((s - needed + 1) * share / (1.0 - share) + needed - 1)
            total += weight * max(0.0, phi)
            mass_below += weight
            if s >= first:
                kept.append((total, mass_below))
            weight *= x / (s + 1)
            if s + 2 > x and weight * (s + 2) <= 1e-17 * max(total, 1e-290) * (s + 2 - x):
                # The Poisson weights left sum to less than 1e-17 of the sum so far (phi <= 1),
                # or to nothing binary64 holds while that sum is still 0.
                break
    last = first + len(kept) - 1
    erlang = ErlangCRange(lowest_cap, top, x)

    def band(lo: int, hi: int) -> float:
        """sum_{h=lo..hi} g(h): one by one up to last + 1, where S still moves, then at once."""
        out = 0.0
        for h in range(lo, min(hi, last + 1) + 1):
            hard = erlang.total(h, h)
            if h - 1 < lowest:
                soft = 0.0
            else:
                summed, below = kept[h - 1 - first]
                soft = min(1.0, summed / below) if below > 0.0 else 0.0
            out += hard + (1.0 - hard) * soft
        rest = max(lo, last + 2)
        if rest <= hi:
            hard = erlang.total(rest, hi)
            out += hard + (hi - rest + 1 - hard) * min(1.0, total)
        return out

    narrow = band(top - width, top)
    wide = narrow + band(lowest_cap, lowest_cap)
    return min(1.0, (1.0 - frac) * narrow / (width + 1) + frac * wide / (width + 2))


def _every_worker_busy(workers: int, share: float, first: int, last: int) -> Iterator[float]:
    """P(Binomial(s, share) >= workers) for s = first ... last - 1: every worker busy.

    Stepped in O(1) (`P(B_{s+1} >= c) = P(B_s >= c) + share P(B_s = c - 1)`) once it is above
    1e-250; below, 0 where Bernstein's bound puts it under 1e-300 (far below the mean, where the
    sizing searches spend their time), else computed afresh.
    """
    c, p = workers, share
    tail = point = 0.0  # P(B_s >= c) and P(B_s = c - 1) while stepping; point 0: not stepping
    variance = p * (1.0 - p)
    for s in range(first, last):
        if point > 0.0:
            tail += p * point
            point *= s * (1.0 - p) / (s + 1 - c)
            yield min(1.0, tail)
            continue
        gap = c - s * p
        if s < c or p <= 0.0:
            yield 0.0
        elif p >= 1.0:
            yield 1.0
        elif gap > 0.0 and gap * gap > 1382.0 * (s * variance + gap / 3.0):
            yield 0.0  # exp(-gap^2 / (2 (s p (1 - p) + gap / 3))) < 1e-300
        else:
            tail = _binomial_tail(c, s, p)
            if tail > 1e-250:
                point = _binomial_point(c - 1, s, p)
            yield tail


def one_child_slot_share(
    threads_per_child: int, factor: int, *, busy_erlangs: float, open_connections_mean: float
) -> float:
    """P(wait for a slot | a worker idle) of a single child: Erlang C(k, x) averaged over
    k = K(n) - F ... K(n), K(n) = (1 + F) TPC - F n, and over the busy workers n ~ Poisson(a_b)
    below TPC, held still for a slot's lifetime (derivations §4.3a, which says why one child
    keeps this form). Domain: TPC, F >= 1, 0 <= a_b < TPC, x >= 0.
    """
    f, c = factor, threads_per_child
    a_b, x = busy_erlangs, open_connections_mean
    lo, law = busy_worker_law(c, a_b)
    highest = (1 + f) * c - f * lo  # K(n) at the lowest n of the window
    erlang = ErlangCRange(highest - f * (len(law) - 1) - f, highest, x)
    weight = 0.0
    total = 0.0  # sum of pi_n times the sum of C(k, x) over k = K(n) - F ... K(n)
    for i, pi in enumerate(law):
        top = highest - f * i
        weight += pi
        total += pi * erlang.total(top - f, top)
    return min(1.0, total / ((f + 1) * weight)) if weight > 0.0 else 1.0


def slot_wait(
    processes: int,
    threads_per_child: int,
    factor: int,
    *,
    busy_erlangs: float,
    open_connections_mean: float,
    holding_s: float,
    worker_s: float,
    accept_queue: int,
) -> SlotWait:
    """The wait of a new connection for a worker or a slot (module docstring; docs/models.md).

    x = open connections on K(n) = P (1 + F) TPC - F n places; `p_slot` is `slot_full_share`
    over the share of time a worker is idle, 1 - p_worker, for several children, and
    `one_child_slot_share` for one.
    A wait for a slot is exponential with mean w_s (`slot_wait_given_wait`: the full spells of
    the busy workers' churn, at most `E[H] / (K' - x)`, K' = K(a_b) - P F / 2 with every child in
    the middle of its band, Erlang C's conditional wait); a wait for a worker has the conditional
    mean `S_w / (c - a_b)` (M/M/c). The wait given a wait mixes the two with one exponential
    tail: `w1 = (p_worker S_w / (c - a_b) + (1 - p_worker) p_slot w_s) / p_wait`.
    P(block) is M/M/K/K+Q's with floor(K') servers.
    Domain: P, TPC, F >= 1, loads >= 0, holding_s, worker_s > 0, accept_queue >= 1.
    """
    p, tpc, f = processes, threads_per_child, factor
    c = p * tpc
    a_b, x = busy_erlangs, open_connections_mean
    slots_mean = p * (1 + f) * tpc - f * a_b
    serving = serving_places(p, tpc, f, a_b)
    if a_b >= c:
        return SlotWait(1.0, 1.0, 1.0, math.inf, math.inf, 1.0, slots_mean, False, math.inf)
    p_worker = erlang_c(c, a_b)
    stable = x < serving
    # M/M/K/K+Q with floor(K') servers and the whole accept queue: both sides of x = K'.
    places = max(1, math.floor(serving))
    p_block = p_block_from_b(places, x, accept_queue, erlang_b(places, x))
    if not stable:
        # More connections than places: the queue grows without bound and every one waits.
        return SlotWait(
            1.0, p_worker, 1.0, math.inf, math.inf, p_block, slots_mean, False, math.inf
        )
    if p == 1:
        p_slot = one_child_slot_share(tpc, f, busy_erlangs=a_b, open_connections_mean=x)
    else:
        full = slot_full_share(p, tpc, f, busy_erlangs=a_b, open_connections_mean=x)
        p_slot = min(1.0, full / (1.0 - p_worker)) if p_worker < 1.0 else 1.0
    p_wait = min(1.0, p_worker + (1.0 - p_worker) * p_slot)
    slot_part = (1.0 - p_worker) * p_slot
    if slot_part >= _RARE_SLOT_WAIT:
        slot_given_wait = slot_wait_given_wait(
            p,
            tpc,
            f,
            busy_erlangs=a_b,
            open_connections_mean=x,
            holding_s=holding_s,
            worker_s=worker_s,
        )
    else:
        # So rare that its length moves no figure by 1e-9 of Erlang C's: that one, at no cost.
        slot_given_wait = holding_s / (serving - x)
    mean_wait = _weighted(p_worker, worker_s / (c - a_b)) + _weighted(slot_part, slot_given_wait)
    w1 = mean_wait / p_wait if p_wait > 0.0 else 0.0
    return SlotWait(
        p_wait, p_worker, p_slot, mean_wait, w1, p_block, slots_mean, True, slot_given_wait
    )


def slot_wait_given_wait(
    processes: int,
    threads_per_child: int,
    factor: int,
    *,
    busy_erlangs: float,
    open_connections_mean: float,
    holding_s: float,
    worker_s: float,
) -> float:
    """The mean wait of a connection that waits for a slot (docs/models.md, derivations §4.3a).

    Two time scales: the open connections X change only when one is accepted or closes (over a
    connection's lifetime), the busy workers among them on a request's. At X = s the server is
    full while `F N >= K - s` (K = P (1 + F) TPC less the middle W / 2 of the listeners'
    hysteresis band, W = F sqrt(P)), N ~ Binomial(s, a_b / x) the busy workers (colouring
    theorem), a birth-death process whose workers finish at N / S_w each. With
    `m = ceil((K - s) / F)` busy workers needed, a full spell lasts
    `P(N >= m) / (P(N = m) m / S_w)` (the time above m over the rate it is crossed downward) when
    the requests' churn can end it; where it cannot (m <= 0: the connections alone fill the
    slots), and at most, the wait is the slow one, `E[H] / (K' - x)` (Erlang C's with the slots
    as servers, K' = `serving_places`). The wait given a wait averages the spell over
    X ~ Poisson(x), each s weighted by how often it is full, `P(X = s) P(N >= m)`.
    Domain: as `slot_wait`, with `open_connections_mean < K'`.
    """
    p, tpc, f = processes, threads_per_child, factor
    c = p * tpc
    x = open_connections_mean
    slow = holding_s / (serving_places(p, tpc, f, busy_erlangs) - x)
    if x <= 0.0 or busy_erlangs <= 0.0:
        return slow
    slots = p * (1 + f) * tpc - f * math.sqrt(p) / 2.0
    spread = math.sqrt(x)
    # Below s = slots - F c no count of busy workers fills the server; below the mean by 6
    # standard deviations the weights are about 1e-8 of the mode's or less, and the server is
    # full there less often than at the mean, so those terms move the average by less.
    lowest = max(0, math.ceil(slots - f * c), math.floor(x - 6.0 * spread))
    # Nor is it full, but once in 1e-8, while the busy workers needed are more than 7 standard
    # deviations and 13 above their mean p s (Bernstein's bound): s must reach
    # (slots - F (7 sqrt(p slots) + 13)) / (1 + F p) at least (sqrt(p s) <= sqrt(p slots)).
    share = min(1.0, busy_erlangs / x)
    churn_from = (slots - f * (7.0 * math.sqrt(share * slots) + 13.0)) / (1.0 + f * share)
    lowest = max(lowest, math.floor(churn_from))
    full_from = math.ceil(slots)  # from here the connections alone fill it
    always = poisson_sf(full_from - 1, x)
    weighted, weight_sum = always * slow, always
    if lowest < full_from and poisson_logpmf(lowest, x) > _LOG_SMALLEST:
        tails = ThresholdTails(slots, c, f, share)
        weight = math.exp(poisson_logpmf(lowest, x))
        for s, full, point, needed in tails.walk(lowest, full_from):
            if full > 0.0:
                crossing = point * needed / worker_s
                spell = slow if crossing <= 0.0 else min(slow, full / crossing)
                weighted += weight * full * spell
                weight_sum += weight * full
                if full >= 1.0 - 1e-9 and spell >= slow and needed < share * s - 1.0:
                    # Full for good from here on, and for the slow wait: the fewer workers
                    # needed below the busy mean, the rarer the crossing. The rest, up to
                    # the counts already added, is the Poisson tail above s at the slow wait.
                    rest = max(0.0, poisson_sf(s, x) - always)
                    weighted += rest * slow
                    weight_sum += rest
                    break
            weight *= x / (s + 1)
            # Above the mean the weights left sum to less than weight / (1 - x / (s + 2)); once
            # that is 1e-17 of the sum so far they move neither sum.
            if s + 2 > x and weight * (s + 2) <= _NEGLIGIBLE * 0.1 * weight_sum * (s + 2 - x):
                break
    return weighted / weight_sum if weight_sum > 0.0 else slow


def _weighted(probability: float, wait_s: float) -> float:
    """probability x wait, 0 when the probability is 0 (even for an infinite or huge wait)."""
    return probability * wait_s if probability > 0.0 else 0.0


def with_worker_wait(wait: SlotWait, p_worker: float, worker_mean_s: float) -> SlotWait:
    """`wait` with its wait for a worker taken from a model of its own: `p_worker`, P(a new
    connection waits for a worker), and `worker_mean_s`, that wait's mean over every new
    connection (one child's listener, `capplan.models.event_listener`). The wait for a slot
    while a worker is idle stays: `p = p_worker + (1 - p_worker) p_slot`, its mean added to
    `worker_mean_s`, w1 = mean / p. An unstable `wait` is returned as it is; an infinite
    `worker_mean_s` (a queue that does not settle) makes it unstable, every connection waiting.
    """
    if not wait.stable:
        return wait
    if not math.isfinite(worker_mean_s):
        return replace(
            wait,
            p_wait=1.0,
            p_worker=1.0,
            mean_wait_s=math.inf,
            mean_wait_given_wait_s=math.inf,
            stable=False,
        )
    slot_part = (1.0 - p_worker) * wait.p_slot
    p_wait = min(1.0, p_worker + slot_part)
    mean = worker_mean_s + _weighted(slot_part, wait.slot_wait_given_wait_s)
    return replace(
        wait,
        p_wait=p_wait,
        p_worker=p_worker,
        mean_wait_s=mean,
        mean_wait_given_wait_s=mean / p_wait if p_wait > 0.0 else 0.0,
    )
