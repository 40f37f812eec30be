"""Streaming estimators for access-log statistics: constant memory in the number of lines.

Input: arrays of values per block of log lines. Output: mergeable sketches — a log-bucketed
histogram (quantiles within 1 % relative error, exact moments), a windowed request counter compacted
into a histogram of window counts, and a bounded per-client table that turns request start/end
times into think-time gaps and visit ends.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Bucket growth factor: a value is reported as the geometric middle of its bucket, so the
# relative error is at most sqrt(1.02) - 1 = 0.995 %.
_GAMMA = 1.02
_LOG_GAMMA = math.log(_GAMMA)
_MIN_VALUE = 1e-7  # values below (and zeros) go to the zero bucket
_N_BUCKETS = math.ceil(math.log(1e6 / _MIN_VALUE) / _LOG_GAMMA) + 1


def bucket_centres() -> FloatArray:
    """The value each `LogHistogram` bucket reports: the geometric middle of its range."""
    exponents = np.arange(_N_BUCKETS, dtype=np.float64) + 0.5
    centres: FloatArray = _MIN_VALUE * np.power(_GAMMA, exponents)
    return centres


class LogHistogram:
    """Log-bucketed histogram of non-negative values with exact count, sum and sum of squares."""

    __slots__ = ("buckets", "count", "max", "sum", "sumsq", "zeros")

    def __init__(self) -> None:
        self.buckets = np.zeros(_N_BUCKETS, dtype=np.int64)
        self.zeros = 0
        self.count = 0
        self.sum = 0.0
        self.sumsq = 0.0
        self.max = 0.0

    def add_array(self, values: FloatArray) -> None:
        if values.size == 0:
            return
        v = np.maximum(values, 0.0)
        small = v < _MIN_VALUE
        n_small = int(np.count_nonzero(small))
        big = v[~small] if n_small else v
        if big.size:
            idx = np.floor(np.log(big / _MIN_VALUE) / _LOG_GAMMA).astype(np.int64)
            np.clip(idx, 0, _N_BUCKETS - 1, out=idx)
            self.buckets += np.bincount(idx, minlength=_N_BUCKETS)
        self.zeros += n_small
        self.count += int(v.size)
        self.sum += float(v.sum())
        # not np.dot: its BLAS threads spin and steal the core of the other worker process
        self.sumsq += float(np.square(v).sum())
        self.max = max(self.max, float(v.max()))

    def merge(self, other: LogHistogram) -> None:
        self.buckets += other.buckets
        self.zeros += other.zeros
        self.count += other.count
        self.sum += other.sum
        self.sumsq += other.sumsq
        self.max = max(self.max, other.max)

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else 0.0

    @property
    def scv(self) -> float:
        """Squared coefficient of variation Var/mean² (population form); 0 for < 2 values."""
        if self.count < 2 or self.sum <= 0.0:
            return 0.0
        mean = self.sum / self.count
        var = max(self.sumsq / self.count - mean * mean, 0.0)
        return var / (mean * mean)

    def quantile(self, q: float) -> float:
        """The q-quantile (0 < q < 1), within 1 % relative error (nearest-rank on buckets)."""
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(q * self.count))
        if rank <= self.zeros:
            return 0.0
        cum = np.cumsum(self.buckets)
        i = int(np.searchsorted(cum, rank - self.zeros))
        value: float = _MIN_VALUE * _GAMMA ** (i + 0.5)
        return min(value, self.max)


class WindowCounter:
    """Requests per time window, compacted into a histogram of window counts as time advances.

    Windows are `floor(t / window_s)`. Lines may arrive out of order by up to `reorder_s`; a window
    older than that behind the newest one is final and moves into `count_hist` (count → windows).
    A line for an already compacted window is counted in `late_lines` and its window tallied on
    its own (it can only split a window, never invent a peak).
    """

    __slots__ = ("count_hist", "first", "last", "late_lines", "open", "reorder", "window_s")

    def __init__(self, window_s: float, reorder_s: float = 60.0) -> None:
        self.window_s = window_s
        self.reorder = max(1, math.ceil(reorder_s / window_s))
        self.open: dict[int, int] = {}
        self.count_hist: Counter[int] = Counter()
        self.first: int | None = None
        self.last: int | None = None
        self.late_lines = 0

    def add(self, windows: dict[int, int]) -> None:
        if not windows:
            return
        horizon = None if self.last is None else self.last - self.reorder
        for w, c in windows.items():
            if horizon is not None and w < horizon:
                self.late_lines += c
                self.count_hist[c] += 1
                continue
            self.open[w] = self.open.get(w, 0) + c
        lo, hi = min(windows), max(windows)
        self.first = lo if self.first is None else min(self.first, lo)
        self.last = hi if self.last is None else max(self.last, hi)
        self._compact(self.last - self.reorder)

    def _compact(self, horizon: int) -> None:
        if len(self.open) <= 2 * self.reorder:
            return
        for w in [w for w in self.open if w < horizon]:
            self.count_hist[self.open.pop(w)] += 1

    def finish(self) -> Counter[int]:
        """All windows (including empty ones inside the span) as count → number of windows."""
        for c in self.open.values():
            self.count_hist[c] += 1
        self.open.clear()
        if self.first is not None and self.last is not None:
            nonempty = sum(self.count_hist.values())
            empty = (self.last - self.first + 1) - nonempty
            if empty > 0:
                self.count_hist[0] += empty
        return self.count_hist


def count_quantile(hist: Mapping[int, int], q: float) -> int:
    """Nearest-rank q-quantile of a count → frequency histogram."""
    total = sum(hist.values())
    if total == 0:
        return 0
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value
    return max(hist)


ClientKey = tuple[bytes, bytes]  # (client address, user agent or b"")


@dataclass(frozen=True, slots=True)
class ClientHeads:
    """Each client's first request in a block (columns): does it continue an earlier visit?"""

    keys: list[ClientKey]
    start_s: list[float]
    # raw %k text of that request (empty: the log has no %k); "0" opened a new connection
    keepalives: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ClientTails:
    """Each client's last request in a block (columns): where its visit stands at the end."""

    keys: list[ClientKey]
    end_s: list[float]
    keepalives: list[bytes]  # raw %k text ("-" when absent)
    status: list[bytes]  # raw %X text (empty when the log has no %X)


class VisitTally:
    """Think-time gaps and visit ends, summed over blocks (all plain counters, mergeable).

    `kept_gaps` are the gaps after which the client's next request came on the same connection
    (its `%k` is above 0), `broken_gaps` those after which it opened a new one although the
    previous request left the connection open (`%X` `+`, or `%X` not logged): together they
    bound the KeepAliveTimeout in force.
    """

    __slots__ = (
        "broken_gaps",
        "censored",
        "evicted",
        "finals_closed",
        "finals_kept",
        "gap_n",
        "gap_sum_s",
        "gap_sumsq_s",
        "gaps",
        "kept_gaps",
        "visits",
    )

    def __init__(self) -> None:
        self.gaps = LogHistogram()
        self.kept_gaps = LogHistogram()
        self.broken_gaps = LogHistogram()
        self.gap_n = 0
        self.gap_sum_s = 0.0
        self.gap_sumsq_s = 0.0
        self.visits = 0
        self.finals_kept = 0
        self.finals_closed = 0
        self.evicted = 0
        self.censored = 0

    def add_gaps(
        self,
        gaps_s: FloatArray,
        next_new: BoolArray | None = None,
        prev_open: BoolArray | None = None,
    ) -> None:
        """Gaps within visits; with `next_new` (the next request opened a connection: `%k` 0)
        they are also sorted into kept and broken gaps, the broken ones only where `prev_open`
        (the previous request left its connection open) when `%X` is logged."""
        self.gap_n += int(gaps_s.size)
        self.gap_sum_s += float(gaps_s.sum())
        self.gap_sumsq_s += float(np.square(gaps_s).sum())
        self.gaps.add_array(gaps_s)
        if next_new is None:
            return
        self.kept_gaps.add_array(gaps_s[~next_new])
        broken = next_new if prev_open is None else next_new & prev_open
        self.broken_gaps.add_array(gaps_s[broken])

    def add_final(self, keepalives: bytes, status: bytes, cap: int | None) -> None:
        """The last request of a visit: did the client leave the connection open (%X `+`)?

        A request at the MaxKeepAliveRequests cap is closed by the server whatever the client
        wants, so it says nothing about the client and is skipped.
        """
        if cap is not None and keepalives.isdigit() and int(keepalives) >= cap:
            return
        if status == b"+":
            self.finals_kept += 1
        elif status == b"-":
            self.finals_closed += 1

    def add_finals(self, keepalives: list[bytes], statuses: list[bytes], cap: int | None) -> None:
        """`add_final` for many visits' last requests at once, counted in C."""
        if cap is not None:
            capped = {k for k in set(keepalives) if k.isdigit() and int(k) >= cap}
            if capped:
                pairs = zip(keepalives, statuses, strict=True)
                statuses = [x for k, x in pairs if k not in capped]
        self.finals_kept += statuses.count(b"+")
        self.finals_closed += statuses.count(b"-")

    def merge(self, other: VisitTally) -> None:
        self.gaps.merge(other.gaps)
        self.kept_gaps.merge(other.kept_gaps)
        self.broken_gaps.merge(other.broken_gaps)
        self.gap_n += other.gap_n
        self.gap_sum_s += other.gap_sum_s
        self.gap_sumsq_s += other.gap_sumsq_s
        self.visits += other.visits
        self.finals_kept += other.finals_kept
        self.finals_closed += other.finals_closed
        self.evicted += other.evicted
        self.censored += other.censored


class ClientTable:
    """The clients seen recently, joined across blocks; bounded to `max_clients` entries.

    A client's visit ends when its next request starts more than `visit_gap_s` after its previous
    one ended. Entries whose last request ended more than `visit_gap_s` before the newest time
    seen are finished visits and leave the table (oldest first), so the table holds only the
    clients active in the last `visit_gap_s`; past `max_clients`, the least recently seen client
    is ended early and counted in `evicted`.
    """

    def __init__(
        self,
        tally: VisitTally,
        visit_gap_s: float,
        reorder_s: float,
        cap: int | None,
        max_clients: int = 200_000,
    ) -> None:
        self.tally = tally
        self.visit_gap_s = visit_gap_s
        self.reorder_s = reorder_s
        self.cap = cap
        self.max_clients = max_clients
        # key → (end_s, %k text, %X text) of the client's last request, least recently seen
        # first. A plain dict keeps insertion order and, unlike OrderedDict, keeps no linked
        # list: inserting and removing cost half as much.
        self.table: dict[ClientKey, tuple[float, bytes, bytes]] = {}
        self.now_s = -math.inf

    def add_block(self, heads: ClientHeads, tails: ClientTails, t_max_s: float) -> None:
        tally = self.tally
        table = self.table
        cap = self.cap
        gap_max, gap_min = self.visit_gap_s, -self.reorder_s
        # Most heads are clients the table has never seen: find the others with C-level set
        # operations and loop over those only.
        starts = dict(zip(heads.keys, heads.start_s, strict=True))
        seen = starts.keys() & table.keys()
        tally.visits += len(starts) - len(seen)
        firsts = dict(zip(heads.keys, heads.keepalives, strict=True)) if heads.keepalives else {}
        # (gap, next request opened a connection, previous one left its connection open)
        joined: list[tuple[float, bool, bool]] = []
        for key in seen:
            prev = table.pop(key)
            gap = starts[key] - prev[0]
            if gap_min <= gap <= gap_max:
                # %X "-" or "X": closed by the client (or the cap), not by the timeout
                joined.append((gap, firsts.get(key) == b"0", prev[2] not in (b"-", b"X")))
                continue
            tally.add_final(prev[1], prev[2], cap)
            tally.visits += 1
        if joined:
            joined.sort()  # set order varies between runs, sums must not
            gaps = np.asarray([j[0] for j in joined], dtype=np.float64)
            if firsts:
                tally.add_gaps(
                    gaps,
                    np.asarray([j[1] for j in joined], dtype=bool),
                    np.asarray([j[2] for j in joined], dtype=bool),
                )
            else:
                tally.add_gaps(gaps)
        states = zip(tails.end_s, tails.keepalives, tails.status, strict=True)
        table.update(zip(tails.keys, states, strict=True))
        self.now_s = max(self.now_s, t_max_s)
        self._expire(self.now_s - gap_max)
        excess = len(table) - self.max_clients
        if excess > 0:
            old = list(map(table.pop, list(islice(table, excess))))
            tally.add_finals([e[1] for e in old], [e[2] for e in old], cap)
            tally.evicted += excess

    def _expire(self, before_s: float) -> None:
        table = self.table
        n = 0
        for end_s, _, _ in table.values():  # least recently seen first
            if end_s >= before_s:
                break
            n += 1
        if n:
            ended = list(map(table.pop, list(islice(table, n))))
            self.tally.add_finals([e[1] for e in ended], [e[2] for e in ended], self.cap)

    def finish(self) -> None:
        """End of input: visits idle for long enough are over; the rest are censored.

        "Long enough" is the visit gap, or ten mean think gaps if that is shorter: an exponential
        gap exceeds ten means with probability e^-10, so such a client has almost surely left.
        """
        tally = self.tally
        idle_s = self.visit_gap_s
        if tally.gap_n:
            idle_s = min(idle_s, max(10.0 * tally.gap_sum_s / tally.gap_n, 1.0))
        before_s = self.now_s - idle_s
        for end_s, keepalives, status in self.table.values():
            if end_s < before_s:
                tally.add_final(keepalives, status, self.cap)
            else:
                tally.censored += 1
        self.table.clear()
