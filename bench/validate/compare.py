"""Predicted versus measured, with the acceptance bands of derivations §10.3.

Input: a case's `Measured` estimates and capplan's `MpmMetrics` at the realized inputs.
Output: `CaseResult`, one `Check` per quantity with its band and a status:
`pass`, `FAIL`, `n/m` (both sides below what a run of this length can resolve), `info` (reported,
no band: the model makes no claim) or `invalid` (the generator, not the server, was the limit).

Bands (derivations §10.3): E[R], E[H], mean busy workers and mean idle keep-alive (and open)
connections within max(3 SE, 5 %); P(wait) within max(3 SE, 15 %); waits within max(3 SE, 15 %)
of Allen-Cunneen; P(block) (>= 1e-3) within 3 SE or a factor 1.3; event B_p within a factor 2;
the connection rate under kill churn within 20 %. Kill episodes and keep-alive drops are checked
against the factor of about 2 that derivations §4.2 states for them. Below a floor on both sides
(probabilities 0.01, P(block) 1e-3, event rates 0.2/s) a quantity is `n/m`; waits below 2 ms on
both sides are equal within the generator's timing resolution. Waits are `n/m` when the batches
are shorter than ten relaxation times of the queue (§10.3), since their error bars are then
understated; a p99 is also `n/m` with fewer than ten connections beyond it per batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from bench.validate.casefile import Case
from bench.validate.measure import BATCHES, Estimate, Measured
from capplan.models.types import MpmMetrics

Status = Literal["pass", "FAIL", "n/m", "info", "invalid"]
PROBABILITY_FLOOR = 0.01  # P(wait)-like values below this cannot be pinned in minutes (§10.3)
BLOCK_FLOOR = 1e-3  # §10.3: P_block is validated only from 1e-3 up
WAIT_FLOOR_S = 0.002  # timing resolution of the generator (its lag) for waits
RATE_FLOOR_PER_S = 0.2  # event counts: fewer than about 20 in a 100 s window are not resolved


@dataclass(frozen=True, slots=True)
class Band:
    """`rel`: |m - p| <= max(3 SE, rel * p, floor); `factor`: within 3 SE or max/min <= factor."""

    kind: Literal["rel", "factor", "none"]
    size: float
    floor: float = 0.0  # below this on both sides the two cannot be told apart
    below_floor: Literal["n/m", "pass"] = "n/m"  # rare probabilities: n/m; tiny waits: equal

    def describe(self) -> str:
        match self.kind:
            case "rel":
                return f"max(3 SE, {self.size:.0%})"
            case "factor":
                return f"3 SE or x{self.size:g}"
            case "none":
                return "-"


@dataclass(frozen=True, slots=True)
class Check:
    quantity: str
    predicted: float
    measured: Estimate
    band: Band
    status: Status
    note: str = ""


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    measured: Measured
    metrics: MpmMetrics
    checks: tuple[Check, ...]

    @property
    def valid(self) -> bool:
        return self.measured.validity.valid

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "FAIL")


REL5 = Band("rel", 0.05)
REL15_P = Band("rel", 0.15, PROBABILITY_FLOOR)
REL15_WAIT = Band("rel", 0.15, WAIT_FLOOR_S, "pass")
REL20 = Band("rel", 0.20)
FACTOR2_P = Band("factor", 2.0, PROBABILITY_FLOOR)
FACTOR2_RATE = Band("factor", 2.0, RATE_FLOOR_PER_S)
BLOCK = Band("factor", 1.3, BLOCK_FLOOR)
INFO = Band("none", 0.0)


def judge(predicted: float, measured: Estimate, band: Band) -> Status:
    """Apply `band` to one quantity (see `Band`)."""
    if band.kind == "none":
        return "info"
    m, se = measured.value, measured.se
    if math.isnan(m):
        return "n/m"
    if math.isinf(predicted) or math.isnan(predicted):
        return "FAIL"
    if band.floor > 0 and predicted < band.floor and m < band.floor:
        return band.below_floor
    three_se = 3.0 * se if math.isfinite(se) else math.inf
    diff = abs(m - predicted)
    if band.kind == "rel":
        ok = diff <= max(three_se, band.size * abs(predicted), band.floor)
    else:
        lo, hi = sorted((max(m, 0.0), max(predicted, 0.0)))
        ok = diff <= three_se or (lo > 0 and hi / lo <= band.size)
    return "pass" if ok else "FAIL"


def _tail(metrics: MpmMetrics, probability: float, threshold_s: float) -> float:
    """The model's P(wait > threshold) for a wait probability `probability` (Allen-Cunneen).

    prefork/worker waits of admitted connections stay finite beyond saturation (a full accept
    queue), so the tail applies there too; event's is the slot-or-worker wait's exponential tail.
    """
    w1 = metrics.mean_wait_given_wait_s
    if math.isinf(w1) or w1 <= 0:
        return probability
    return probability * math.exp(-threshold_s / w1)


def _expected(
    case: Case, metrics: MpmMetrics, threshold_s: float, *, captured: bool = False
) -> list[tuple[str, float, Band, str]]:
    thr_ms = f"{threshold_s * 1e3:.1f} ms"
    # event's killed connections stay open to the kernel until a worker closes them; the
    # kernel's count (and so the idle count, that count less the busy workers) includes them.
    deferred = metrics.event.deferred_closes_mean if metrics.event is not None else 0.0
    rows: list[tuple[str, float, Band, str]] = [
        ("requests_per_connection", metrics.requests_per_connection, REL5, "E[R]"),
        ("busy_workers_mean", metrics.busy_workers_mean, REL5, ""),
        (
            "idle_keepalive_mean",
            metrics.idle_keepalive_mean + deferred,
            REL5,
            "killed awaiting a worker included" if metrics.event is not None else "",
        ),
    ]
    if case.server.mpm == "event":
        detail = metrics.event
        assert detail is not None
        killed = detail.kill_hazard_per_s * metrics.idle_keepalive_mean
        episodes = detail.kill_episodes_per_s
        rows += [
            ("connections_per_s", metrics.connections_per_s, REL20, "under kill churn (4.4)"),
            (
                "open_connections_mean",
                metrics.open_connections_mean + deferred,
                REL5,
                "a_b + a_y + killed awaiting a worker",
            ),
            ("process_saturated", detail.process_saturation, FACTOR2_P, "B_p"),
            ("kill_episodes_per_s", detail.kill_episodes_per_s, FACTOR2_RATE, "factor of §4.2"),
            ("ka_drops_per_s", detail.keepalive_drops_per_s, FACTOR2_RATE, "factor of §4.2"),
            (
                "ka_killed_per_s",
                killed,
                FACTOR2_RATE,
                "h x idle keep-alive",
            ),
            (
                "ka_killed_per_episode",
                killed / episodes if episodes > 0.0 else math.nan,
                INFO,
                "model: E[Y | Y <= 1 + F] of a child's idle keep-alive connections Y "
                "(one child: refilled since its last episode, and its bursts' 1 + g)",
            ),
            (
                "kill_episodes_clustered",
                math.nan,
                INFO,
                "episodes within 50 ms of the previous one",
            ),
            (
                "p_wait",
                _tail(metrics, metrics.p_wait, threshold_s),
                REL15_P,
                f"slot {detail.wait_for_slot_probability:.3g} or worker "
                f"{detail.wait_for_worker_probability:.3g} (P_limit "
                f"{detail.p_connection_limit:.3g}); new connections that waited > {thr_ms}",
            ),
            (
                "p_wait_request",
                _tail(metrics, metrics.p_wait_request, threshold_s),
                REL15_P,
                f"requests waited > {thr_ms}",
            ),
            ("mean_wait_s", metrics.mean_wait_s, REL15_WAIT, "per new connection, slot or worker"),
            ("wait_p99_s", metrics.wait_p99_s, REL15_WAIT, "per new connection, slot or worker"),
        ]
    else:
        rows += [
            ("holding_time_s", metrics.holding_time_s, REL5, "E[H], Little"),
            (
                "busy_workers_status",
                metrics.busy_workers_mean,
                INFO,
                "server-status, late polls as all busy",
            ),
            (
                "idle_keepalive_scoreboard",
                metrics.idle_keepalive_mean,
                INFO,
                "mod_status K count (biased low, §10.1)",
            ),
            ("busy_on_requests_mean", metrics.scoreboard.busy_requests, REL5, "R+W"),
            ("reading_scoreboard", math.nan, INFO, "mod_status R count (reading a request)"),
            ("closing_scoreboard", metrics.scoreboard.closing, INFO, "mod_status C count"),
            ("connections_per_s", metrics.connections_per_s, INFO, ""),
            (
                "p_wait",
                # PASTA: the time fraction with every worker held is what an attempt finds,
                # P_allbusy = P_block + (1 - P_block) P(wait | admitted) of M/M/c/K.
                metrics.p_block + (1.0 - metrics.p_block) * metrics.p_wait,
                REL15_P,
                "time fraction all workers held (P_allbusy)",
            ),
            (
                "p_wait_new_connection",
                _tail(metrics, metrics.p_wait, threshold_s),
                REL15_P,
                f"new connections that waited > {thr_ms}",
            ),
            (
                "p_wait_request",
                _tail(metrics, metrics.p_wait_request, threshold_s),
                REL15_P,
                f"requests that waited > {thr_ms}",
            ),
            ("mean_wait_s", metrics.mean_wait_s, REL15_WAIT, "per new connection"),
            ("wait_p99_s", metrics.wait_p99_s, REL15_WAIT, "per new connection"),
        ]
    if case.measure_block:
        how = (
            "handshakes turned away at least once (capture)"
            if captured
            else "connect or first byte >= 0.9 s"
        )
        rows.append(("p_block", metrics.p_block, BLOCK, how))
    return rows


def relaxation_time_s(case: Case, metrics: MpmMetrics) -> float:
    """About how long the occupancy takes to forget its state (for batch lengths, §10.3).

    The pooled queue: E[H] / (sqrt(c) - sqrt(a))^2 (M/M/c near saturation); event's slot pool
    (M/G/inf): E[H].
    """
    holding = metrics.holding_time_s
    if case.server.mpm == "event":
        return holding
    gap = abs(math.sqrt(metrics.workers) - math.sqrt(metrics.offered_load_erlangs))
    return holding / max(gap, 1e-3) ** 2


# Waits converge slowest: their batch-means error bars need batches this many relaxation times.
MIN_BATCH_RELAXATIONS = 10.0
WAITS = ("mean_wait_s", "wait_p99_s")
MIN_TAIL_SAMPLES = 10.0  # connections beyond the p99 in one batch
# event's episode counts (kill'em-all episodes, and the keep-alive drops) are judged only when the
# window holds this many, expected or seen: a handful of clustered events has no error bar.
MIN_EVENTS = 20.0
# Each row whose estimate is a count of these events: (row, the per-second rate that counts them).
EVENT_COUNTS = {
    "kill_episodes_per_s": "kill_episodes_per_s",
    "ka_killed_per_s": "kill_episodes_per_s",
    "ka_drops_per_s": "ka_drops_per_s",
}


def event_count(
    name: str, predicted: dict[str, float], measured: Measured, window_s: float
) -> float | None:
    """The larger of the predicted and the measured number of events behind row `name`."""
    counted = EVENT_COUNTS.get(name)
    if counted is None:
        return None
    seen = measured.get(counted)
    rate = max(predicted.get(counted, 0.0), seen.value if seen is not None else 0.0)
    return rate * window_s


def compare(case: Case, measured: Measured, metrics: MpmMetrics) -> CaseResult:
    """Every check of one case."""
    checks = []
    relaxations = measured.batch_s / max(relaxation_time_s(case, metrics), 1e-9)
    conn_rate = measured.get("connections_per_s")
    tail_samples = 0.01 * measured.batch_s * (conn_rate.value if conn_rate is not None else 0.0)
    window_s = measured.batch_s * BATCHES
    expected = _expected(
        case, metrics, measured.wait_threshold_s, captured=measured.block_from_capture
    )
    predicted_rates = {name: predicted for name, predicted, _, _ in expected}
    for name, predicted, band, what in expected:
        estimate = measured.get(name)
        if estimate is None or (band.kind == "none" and math.isnan(estimate.value)):
            continue  # not measured in this run (e.g. a saved run without scoreboard strings)
        status: Status = judge(predicted, estimate, band)
        note = what
        events = event_count(name, predicted_rates, measured, window_s)
        if events is not None and events < MIN_EVENTS and status in ("pass", "FAIL"):
            status = "n/m"
            note = f"{what}; {events:.0f} < {MIN_EVENTS:.0f} events in the window"
        elif name == "wait_p99_s" and band.kind != "none" and tail_samples < MIN_TAIL_SAMPLES:
            # A batch's p99 then rests on a handful of connections: its spread is no error bar.
            status = "n/m"
            note = f"{what}; {tail_samples:.0f} < {MIN_TAIL_SAMPLES:.0f} tail samples per batch"
        elif name in WAITS and band.kind != "none" and relaxations < MIN_BATCH_RELAXATIONS:
            # Pass or fail alike: a batch-means error bar of a queue quantity is not
            # trustworthy with batches shorter than ten relaxation times (§10.3).
            status = "n/m"
            note = f"{what}; batches are {relaxations:.1f} < 10 relaxation times"
        if not measured.validity.valid and status in ("pass", "FAIL"):
            status = "invalid"
        checks.append(Check(name, predicted, estimate, band, status, note))
    return CaseResult(case, measured, metrics, tuple(checks))
