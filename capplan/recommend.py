"""Recommendation stage: (current settings, profile) → the smallest coherent settings per MPM.

Input: the current `EffectiveConfig` (or none), a `TrafficProfile` and the MPMs to consider.
Output: one `MpmOption` per MPM (settings that meet every target and fit in memory, or the limit and
the largest sustainable rate when nothing fits), the chosen MPM and the reasons in plain words.

The search never trusts an approximation: every candidate is evaluated with the models
(`capplan.models.evaluate` + `evaluate_targets`), and the recommended settings are the ones whose
evaluation is reported. Sizing is monotone in the number of processes (model.md §7: Erlang B/C,
P(block), event's B_p and P(limit) all fall as processes are added; memory grows), so a galloping
search followed by bisection finds the smallest passing process count in O(log n) evaluations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, assert_never

from capplan.mpm import PREFORK_MAX_SERVER_LIMIT, THREADED_MAX_SERVER_LIMIT
from capplan.queueing.search import smallest_passing
from capplan.settings import (
    CommonSettings,
    EventSettings,
    MpmName,
    MpmSettings,
    PreforkSettings,
    WorkerSettings,
)
from capplan.snippet import mpm_of

if TYPE_CHECKING:
    from capplan.models import MpmMetrics, TargetResult
    from capplan.profile import TrafficProfile

# httpd's compile-time hard limits on ServerLimit (httpd-facts.md §1.1).
MAX_SERVER_LIMIT = {
    "prefork": PREFORK_MAX_SERVER_LIMIT,
    "worker": THREADED_MAX_SERVER_LIMIT,
    "event": THREADED_MAX_SERVER_LIMIT,
}
# ThreadsPerChild values tried for worker/event (and the config's own): httpd's default, and the
# largest that needs no ThreadLimit change, whose pools share threads better (model.md §4.4
# "Sizing consequence") and need fewer per-process bases.
THREADS_PER_CHILD_CANDIDATES = (25, 64)
# KeepAliveTimeout values (s) tried below the current one for prefork/worker, where every idle
# keep-alive second holds a whole worker (model.md §3.6).
KEEPALIVE_TIMEOUT_CANDIDATES_S = (3.0, 2.0, 1.0)
# A lower KeepAliveTimeout is recommended when it at least halves the workers needed (or is the
# only way to fit in memory): otherwise the extra TCP handshakes are not worth it.
KEEPALIVE_LEVER_GAIN = 2.0
KEEPALIVE_LEVER_MEMORY_SHARE = 0.1
# …and saves at least this many workers (a small site does not trade handshakes for one process).
KEEPALIVE_LEVER_MIN_SAVED = 10


@dataclass(frozen=True, slots=True)
class Assessment:
    """Settings with their model evaluation and every target's outcome."""

    settings: MpmSettings
    metrics: MpmMetrics
    targets: tuple[TargetResult, ...]

    @property
    def ok(self) -> bool:
        return all(t.met for t in self.targets)

    @property
    def queue_ok(self) -> bool:
        """Every target except memory is met (these improve as processes are added)."""
        return all(t.met for t in self.targets if not is_memory_target(t.target))

    @property
    def memory_ok(self) -> bool:
        return all(t.met for t in self.targets if is_memory_target(t.target))


def is_memory_target(name: str) -> bool:
    return "memory" in name


def assess(settings: MpmSettings, profile: TrafficProfile) -> Assessment:
    from capplan.models import evaluate, evaluate_targets

    metrics = evaluate(settings, profile)
    return Assessment(settings, metrics, evaluate_targets(metrics, profile))


@dataclass(frozen=True, slots=True)
class MpmOption:
    """The outcome of sizing one MPM for the profile.

    `best` is the smallest passing assessment; when no process count meets every target within
    memory, `best` is None and `limit` holds the largest assessment that fits in memory, with the
    request rate it can sustain (`max_rate_per_s`) and the targets it misses.
    """

    mpm: MpmName
    best: Assessment | None
    limit: Assessment | None
    max_rate_per_s: float | None
    # A lower KeepAliveTimeout when it is the better lever (`keepalive_baseline`: the size at the
    # current timeout), and a higher MaxKeepAliveRequests when visits are longer than the cap
    # (`max_requests_baseline`: the size at the current cap).
    keepalive_alternative: Assessment | None = None
    keepalive_baseline: Assessment | None = None
    max_requests_alternative: Assessment | None = None
    max_requests_baseline: Assessment | None = None
    # KeepAliveTimeout values tried without success when nothing fits (for the limit's wording).
    keepalive_tried_s: tuple[float, ...] = ()

    @property
    def feasible(self) -> bool:
        return self.best is not None


# --- coherent directive sets -------------------------------------------------------------------


def spare_margin(busy_workers_mean: float) -> int:
    """Spare workers to keep idle: two standard deviations of a Poisson busy count, at least 1.

    The busy-worker count of an M/G/c system with light blocking is close to Poisson(a), so
    2·sqrt(a) idle workers absorb the usual fluctuation without forking on every burst.
    """
    return max(1, math.ceil(2.0 * math.sqrt(max(busy_workers_mean, 0.0))))


def coherent_prefork(
    processes: int, busy_workers_mean: float, common: CommonSettings
) -> PreforkSettings:
    """A prefork set httpd applies unchanged: ServerLimit = MaxRequestWorkers = processes.

    NOTE: `prefork_run()` raises MaxSpareServers to MinSpareServers + 1 (with one listener
    bucket), so MaxSpareServers is at least that; all values are >= 1 (`prefork_check_config()`).
    """
    processes = max(1, processes)
    min_spare = min(max(5, spare_margin(busy_workers_mean)), processes)
    max_spare = 2 * min_spare
    start = min(max(1, math.ceil(busy_workers_mean) + min_spare), processes)
    return PreforkSettings(
        server_limit=processes,
        max_request_workers=processes,
        start_servers=start,
        min_spare_servers=min_spare,
        max_spare_servers=max_spare,
        common=common,
    )


def _threaded_values(
    processes: int, threads_per_child: int, busy_workers_mean: float
) -> dict[str, int]:
    """Shared by worker and event: `worker_check_config()` and `event_check_config()` are one rule.

    ServerLimit = processes, ThreadLimit = ThreadsPerChild, MaxRequestWorkers = processes × TPC
    (an exact multiple, so no AH00316/AH00513 rounding). NOTE: `worker_run()`/`event_run()` raise
    MaxSpareThreads to MinSpareThreads + TPC + 1, so MaxSpareThreads = MinSpareThreads + 2·TPC.
    """
    processes = max(1, processes)
    tpc = max(1, threads_per_child)
    workers = processes * tpc
    min_spare = min(max(tpc, spare_margin(busy_workers_mean)), workers)
    start = min(max(1, math.ceil((busy_workers_mean + min_spare) / tpc)), processes)
    return {
        "server_limit": processes,
        "thread_limit": tpc,
        "threads_per_child": tpc,
        "max_request_workers": workers,
        "start_servers": start,
        "min_spare_threads": min_spare,
        "max_spare_threads": min_spare + 2 * tpc,
    }


def coherent_settings(
    mpm: MpmName,
    *,
    processes: int,
    threads_per_child: int,
    busy_workers_mean: float,
    common: CommonSettings,
    async_request_worker_factor: int = 2,
) -> MpmSettings:
    """The full directive set for `processes` (× `threads_per_child`) with no httpd adjustment."""
    match mpm:
        case "prefork":
            return coherent_prefork(processes, busy_workers_mean, common)
        case "worker":
            return WorkerSettings(
                **_threaded_values(processes, threads_per_child, busy_workers_mean),
                common=common,
            )
        case "event":
            return EventSettings(
                **_threaded_values(processes, threads_per_child, busy_workers_mean),
                async_request_worker_factor=float(max(1, async_request_worker_factor)),
                common=common,
            )
        case _:
            assert_never(mpm)


def coherent_common(current: CommonSettings) -> CommonSettings:
    """Keep the current keep-alive settings; make the backlog and child limits take as written.

    ListenBacklog above `net.core.somaxconn` is silently truncated by the kernel, so the
    recommendation writes the value that applies. A negative MaxConnectionsPerChild makes
    worker/event children exit right after start (httpd-facts.md §2.7), so it becomes 0.
    """
    return replace(
        current,
        listen_backlog=max(1, min(current.listen_backlog, current.somaxconn)),
        max_connections_per_child=max(0, current.max_connections_per_child),
    )


# --- sizing one MPM ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shape:
    """What stays fixed while the process count is searched."""

    mpm: MpmName
    threads_per_child: int
    common: CommonSettings
    async_request_worker_factor: int


def _settings(shape: _Shape, processes: int, busy_workers_mean: float) -> MpmSettings:
    return coherent_settings(
        shape.mpm,
        processes=processes,
        threads_per_child=shape.threads_per_child,
        busy_workers_mean=busy_workers_mean,
        common=shape.common,
        async_request_worker_factor=shape.async_request_worker_factor,
    )


@dataclass(frozen=True, slots=True)
class _Sized:
    best: Assessment | None
    limit: Assessment | None


def _size_shape(
    shape: _Shape, profile: TrafficProfile, offered_load: float, workers_hint: int | None = None
) -> _Sized:
    """Smallest process count meeting every target for a fixed shape, or the memory limit.

    `offered_load` (Erlangs, worker-holding) gives the stability bound, where the search starts
    (a + 2·sqrt(a) workers, square-root staffing), unless `workers_hint` (the answer for a
    similar shape) says better. The settings found carry minimal spare thresholds; `_finalize`
    sizes those for the one that is chosen.
    """
    cache: dict[int, Assessment] = {}

    def at(processes: int) -> Assessment:
        found = cache.get(processes)
        if found is None:
            found = assess(_settings(shape, processes, 0.0), profile)
            cache[processes] = found
        return found

    tpc = 1 if shape.mpm == "prefork" else shape.threads_per_child
    high = MAX_SERVER_LIMIT[shape.mpm]
    # Stability needs more workers than the worker-holding load (model.md §3.2, §4.2).
    low = min(high, max(1, math.floor(offered_load / tpc)))
    workers = workers_hint or offered_load + 2.0 * math.sqrt(offered_load)
    guess = min(high, max(low, math.ceil(workers / tpc)))
    fits = _memory_bound(at, at(guess), tpc, high)
    if fits is not None:
        if fits < 1:
            return _Sized(best=None, limit=None)
        if not at(fits).queue_ok:
            # Even the most processes that fit miss a target: that is the limit.
            return _Sized(best=None, limit=at(fits))
        high = fits
    processes = smallest_passing(lambda n: at(n).queue_ok, min(low, high), high, guess)
    if processes is None or not at(processes).memory_ok:
        # Nothing meets the targets within memory: report the largest count that fits.
        too_many = smallest_passing(lambda n: not at(n).memory_ok, 1, processes or high)
        if too_many is None or too_many == 1:
            return _Sized(best=None, limit=None)
        return _Sized(best=None, limit=at(too_many - 1))
    return _Sized(best=at(processes), limit=None)


def _memory_bound(
    at: Callable[[int], Assessment], seen: Assessment, tpc: int, high: int
) -> int | None:
    """The most processes that fit in memory, by the models, or None when it is not known cheaply.

    The models give the memory-bounded maximum of workers (model.md §6); for worker and event it
    is also capped at the evaluated ServerLimit, so it is only a bound when below that cap. The
    figure is confirmed by evaluating it and one process more (and searched for, should the two
    disagree).
    """
    fitting = seen.metrics.memory.max_workers
    if fitting is None or (fitting >= seen.settings.server_limit * tpc and tpc > 1):
        return None
    estimate = min(high, fitting // tpc)
    if estimate >= 1 and at(estimate).memory_ok and (
        estimate == high or not at(estimate + 1).memory_ok
    ):
        return estimate
    too_many = smallest_passing(lambda n: not at(n).memory_ok, 1, high, estimate + 1)
    return high if too_many is None else too_many - 1


def _size_shapes(
    shapes: Sequence[_Shape], profile: TrafficProfile, offered_load: float
) -> list[_Sized]:
    """Each shape sized in turn, the workers found for one the starting guess for the next (they
    differ by a rounding to ThreadsPerChild or a little pooling), which keeps large servers,
    whose every evaluation is O(workers), to a few evaluations per shape."""
    results: list[_Sized] = []
    hint: int | None = None
    for shape in shapes:
        sized = _size_shape(shape, profile, offered_load, hint)
        if sized.best is not None:
            hint = sized.best.metrics.workers
        results.append(sized)
    return results


def _finalize(assessment: Assessment, profile: TrafficProfile) -> Assessment:
    """The chosen size with spare thresholds from its expected busy workers, re-evaluated.

    A process is added if (against monotonicity) a target fails with the final settings; the
    evaluation returned is always the one of the settings returned.
    """
    settings = assessment.settings
    shape = _Shape(
        mpm_of(settings),
        assessment.metrics.threads_per_child,
        settings.common,
        settings.worker_factor if isinstance(settings, EventSettings) else 2,
    )
    busy = assessment.metrics.busy_workers_mean
    for extra in range(3):
        final = assess(_settings(shape, settings.processes + extra, busy), profile)
        if final.ok:
            return final
    return assessment


def _threads_candidates(current: MpmSettings | None) -> tuple[int, ...]:
    values = list(THREADS_PER_CHILD_CANDIDATES)
    if isinstance(current, WorkerSettings | EventSettings):
        values.append(current.threads_per_child)
    return tuple(sorted(set(values)))


def _worst_memory(assessment: Assessment) -> float:
    return float(assessment.metrics.memory_bytes)


def _pick(candidates: Sequence[_Sized]) -> _Sized:
    """The feasible candidate with the least worst-case memory (then the fewest workers); when
    none is feasible, the one whose memory-bounded size has the most workers."""
    feasible = [c.best for c in candidates if c.best is not None]
    if feasible:
        best = min(feasible, key=lambda a: (_worst_memory(a), a.metrics.workers))
        return _Sized(best=best, limit=None)
    limited = [c.limit for c in candidates if c.limit is not None]
    if limited:
        return _Sized(best=None, limit=max(limited, key=lambda a: a.metrics.workers))
    return candidates[0]


def sustainable_rate_per_s(assessment: Assessment, profile: TrafficProfile) -> float:
    """The largest request rate at which these settings meet every target except memory.

    All queueing targets at once (each `TargetResult.max_rate_per_s` is one target alone): the
    models' rate bisection with a pass/fail value; 0 when even a tiny rate fails, inf when every
    rate tried passes.
    """
    from capplan.models import evaluate_targets
    from capplan.models.targets import max_rate_per_s

    def failing(metrics: MpmMetrics) -> float:
        results = evaluate_targets(metrics, profile)
        return 0.0 if all(t.met for t in results if not is_memory_target(t.target)) else 1.0

    return max_rate_per_s(assessment.metrics, failing, 0.5)


def size_mpm(
    mpm: MpmName,
    profile: TrafficProfile,
    *,
    current: MpmSettings | None,
    common: CommonSettings,
) -> MpmOption:
    """The smallest coherent settings of `mpm` that meet every target of `profile`."""
    factor = 2
    if isinstance(current, EventSettings):
        factor = current.worker_factor
    tpcs = (1,) if mpm == "prefork" else _threads_candidates(current)
    shapes = [_Shape(mpm, tpc, common, factor) for tpc in tpcs]
    if mpm == "event" and factor < 3:
        # A larger factor lets each idle worker vouch for more idle connections (model.md §4.3).
        shapes += [_Shape(mpm, tpc, common, factor + 1) for tpc in tpcs]
    load = _offered_load(mpm, common, profile)
    baseline = _pick(_size_shapes(shapes, profile, load))
    alternative: Assessment | None = None
    if mpm in ("prefork", "worker") and common.keep_alive:
        # The lever is weighed at the shape that won (same ThreadsPerChild).
        shown = baseline.best or baseline.limit
        shape_tpcs = (shown.metrics.threads_per_child,) if shown is not None else tpcs
        lowered = _keepalive_lever(mpm, profile, common, tpcs=shape_tpcs, factor=factor,
                                   baseline=baseline)
        if lowered is not None:
            alternative = lowered.best
    option_best = alternative if alternative is not None else baseline.best
    option_limit = None if option_best is not None else baseline.limit
    before_cap = option_best
    raised = _max_requests_lever(mpm, profile, option_best or option_limit)
    if raised is not None:
        option_best, option_limit = raised, None
    if option_best is not None:
        option_best = _finalize(option_best, profile)
    rate = sustainable_rate_per_s(option_limit, profile) if option_limit is not None else None
    tried: tuple[float, ...] = ()
    if option_best is None and mpm in ("prefork", "worker") and common.keep_alive:
        tried = tuple(
            t for t in KEEPALIVE_TIMEOUT_CANDIDATES_S if t < common.keep_alive_timeout_s
        )
    return MpmOption(
        mpm=mpm,
        best=option_best,
        limit=option_limit,
        max_rate_per_s=rate,
        keepalive_alternative=option_best if alternative is not None else None,
        keepalive_baseline=baseline.best if alternative is not None else None,
        max_requests_alternative=option_best if raised is not None else None,
        max_requests_baseline=before_cap if raised is not None else None,
        keepalive_tried_s=tried,
    )


def _offered_load(mpm: MpmName, common: CommonSettings, profile: TrafficProfile) -> float:
    """The worker-holding load in Erlangs (it does not depend on the number of workers)."""
    probe = coherent_settings(
        mpm, processes=1, threads_per_child=1, busy_workers_mean=0.0, common=common
    )
    return assess(probe, profile).metrics.offered_load_erlangs


# Visits longer than half the cap make the cap bind; the raised cap covers all but about 1 % of
# geometric visits (P(N > 5m) = (1 - 1/m)^(5m) ≈ e^-5).
MAX_REQUESTS_VISIT_MULTIPLE = 5
# The raised cap is adopted when it cuts new connections by at least this share at no more
# workers.
MAX_REQUESTS_LEVER_CUT = 0.2


def _max_requests_lever(
    mpm: MpmName, profile: TrafficProfile, chosen: Assessment | None
) -> Assessment | None:
    """A higher MaxKeepAliveRequests when visits are longer than the cap allows, else None.

    httpd closes a connection after MaxKeepAliveRequests + 1 requests (F1); a client that sends
    more reconnects, paying a handshake and (prefork/worker) possibly a wait for a worker. The
    raised cap is sized at the chosen shape and adopted when it needs no more workers and cuts
    new connections by MAX_REQUESTS_LEVER_CUT, or when it is the only way to meet the targets.
    """
    if chosen is None:
        return None
    common = chosen.settings.common
    cap = common.max_keep_alive_requests
    visit = profile.visits.requests_per_visit
    if not common.keep_alive or cap <= 0 or visit < (cap + 1) / 2:
        return None
    raised_cap = max(cap, math.ceil(MAX_REQUESTS_VISIT_MULTIPLE * visit / 100) * 100)
    settings = chosen.settings
    factor = settings.worker_factor if isinstance(settings, EventSettings) else 2
    shape = _Shape(mpm, chosen.metrics.threads_per_child,
                   replace(common, max_keep_alive_requests=raised_cap), factor)
    sized = _size_shape(shape, profile, _offered_load(mpm, shape.common, profile)).best
    if sized is None:
        return None
    if not chosen.ok:
        return sized
    fewer_connections = (
        sized.metrics.connections_per_s
        <= (1 - MAX_REQUESTS_LEVER_CUT) * chosen.metrics.connections_per_s
    )
    if fewer_connections and sized.metrics.workers <= chosen.metrics.workers:
        return sized
    return None


def _available_memory(profile: TrafficProfile) -> float | None:
    ram = profile.memory.ram_bytes
    if not ram:
        return None
    fraction = profile.targets.max_memory_fraction
    return float(ram) * (fraction if fraction is not None else 1.0)


def _keepalive_lever(
    mpm: MpmName,
    profile: TrafficProfile,
    common: CommonSettings,
    *,
    tpcs: tuple[int, ...],
    factor: int,
    baseline: _Sized,
) -> _Sized | None:
    """A lower KeepAliveTimeout when it is the better lever than adding workers, else None.

    Better means: the current timeout cannot meet the targets within memory but a lower one can;
    or a lower one needs at most 1/KEEPALIVE_LEVER_GAIN of the workers (and at least
    KEEPALIVE_LEVER_MIN_SAVED fewer) and saves at least KEEPALIVE_LEVER_MEMORY_SHARE of the memory
    available (threads are cheap: saving a few
    hundred MiB is not worth more TCP handshakes). The highest such timeout wins (the smallest
    change to client behaviour).
    """
    available = _available_memory(profile)
    for timeout_s in KEEPALIVE_TIMEOUT_CANDIDATES_S:
        if timeout_s >= common.keep_alive_timeout_s:
            continue
        lowered = replace(common, keep_alive_timeout_s=timeout_s)
        load = _offered_load(mpm, lowered, profile)
        sized = _pick(
            _size_shapes([_Shape(mpm, tpc, lowered, factor) for tpc in tpcs], profile, load)
        )
        if sized.best is None:
            continue
        if baseline.best is None:
            return sized
        before, after = baseline.best.metrics.workers, sized.best.metrics.workers
        fewer = after * KEEPALIVE_LEVER_GAIN <= before
        fewer = fewer and before - after >= KEEPALIVE_LEVER_MIN_SAVED
        saved = _worst_memory(baseline.best) - _worst_memory(sized.best)
        if fewer and (available is None or saved >= KEEPALIVE_LEVER_MEMORY_SHARE * available):
            return sized
    return None
