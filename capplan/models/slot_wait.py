"""event's accept queue as a waiting system: how often and how long a new connection waits.

Stage: event model, connection level (docs/models.md, "The wait for a slot or a worker"). Input:
processes P, ThreadsPerChild, the effective AsyncRequestWorkerFactor F, the mean busy workers
a_b, the mean open connections (busy plus idle, lingering excluded) and the mean slot holding
time. Output: `SlotWait`, P(a new connection waits) split into a wait for a worker and a wait for
a connection slot, the wait's mean, its exponential tail and P(block) of the accept queue.

A child with n busy workers accepts while `(1 + F) n + y < (1 + F) TPC` (y idle connections):
its connections, busy or idle, have `K(n) = (1 + F) TPC - F n` places. Connections are pinned to
the child that accepted them and leave only when they close (or time out), so each child is a
delay system with K(n) servers whose service is the connection's whole slot lifetime, fed by its
share of the new connections. The number of busy workers changes on the time scale of a request,
faster than a slot frees, so P(wait for a slot) averages Erlang C over the busy-worker law.

NOTE: event.c connections_above_limit() subtracts one idle worker while the child's listeners are
disabled, so a child that reached K(n) accepts again only below K(n) - F: while connections wait
it serves them with between K(n) - F and K(n) places, and Erlang C is averaged over those F + 1
server counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from capplan.queueing import erlang_b, erlang_c, p_block_from_b

# Busy-worker states whose probability is below this are skipped (they change no digit printed).
_NEGLIGIBLE = 1e-16


@dataclass(frozen=True, slots=True)
class SlotWait:
    """P(wait) of a new connection and the wait's law (probabilities in [0, 1], times in s).

    `p_wait = p_worker + (1 - p_worker) p_slot`: `p_worker` the probability that no idle worker
    takes it (pooled C(c, a_b) across children; Erlang C(TPC, a_b) for one child), `p_slot` the
    probability that it finds the slots of its child full while a worker is idle.
    `mean_wait_given_wait_s` w1 of the exponential tail `P(W > t) = p_wait exp(-t / w1)`,
    `mean_wait_s = p_wait w1`; `slots_mean` K at the mean busy workers; `p_block` the probability
    that the accept queue is full (M/M/K/K+Q/P per child); `stable` is `open < K - F/2` per
    child and `a_b < c`.
    """

    p_wait: float
    p_worker: float
    p_slot: float
    mean_wait_s: float
    mean_wait_given_wait_s: float
    p_block: float
    slots_mean: float
    stable: bool

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


def busy_worker_law(processes: int, threads_per_child: int, busy_erlangs: float) -> list[float]:
    """P(a child has n busy workers), n = 0 .. TPC (the last entry: no idle worker).

    Several children: each is an Erlang loss system at a_b / P (a connection that finds its child
    full goes to another), a truncated Poisson. One child: the M/M/TPC number in system, whose
    mass at n >= TPC is Erlang C(TPC, a_b) (new connections wait in the accept queue).
    """
    tpc = threads_per_child
    a = busy_erlangs / processes
    weights = [1.0]
    for n in range(1, tpc + 1):
        weights.append(weights[-1] * a / n)
    if processes == 1 and a < tpc:
        top = erlang_c(tpc, a)
        below = sum(weights[:tpc])
        return [w * (1.0 - top) / below for w in weights[:tpc]] + [top]
    if processes == 1:
        return [0.0] * tpc + [1.0]
    total = sum(weights)
    return [w / total for w in weights]


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

    Per child: x = open / P connections on K(n) = (1 + F) TPC - F n places, of which the last F
    are out of reach once the listener stopped (hysteresis, module docstring):
    `p_slot = sum_{n<TPC} pi_n mean_{k=K(n)-F..K(n)} C(k, x) / sum_{n<TPC} pi_n`.
    A wait for a slot is exponential with mean `E[H] / (K' - x)`, K' = K(a_b / P) - F/2 the
    middle of that range (Erlang C's conditional wait); a wait for a worker has the conditional
    mean `S_w / (c - a_b)` (M/M/c). The wait given a wait mixes the two with one exponential tail:
    `w1 = (p_worker S_w / (c - a_b) + (1 - p_worker) p_slot E[H] / (K' - x)) / p_wait`.
    P(block) is M/M/K/K+Q/P's with floor(K') servers (the accept queue shared by the children).
    Domain: P, TPC, F >= 1, loads >= 0, holding_s, worker_s > 0, accept_queue >= 1.
    """
    p, tpc, f = processes, threads_per_child, factor
    c = p * tpc
    a_b, x = busy_erlangs, open_connections_mean / processes
    slots_mean = (1 + f) * tpc - f * a_b / p
    serving = slots_mean - f / 2.0  # places in use while connections wait (hysteresis)
    if a_b >= c:
        return SlotWait(1.0, 1.0, 1.0, math.inf, math.inf, 1.0, slots_mean, False)
    p_worker = erlang_c(c, a_b)
    law = busy_worker_law(p, tpc, a_b)
    erlang = ErlangCRange(tpc, (1 + f) * tpc, x)
    weight = 0.0
    p_slot = 0.0
    for n in range(tpc):
        if law[n] < _NEGLIGIBLE:
            continue
        top = (1 + f) * tpc - f * n
        weight += law[n]
        p_slot += law[n] * erlang.total(top - f, top) / (f + 1)
    p_slot = min(1.0, p_slot / weight) if weight > 0.0 else 1.0
    p_wait = min(1.0, p_worker + (1.0 - p_worker) * p_slot)
    stable = x < serving
    # The accept queue is shared by the children: each child's part of it is Q / P places behind
    # its floor(K') servers, M/M/K/K+Q/P, which holds on both sides of x = K'.
    places = max(1, math.floor(serving))
    queue_share = accept_queue / p
    p_block = p_block_from_b(places, x, queue_share, erlang_b(places, x))
    if not stable:
        # More connections than places: the queue grows without bound and every one waits.
        return SlotWait(1.0, p_worker, 1.0, math.inf, math.inf, p_block, slots_mean, False)
    slot_part = (1.0 - p_worker) * p_slot
    mean_wait = _weighted(p_worker, worker_s / (c - a_b)) + _weighted(
        slot_part, holding_s / (serving - x)
    )
    w1 = mean_wait / p_wait if p_wait > 0.0 else 0.0
    return SlotWait(p_wait, p_worker, p_slot, mean_wait, w1, p_block, slots_mean, True)


def _weighted(probability: float, wait_s: float) -> float:
    """probability x wait, 0 when the probability is 0 (even for an infinite or huge wait)."""
    return probability * wait_s if probability > 0.0 else 0.0


def with_reconnections(
    wait: SlotWait, fresh_per_s: float, reconnections_per_s: float, wait_given_wait_s: float
) -> SlotWait:
    """`wait` with a stream of new connections that always wait (mean `wait_given_wait_s`) added.

    P(wait) and the mean wait become the averages over both streams, weighted by their rates:
    `p = (fresh p_fresh + reconnections) / (fresh + reconnections)`; w1 = mean / p. Used for the
    reconnections of keep-alive requests a lone child dropped while full (they wait for a worker).
    """
    total = fresh_per_s + reconnections_per_s
    if reconnections_per_s <= 0.0 or not wait.stable:
        return wait
    p_wait = min(1.0, (fresh_per_s * wait.p_wait + reconnections_per_s) / total)
    mean = _weighted(fresh_per_s / total, wait.mean_wait_s) + _weighted(
        reconnections_per_s / total, wait_given_wait_s
    )
    p_worker = min(1.0, (fresh_per_s * wait.p_worker + reconnections_per_s) / total)
    p_slot = min(1.0, max(0.0, (p_wait - p_worker) / (1.0 - p_worker))) if p_worker < 1.0 else 0.0
    return replace(
        wait,
        p_wait=p_wait,
        p_worker=p_worker,
        p_slot=p_slot,
        mean_wait_s=mean,
        mean_wait_given_wait_s=mean / p_wait,
    )
