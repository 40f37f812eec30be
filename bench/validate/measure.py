"""Estimators for the validation suite: raw observations to batch-means estimates with error bars.

Input: a `RawRun` (kernel and server-status samples, request records, access-log lines).
Output: `Measured`: the realized model inputs (request rate, service time and its SCV, from the
server's own `%D`) and, per quantity, an `Estimate` (mean over >= 20 equal time batches of the
measurement window, with the standard error of that mean: derivations §10.3; never sqrt(count)).

Waits are per request: client response time minus the server's request time (`%D`) minus the
zero-load overhead measured by the generator's calibration pairs (new and reused connections).
Using `%D` in place of the requested sleep removes the backend's timer jitter, so a wait above
the threshold (`wait_threshold_s`: `WAIT_THRESHOLD_S`, or the generator's lag p99 when that is
larger) is time spent before httpd read the request: in the accept queue.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bench.validate.harness import LogEntry, RawRun
from bench.validate.loadgen import Record

BATCHES = 20
# A request "waited" above this: a worker's wake-up and accept on a busy 2-CPU host take up to a
# few ms, which is not queueing.
WAIT_THRESHOLD_S = 0.005
STATUS_LATE_S = 0.005  # a server-status poll this much slower than at zero load waited
BLOCK_DELAY_S = 0.9  # SYN retransmission after an accept-queue overflow: ~1 s (derivations §1 F12)
MAX_LAG_P99_S = 0.010  # "a lag of more than a few ms invalidates waits" (derivations §10.1)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Estimate:
    """A measured quantity: point estimate, standard error (batch means) and batch count."""

    value: float
    se: float
    batches: int


@dataclass(frozen=True, slots=True)
class Realized:
    """The inputs the model is evaluated at: what the server actually saw in the window."""

    requests_per_second: float
    service_time_s: float
    service_time_scv: float
    window_s: float
    requests: int
    # The visits the generator drew, in the window: mean requests per visit, mean think gap and
    # the share of held sockets (None: too few visits to tell, or a run that did not record
    # them; the case's nominal value is used).
    requests_per_visit: float | None = None
    think_time_s: float | None = None
    idle_hold_probability: float | None = None


@dataclass(frozen=True, slots=True)
class Validity:
    """Whether the generator, not the server, limited the run (then the case is invalid).

    Failed requests (timeouts after repeated SYN drops) are the server's doing and only reported.
    """

    lag_p99_s: float
    lag_max_s: float
    overhead_new_s: float
    overhead_reused_s: float
    failed_fraction: float
    unmatched_fraction: float
    reasons: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.reasons


@dataclass(frozen=True, slots=True)
class Measured:
    realized: Realized
    validity: Validity
    batch_s: float
    wait_threshold_s: float  # a wait above this counts as "waited"
    quantities: tuple[tuple[str, Estimate], ...]
    listen_overflows: int  # whole-host TcpExtListenOverflows delta over the window
    block_from_capture: bool = False  # P(block) from the run's handshakes (`RawRun.handshakes`)

    def get(self, name: str) -> Estimate | None:
        for key, value in self.quantities:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class _Request:
    record: Record
    duration_s: float  # %D
    new_connection: bool
    wait_s: float


def batch_estimate(values: Sequence[float]) -> Estimate:
    """Mean of per-batch values and its standard error; NaN batches (no data) are skipped."""
    usable = [v for v in values if not math.isnan(v)]
    if not usable:
        return Estimate(math.nan, math.nan, 0)
    mean = statistics.fmean(usable)
    se = statistics.stdev(usable) / math.sqrt(len(usable)) if len(usable) > 1 else math.inf
    return Estimate(mean, se, len(usable))


def percentile(values: Sequence[float], p: float) -> float:
    """The p-quantile (nearest rank) of `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


def _mean_or_nan(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def _split(
    items: Sequence[T], time_of: Callable[[T], float], edges: Sequence[float]
) -> list[list[T]]:
    batches: list[list[T]] = [[] for _ in range(len(edges) - 1)]
    width = edges[1] - edges[0]
    for item in items:
        t = time_of(item)
        if edges[0] <= t < edges[-1]:
            batches[min(len(batches) - 1, int((t - edges[0]) / width))].append(item)
    return batches


def occupancy(
    entries: Sequence[LogEntry], edges: Sequence[float], full: int
) -> tuple[list[float], list[float]]:
    """Per batch: mean workers busy on requests, and the time fraction a child had all `full`.

    Every logged request holds a worker of child `%P` from its start for `%D` (status polls
    included: they hold one too). The saturated fraction is averaged over the children seen.
    """
    nb = len(edges) - 1
    busy = [0.0] * nb
    saturated = [0.0] * nb
    by_pid: dict[int, list[tuple[float, int]]] = {}
    for e in entries:
        by_pid.setdefault(e.pid, []).extend(((e.t_s, 1), (e.t_s + e.duration_s, -1)))

    def add(target: list[float], t_from: float, t_to: float, weight: float) -> None:
        lo, hi = max(t_from, edges[0]), min(t_to, edges[-1])
        while lo < hi:
            i = min(nb - 1, int((lo - edges[0]) / (edges[1] - edges[0])))
            cut = min(hi, edges[i + 1])
            target[i] += weight * (cut - lo)
            lo = cut

    for events in by_pid.values():
        events.sort()
        level = 0
        t_prev = events[0][0]
        for t, step in events:
            if level:
                add(busy, t_prev, t, float(level))
            if level >= full:
                add(saturated, t_prev, t, 1.0)
            level += step
            t_prev = t
    width = edges[1] - edges[0]
    children = max(1, len(by_pid))
    return [b / width for b in busy], [x / width / children for x in saturated]


def _join(raw: RawRun) -> tuple[list[_Request], float, float, float]:
    """Requests with their %D and wait; the overheads (new, reused); unmatched fraction."""
    by_attempt: dict[int, LogEntry] = {e.attempt: e for e in raw.log if e.attempt > 0}

    def client_minus_server(rec: Record) -> float | None:
        entry = by_attempt.get(rec.attempt)
        if entry is None or rec.error or rec.t_first_byte_s < 0:
            return None
        return rec.t_first_byte_s - rec.t_send_s - entry.duration_s

    calibration = [r for r in raw.records if r.visit == 0]
    new = [x for r in calibration if not r.reused and (x := client_minus_server(r)) is not None]
    old = [x for r in calibration if r.reused and (x := client_minus_server(r)) is not None]
    overhead_new = statistics.median(new) if new else 0.0
    overhead_old = statistics.median(old) if old else overhead_new
    joined: list[_Request] = []
    unmatched = 0
    answered = 0
    for rec in raw.records:
        if rec.visit == 0 or rec.error:
            continue
        answered += 1
        entry = by_attempt.get(rec.attempt)
        if entry is None:
            unmatched += 1
            continue
        base = overhead_old if rec.reused else overhead_new
        wait = rec.t_first_byte_s - rec.t_send_s - entry.duration_s - base
        joined.append(_Request(rec, entry.duration_s, not rec.reused, wait))
    return joined, overhead_new, overhead_old, unmatched / answered if answered else 1.0


# Visits starting this close to the end of the load may have been cut short by it: left out of
# the realized visit shape (at most a quarter of the window).
VISIT_MARGIN_S = 30.0
MIN_VISITS = 100


def realized_visits(raw: RawRun) -> tuple[float | None, float | None, float | None]:
    """The visits the generator drew in the window: mean requests per visit, mean think gap and
    the share of held sockets (each None when fewer than `MIN_VISITS` tell).

    The model is evaluated at these, as at the realized request rate: a geometric draw of mean 3
    over 1,700 visits lands within 2 % only two times in three, and near the slot limit a 4 %
    longer mean visit means 4 % fewer connections per second, 1.1 fewer open connections and a
    third fewer new connections that wait (event-limit-f2-2x8-ka5). The length is the
    geometric's maximum-likelihood mean with censoring: after each answered request the visit
    drew "one more" or "stop"; a visit whose last request failed drew nothing after it. Visits
    are those starting in the window, up to `VISIT_MARGIN_S` before the generator's last send;
    stale re-sends count once.
    """
    case = raw.case
    start, end = case.warmup_s, case.duration_s
    sends = [r.t_sched_s for r in raw.records if r.visit > 0]
    if not sends:
        return None, None, None
    cut = min(end, max(sends)) - min(VISIT_MARGIN_S, (end - start) / 4)
    visits: dict[int, list[Record]] = {}
    for rec in raw.records:
        if rec.visit > 0 and rec.error != "stale":
            visits.setdefault(rec.visit, []).append(rec)
    chosen = {v: rs for v, rs in visits.items() if start <= min(r.t_sched_s for r in rs) < cut}
    if len(chosen) < MIN_VISITS:
        return None, None, None
    more = stops = 0
    gaps: list[float] = []
    for rs in chosen.values():
        rs.sort(key=lambda r: (r.t_sched_s, r.attempt))
        more += len(rs) - 1
        stops += 0 if rs[-1].error else 1
        gaps.extend(b.t_sched_s - a.t_done_s for a, b in itertools.pairwise(rs))
    per_visit = (more + stops) / stops if stops else None
    think = statistics.fmean(gaps) if len(gaps) >= MIN_VISITS else None
    held_ids, released_ids = set(raw.summary.held_visits), set(raw.summary.released_visits)
    held = sum(1 for v in chosen if v in held_ids)
    released = sum(1 for v in chosen if v in released_ids)
    share = held / (held + released) if held + released >= MIN_VISITS else None
    return per_visit, think, share


def measure(raw: RawRun) -> Measured:
    """All estimates of one run (see the module docstring for the definitions)."""
    case = raw.case
    mpm = case.server.mpm
    c = case.server.workers
    start, end = case.warmup_s, case.duration_s
    window = end - start
    edges = [start + window * i / BATCHES for i in range(BATCHES + 1)]
    batch_s = window / BATCHES

    requests, overhead_new, overhead_old, unmatched = _join(raw)
    # Connections whose SYN the full accept queue dropped (connect took BLOCK_DELAY_S or more).
    turned_away = {r.conn for r in raw.records if not r.reused and r.connect_s >= BLOCK_DELAY_S}
    in_window = [e for e in raw.log if e.attempt > 0 and start <= e.t_s < end]
    durations = [e.duration_s for e in in_window]
    mean_s = _mean_or_nan(durations)
    scv = statistics.pvariance(durations) / mean_s**2 if len(durations) > 1 else 1.0
    generated = [r for r in raw.records if r.visit > 0 and start <= r.t_send_s < end]
    # The offered rate: every request the visits sent, once (a re-send after a stale keep-alive
    # connection is the same request), whether or not the server took it in time.
    offered = sum(1 for r in generated if r.error != "stale")
    per_visit, think_s, held = realized_visits(raw)
    realized = Realized(
        offered / window, mean_s, scv, window, len(in_window), per_visit, think_s, held
    )

    failed = [r for r in generated if r.error and r.error != "stale"]
    failed_fraction = len(failed) / len(generated) if generated else 1.0
    summary = raw.summary
    reasons = []
    if summary.lag_p99_s > MAX_LAG_P99_S:
        reasons.append(
            f"generator lag p99 {summary.lag_p99_s * 1e3:.1f} ms > {MAX_LAG_P99_S * 1e3:.0f} ms"
        )
    if unmatched > 0.01:
        reasons.append(f"{unmatched:.1%} of answered requests are missing from the access log")
    if not in_window:
        reasons.append("no request reached the server in the measurement window")
    validity = Validity(
        summary.lag_p99_s,
        summary.lag_max_s,
        overhead_new,
        overhead_old,
        failed_fraction,
        unmatched,
        tuple(reasons),
    )

    # A wait shorter than the generator's own lag cannot be told from that lag.
    threshold_s = max(WAIT_THRESHOLD_S, 2.0 * summary.lag_p99_s)
    log_b = _split(in_window, lambda e: e.t_s, edges)
    kern_b = _split(raw.kernel, lambda k: k.t_s, edges)
    stat_b = _split(
        [s for s in raw.status if s.latency_s >= 0 and s.busy_workers >= 0], lambda s: s.t_s, edges
    )
    req_b = _split(requests, lambda r: r.record.t_send_s, edges)
    request_busy, saturated = occupancy(raw.log, edges, case.server.threads_per_child)
    gen_b = _split(generated, lambda r: r.t_send_s, edges)
    out: dict[str, list[float]] = {}

    def put(name: str, value: float) -> None:
        out.setdefault(name, []).append(value)

    for i in range(BATCHES):
        logs, kern, stat, reqs, gens = log_b[i], kern_b[i], stat_b[i], req_b[i], gen_b[i]
        n_req = len(logs)
        n_conn = sum(1 for e in logs if e.keepalives == 0)
        conn_rate = n_conn / batch_s
        put("requests_per_s", n_req / batch_s)
        put("connections_per_s", conn_rate)
        put("requests_per_connection", n_req / n_conn if n_conn else math.nan)
        accepted = [k.connections - k.accept_queue for k in kern]
        # Accepted connections (the model's a_b + a_y leaves the accept queue out).
        put("open_connections_mean", _mean_or_nan([float(a) for a in accepted]))
        put("accept_queue_nonempty", _mean_or_nan([float(k.accept_queue > 0) for k in kern]))
        put("busy_on_requests_mean", request_busy[i])
        if mpm == "event":
            # mod_status counts the poll's own worker; the log rebuild does not need polls.
            busy = request_busy[i]
            put("busy_workers_mean", busy)
            put("busy_workers_status", _mean_or_nan([float(s.busy_workers - 1) for s in stat]))
            put("process_saturated", saturated[i])
            put("idle_keepalive_mean", _mean_or_nan([float(a) for a in accepted]) - busy)
        else:
            busy = _mean_or_nan([float(min(a, c)) for a in accepted])
            put("busy_workers_mean", busy)
            # The same from server-status: a poll answered late waited for a worker, so it
            # counts as all c busy; a prompt one shows BusyWorkers minus its own (§10.1).
            late_s = raw.status_zero_load_latency_s + STATUS_LATE_S
            put(
                "busy_workers_status",
                _mean_or_nan(
                    [float(c if s.latency_s > late_s else s.busy_workers - 1) for s in stat]
                ),
            )
            if case.server.keep_alive:
                # Workers held but not on a request are in keep-alive (K; lingering is ~0
                # here). The scoreboard's K count is kept for reference: polls that wait for a
                # worker see the server just after one freed, which biases it low (§10.1).
                # Without keep-alive there is no K state at all, so nothing to measure.
                put("idle_keepalive_mean", busy - request_busy[i])
                put(
                    "idle_keepalive_scoreboard",
                    _mean_or_nan([float(s.keepalive_slots) for s in stat]),
                )
            # Scoreboard R (reading a request) and C (closing, lingering) slots, for reference:
            # the model has no reading state and puts lingering close in C.
            boards = [s.scoreboard for s in stat if getattr(s, "scoreboard", "")]
            put("reading_scoreboard", _mean_or_nan([float(b.count("R")) for b in boards]))
            put("closing_scoreboard", _mean_or_nan([float(b.count("C")) for b in boards]))
            put("holding_time_s", busy / conn_rate if conn_rate > 0 else math.nan)
            # PASTA: the time fraction with every worker holding a connection.
            put("p_wait", _mean_or_nan([float(k.connections >= c) for k in kern]))
        # Waits are those of admitted connections (the model's Wq | admitted): a connection whose
        # SYN was dropped (connect >= BLOCK_DELAY_S) counts toward P(block) instead, and so do
        # its keep-alive requests, which would otherwise dilute the share that waited.
        reqs = [r for r in reqs if r.record.conn not in turned_away]
        firsts = [r for r in reqs if r.new_connection]
        waited_first = [float(r.wait_s > threshold_s) for r in firsts]
        if mpm == "event":
            # A new connection waits when no process can accept it (workers or slot limit).
            put("p_wait", _mean_or_nan(waited_first))
        else:
            put("p_wait_new_connection", _mean_or_nan(waited_first))
        put("p_wait_request", _mean_or_nan([float(r.wait_s > threshold_s) for r in reqs]))
        waits = [max(0.0, r.wait_s) for r in firsts]
        put("mean_wait_s", _mean_or_nan(waits))
        put("wait_p99_s", percentile(waits, 0.99))
        news = [g for g in gens if not g.reused]
        if case.measure_block and raw.handshakes:
            # The capture's handshakes that began in the batch, turned away at least once.
            put(
                "p_block",
                _mean_or_nan([float(b) for t, b in raw.handshakes if edges[i] <= t < edges[i + 1]]),
            )
        elif case.measure_block:
            put(
                "p_block",
                _mean_or_nan(
                    [
                        float(g.connect_s >= BLOCK_DELAY_S or _first_byte_s(g) >= BLOCK_DELAY_S)
                        for g in news
                    ]
                ),
            )
        if mpm == "event":
            reused = [g for g in gens if g.reused]
            put("ka_drops_per_s", sum(1 for g in reused if g.error == "stale") / batch_s)
            kills = [n for t, n in raw.kill_episodes if edges[i] <= t < edges[i + 1]]
            put("kill_episodes_per_s", len(kills) / batch_s)
            put("ka_killed_per_episode", statistics.fmean(kills) if kills else math.nan)
            put("kill_episodes_clustered", clustered_fraction(raw.kill_episodes, edges[i : i + 2]))
            put("ka_killed_per_s", sum(kills) / batch_s)

    quantities = [(name, batch_estimate(values)) for name, values in out.items()]
    # Whole-window percentiles are better point estimates than the mean of batch p99s; keep the
    # batch spread as the error bar.
    window_waits = [
        max(0.0, r.wait_s)
        for r in requests
        if r.new_connection
        and r.record.conn not in turned_away
        and start <= r.record.t_send_s < end
    ]
    quantities = [
        (name, Estimate(percentile(window_waits, 0.99), est.se, est.batches))
        if name == "wait_p99_s"
        else (name, est)
        for name, est in quantities
    ]
    overflow = [k.listen_overflows for k in raw.kernel if start <= k.t_s < end]
    return Measured(
        realized=realized,
        validity=validity,
        batch_s=batch_s,
        wait_threshold_s=threshold_s,
        quantities=tuple(quantities),
        listen_overflows=overflow[-1] - overflow[0] if overflow else 0,
        block_from_capture=case.measure_block and bool(raw.handshakes),
    )


# Kill episodes closer than this to the previous one (any child) belong to the same burst.
KILL_CLUSTER_GAP_S = 0.05


def clustered_fraction(episodes: Sequence[tuple[float, int]], window: Sequence[float]) -> float:
    """The share of kill episodes in `window` that follow another within KILL_CLUSTER_GAP_S."""
    times = sorted(t for t, _ in episodes)
    gaps = [b - a for a, b in itertools.pairwise(times) if window[0] <= b < window[1]]
    return statistics.fmean(float(g < KILL_CLUSTER_GAP_S) for g in gaps) if gaps else math.nan


def _first_byte_s(record: Record) -> float:
    if record.t_first_byte_s < 0:
        return math.inf if record.error else 0.0
    return record.t_first_byte_s - record.t_send_s
