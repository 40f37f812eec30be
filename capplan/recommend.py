"""Recommendation stage: (current settings, profile) → sized settings per MPM, and the choice.

Input: the current `MpmSettings` (or none), a `TrafficProfile` whose rate already includes the
headroom, and the MPMs to consider. Output: one `MpmOption` per MPM (the settings that meet every
target and fit in memory, with the levers they pull; or the limit and the largest sustainable
rate when nothing fits) and `choose`, the policy that keeps, resizes or switches.

Levers are searched together with the worker counts: KeepAlive, KeepAliveTimeout,
MaxKeepAliveRequests, AsyncRequestWorkerFactor and ListenBacklog. Each lever setting is a
`Variant` ranked by how much it changes what clients see (none, a shorter timeout, keep-alive
off); among the variants that meet the targets, the smallest change wins unless a larger one saves
a material share of memory (`min_saving`, the same rule as for switching MPM).

The search never trusts an approximation: every candidate is evaluated with the models
(`capplan.models.evaluate` + `evaluate_targets`), and the recommended settings are the ones whose
evaluation is reported. Sizing is monotone in the number of processes (Erlang B/C, P(block),
event's B_p and P(limit) all fall as processes are added; memory grows), so a galloping search
followed by bisection finds the smallest passing process count in O(log n) evaluations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, assert_never

from capplan.effective import PREFORK_MAX_SERVER_LIMIT, THREADED_MAX_SERVER_LIMIT
from capplan.mpm_names import EventModel, Mpm
from capplan.mpm_settings import (
    CommonSettings,
    EventSettings,
    MpmSettings,
    PreforkSettings,
    ThreadedMpm,
    WorkerSettings,
    threaded_settings,
)
from capplan.queueing.search import smallest_passing
from capplan.snippet import format_factor, format_seconds, mpm_of

if TYPE_CHECKING:
    from capplan.models import MpmMetrics, TargetResult
    from capplan.profile import TrafficProfile

# httpd's compile-time hard limits on ServerLimit (`MAX_SERVER_LIMIT` in prefork.c, worker.c,
# event.c).
MAX_SERVER_LIMIT = {
    Mpm.prefork: PREFORK_MAX_SERVER_LIMIT,
    Mpm.worker: THREADED_MAX_SERVER_LIMIT,
    Mpm.event: THREADED_MAX_SERVER_LIMIT,
}
# ThreadsPerChild values tried for worker/event (and the config's own): httpd's default, and the
# largest that needs no ThreadLimit change, whose pools share threads better and need fewer
# per-process bases.
THREADS_PER_CHILD_CANDIDATES = (25, 64)
# KeepAliveTimeout values (s) tried below the current one, highest (smallest change) first.
KEEPALIVE_TIMEOUT_CANDIDATES_S = (3.0, 2.0, 1.0)
# httpd's default ListenBacklog (`DEFAULT_LISTENBACKLOG`); a shorter accept queue is raised to it.
DEFAULT_LISTEN_BACKLOG = 511
# A change (another MPM, or a lever that clients notice) must save at least this share of
# memory.ram (`--min-saving`).
MIN_SAVING = 0.10
# event's AsyncRequestWorkerFactor values tried above the current one, up to this.
MAX_WORKER_FACTOR = 4
# The largest sustainable rate is reported to three digits: search it to 0.1 %.
SUSTAINABLE_RATE_RTOL = 1e-3
# Between MPMs within MEMORY_TIE of the least memory: prefer event (idle keep-alive costs no
# worker), then worker.
MEMORY_TIE = 1.05
MPM_PREFERENCE: tuple[Mpm, ...] = (Mpm.event, Mpm.worker, Mpm.prefork)


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
        return all(t.met for t in self.targets if not t.target.is_memory)

    @property
    def memory_ok(self) -> bool:
        return all(t.met for t in self.targets if t.target.is_memory)


def assess(
    settings: MpmSettings,
    profile: TrafficProfile,
    *,
    event_model: EventModel = EventModel.closed_form,
    carried: bool = True,
) -> Assessment:
    """The settings' metrics under the profile and its targets; `carried` as in
    `capplan.models.evaluate` (the size searches leave it out: every new connection to an
    overloaded size waits, and its memory is judged at the offered load)."""
    from capplan.models import evaluate, evaluate_targets

    metrics = evaluate(settings, profile, event_model=event_model, carried=carried)
    return Assessment(settings, metrics, evaluate_targets(metrics, profile))


@dataclass(frozen=True, slots=True)
class Change:
    """A directive outside the worker counts that a recommendation changes: `old` → `new`, as
    httpd reads them (`KeepAliveTimeout` `5` → `2`, `KeepAlive` `On` → `Off`)."""

    directive: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class MpmOption:
    """The outcome of sizing one MPM for the profile.

    `best` is the chosen passing assessment; when no lever setting meets every target within
    memory, `best` is None and `limit` holds the largest assessment that fits in memory, with the
    request rate it can sustain (`max_rate_per_s`). `changes` are the levers `best` (or `limit`)
    pulls. When a keep-alive lever was chosen, `baseline` is the size with the current
    keep-alive settings: the smallest that passes, or (`baseline_feasible` False) the most that
    fit in memory, which miss a target.
    """

    mpm: Mpm
    best: Assessment | None
    limit: Assessment | None
    max_rate_per_s: float | None
    changes: tuple[Change, ...] = ()
    baseline: Assessment | None = None
    baseline_feasible: bool = True
    # The keep-alive settings tried without success when nothing fits (for the limit's wording).
    keepalive_tried: tuple[str, ...] = ()

    @property
    def feasible(self) -> bool:
        return self.best is not None

    @property
    def shown(self) -> Assessment | None:
        return self.best if self.best is not None else self.limit


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
    prefork never forks above MaxRequestWorkers, so it needs no ServerLimit room for restarts.
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


def restart_room(mpm: Mpm, processes: int) -> int:
    """ServerLimit slots beyond the active processes for children finishing after a graceful
    restart: a whole generation for event (it starts the new children in free slots), none for
    worker (a new child shares its predecessor's slot) and prefork (never above
    MaxRequestWorkers)."""
    if mpm is not Mpm.event:
        return 0
    return max(0, min(processes, MAX_SERVER_LIMIT[mpm] - processes))


def coherent_threaded(
    mpm: ThreadedMpm,
    *,
    processes: int,
    threads_per_child: int,
    busy_workers_mean: float,
    common: CommonSettings,
    async_request_worker_factor: int = 2,
) -> WorkerSettings | EventSettings:
    """A worker/event set httpd applies unchanged (`worker_check_config()` and
    `event_check_config()` are one rule).

    ThreadLimit = ThreadsPerChild, MaxRequestWorkers = processes × TPC (an exact multiple, so no
    AH00316/AH00513 rounding), ServerLimit = processes + `restart_room`. NOTE: `worker_run()` /
    `event_run()` raise MaxSpareThreads to MinSpareThreads + TPC + 1, so MaxSpareThreads =
    MinSpareThreads + 2·TPC.
    """
    processes = max(1, processes)
    tpc = max(1, threads_per_child)
    workers = processes * tpc
    min_spare = min(max(tpc, spare_margin(busy_workers_mean)), workers)
    start = min(max(1, math.ceil((busy_workers_mean + min_spare) / tpc)), processes)
    return threaded_settings(
        mpm,
        server_limit=processes + restart_room(mpm, processes),
        thread_limit=tpc,
        threads_per_child=tpc,
        max_request_workers=workers,
        start_servers=start,
        min_spare_threads=min_spare,
        max_spare_threads=min_spare + 2 * tpc,
        common=common,
        async_request_worker_factor=(
            float(max(1, async_request_worker_factor)) if mpm is Mpm.event else None
        ),
    )


def coherent_settings(
    mpm: Mpm,
    *,
    processes: int,
    threads_per_child: int,
    busy_workers_mean: float,
    common: CommonSettings,
    async_request_worker_factor: int = 2,
) -> MpmSettings:
    """The full directive set for `processes` (× `threads_per_child`) with no httpd adjustment."""
    match mpm:
        case Mpm.prefork:
            return coherent_prefork(processes, busy_workers_mean, common)
        case Mpm.worker | Mpm.event:
            return coherent_threaded(
                mpm,
                processes=processes,
                threads_per_child=threads_per_child,
                busy_workers_mean=busy_workers_mean,
                common=common,
                async_request_worker_factor=async_request_worker_factor,
            )
        case _:
            assert_never(mpm)


def coherent_common(current: CommonSettings) -> CommonSettings:
    """The current keep-alive settings, with the backlog and child limits httpd applies.

    ListenBacklog above `net.core.somaxconn` is silently truncated by the kernel, so the
    recommendation writes the value that applies. A negative MaxConnectionsPerChild makes
    worker/event children exit right after start (`child_main()`), so it becomes 0.
    """
    return replace(
        current,
        listen_backlog=max(1, min(current.listen_backlog, current.somaxconn)),
        max_connections_per_child=max(0, current.max_connections_per_child),
    )


# --- lever settings ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variant:
    """One setting of the levers: the common settings and event's factor, the changes they make
    to the current config, and `rank`, how much clients notice (0: nothing)."""

    common: CommonSettings
    factors: tuple[int, ...]
    changes: tuple[Change, ...]
    rank: int


def _keepalive_variants(common: CommonSettings) -> list[tuple[CommonSettings, Change, int]]:
    """Shorter KeepAliveTimeouts (highest first), then KeepAlive Off; none when it is off."""
    if not common.keep_alive or common.keep_alive_timeout_s <= 0:
        return []
    old = format_seconds(common.keep_alive_timeout_s)
    found = [
        (
            replace(common, keep_alive_timeout_s=t),
            Change("KeepAliveTimeout", old, format_seconds(t)),
            rank,
        )
        for rank, t in enumerate(KEEPALIVE_TIMEOUT_CANDIDATES_S, start=1)
        if t < common.keep_alive_timeout_s
    ]
    found.append(
        (
            replace(common, keep_alive=False),
            Change("KeepAlive", "On", "Off"),
            len(KEEPALIVE_TIMEOUT_CANDIDATES_S) + 1,
        )
    )
    return found


def _backlog_variant(common: CommonSettings) -> tuple[CommonSettings, tuple[Change, ...]]:
    """ListenBacklog raised to httpd's default (within somaxconn) when the config set it lower.

    A short accept queue turns every moment with all workers busy into dropped SYNs (1 s, 3 s …
    retries), and a server run close to its worker count with a 5-place queue was seen to fall
    into sustained overload (docs/validation.md).
    """
    target = min(DEFAULT_LISTEN_BACKLOG, common.somaxconn)
    if common.listen_backlog >= target:
        return common, ()
    change = Change("ListenBacklog", str(common.listen_backlog), str(target))
    return replace(common, listen_backlog=target), (change,)


def _factors(mpm: Mpm, current: MpmSettings | None) -> tuple[int, ...]:
    """event: the current AsyncRequestWorkerFactor and the whole values above it up to
    MAX_WORKER_FACTOR (each idle worker then vouches for more idle connections)."""
    if mpm is not Mpm.event:
        return (2,)
    factor = current.worker_factor if isinstance(current, EventSettings) else 2
    return tuple(range(factor, max(factor, MAX_WORKER_FACTOR) + 1))


# --- sizing one MPM ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shape:
    """What stays fixed while the process count is searched."""

    mpm: Mpm
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


def _assessor(
    shape: _Shape,
    profile: TrafficProfile,
    busy_workers_mean: float = 0.0,
    event_model: EventModel = EventModel.closed_form,
) -> Callable[[int], Assessment]:
    """The assessment of `shape` at a process count, each count evaluated once."""
    cache: dict[int, Assessment] = {}

    def at(processes: int) -> Assessment:
        found = cache.get(processes)
        if found is None:
            settings = _settings(shape, processes, busy_workers_mean)
            found = assess(settings, profile, event_model=event_model, carried=False)
            cache[processes] = found
        return found

    return at


def _process_bounds(mpm: Mpm, tpc: int, offered_load: float) -> tuple[int, int]:
    """The process counts searched: from those whose workers just carry the load (stability
    needs more) to the most that leave restart room under httpd's hard ServerLimit."""
    high = MAX_SERVER_LIMIT[mpm] - restart_room(mpm, MAX_SERVER_LIMIT[mpm] // 2)
    return min(high, max(1, math.floor(offered_load / tpc))), high


def _largest_that_fits(
    at: Callable[[int], Assessment], upto: int, guess: int | None = None
) -> Assessment | None:
    """The assessment of the most processes, below `upto`, that fit in memory (None when not
    even one process fits, or when `upto` does)."""
    too_many = smallest_passing(lambda n: not at(n).memory_ok, 1, upto, guess)
    if too_many is None or too_many == 1:
        return None
    return at(too_many - 1)


@dataclass(frozen=True, slots=True)
class _Sized:
    best: Assessment | None
    limit: Assessment | None


def _size_shape(
    shape: _Shape,
    profile: TrafficProfile,
    offered_load: float,
    similar: Assessment | None = None,
) -> _Sized:
    """Smallest process count meeting every target for a fixed shape, or the memory limit.

    The search starts at `_starting_workers` (square-root staffing, or what `similar`, the
    answer for a similar shape, needed); for event it moves up to the count whose connection
    slots hold the open connections when the first count tried misses for want of them. The
    settings found carry minimal spare thresholds; `_finalize` sizes those for the one that is
    chosen.
    """
    at = _assessor(shape, profile)
    tpc = 1 if shape.mpm is Mpm.prefork else shape.threads_per_child
    low, high = _process_bounds(shape.mpm, tpc, offered_load)
    workers = _starting_workers(shape, offered_load, similar)
    guess = min(high, max(low, math.ceil(workers / tpc)))
    first = at(guess)
    fits = _memory_bound(at, first, tpc, high)
    if fits is not None:
        if fits < 1:
            return _Sized(best=None, limit=None)
        if not at(fits).queue_ok:
            # Even the most processes that fit miss a target: that is the limit.
            return _Sized(best=None, limit=at(fits))
        high = fits
    if not first.queue_ok and first.metrics.event is not None:
        factor = first.metrics.event.worker_factor
        slots = _square_root_staffing(first.metrics.open_connections_mean) / (1 + factor)
        guess = min(high, max(guess, math.ceil(slots / tpc)))
    processes = smallest_passing(lambda n: at(n).queue_ok, min(low, high), high, guess)
    if processes is None and fits is None:
        # Nothing meets the targets and memory is unbounded: no count is too many to fit.
        return _Sized(best=None, limit=None)
    if processes is None or not at(processes).memory_ok:
        # Nothing meets the targets within memory: report the largest count that fits.
        return _Sized(best=None, limit=_largest_that_fits(at, processes or high))
    return _Sized(best=at(processes), limit=None)


def _square_root_staffing(mean: float) -> float:
    """The mean and two of its Poisson standard deviations: the servers (workers, or an event
    server's connection slots) a search starts from for this many busy on average."""
    return mean + 2.0 * math.sqrt(max(0.0, mean))


def _starting_workers(shape: _Shape, offered_load: float, similar: Assessment | None) -> float:
    """Where the search for `shape`'s process count starts, in workers: a + 2 sqrt(a)
    (square-root staffing) for the offered load a, or the workers `similar` needed. When
    `similar` is an event answer bound by its connection slots (its slots fuller than its
    workers) and `shape` is event, the slots it needed at this shape's AsyncRequestWorkerFactor
    F: an event server holds (1 + F) connections per worker. Only the search's cost depends on
    it, not its answer."""
    staffed = _square_root_staffing(offered_load)
    if similar is None:
        return staffed
    metrics = similar.metrics
    if shape.mpm is not Mpm.event or metrics.event is None:
        return float(metrics.workers)
    slot_use = metrics.open_connections_mean / metrics.max_connections
    if slot_use <= metrics.utilization:
        return float(metrics.workers)
    return max(staffed, metrics.max_connections / (1 + max(1, shape.async_request_worker_factor)))


def _memory_bound(
    at: Callable[[int], Assessment], seen: Assessment, tpc: int, high: int
) -> int | None:
    """The most processes that fit in memory, by the models, or None when memory is unbounded.

    The models give the memory-bounded maximum of workers; the figure is confirmed by
    evaluating it and one process more (and searched for, should the two disagree).
    """
    fitting = seen.metrics.memory.max_workers
    if fitting is None:
        return None
    estimate = min(high, fitting // tpc)
    if (
        estimate >= 1
        and at(estimate).memory_ok
        and (estimate == high or not at(estimate + 1).memory_ok)
    ):
        return estimate
    too_many = smallest_passing(lambda n: not at(n).memory_ok, 1, high, estimate + 1)
    return high if too_many is None else too_many - 1


def _size_shapes(shapes: Sequence[_Shape], profile: TrafficProfile, offered_load: float) -> _Sized:
    """Each shape sized in turn, the answer for one the starting guess for the next (their
    workers differ by a rounding to ThreadsPerChild or a little pooling; event's connection
    slots, when they bound it, by AsyncRequestWorkerFactor); the feasible one with the
    least worst-case memory (then the fewest workers), else the limit with the most workers."""
    results: list[_Sized] = []
    similar: Assessment | None = None
    for shape in shapes:
        sized = _size_shape(shape, profile, offered_load, similar)
        if sized.best is not None:
            similar = sized.best
        results.append(sized)
    feasible = [c.best for c in results if c.best is not None]
    if feasible:
        best = min(feasible, key=lambda a: (a.metrics.memory_bytes, a.metrics.workers))
        return _Sized(best=best, limit=None)
    limited = [c.limit for c in results if c.limit is not None]
    if limited:
        return _Sized(best=None, limit=max(limited, key=lambda a: a.metrics.workers))
    return results[0]


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


def sustainable_rate_per_s(assessment: Assessment, profile: TrafficProfile) -> float:
    """The largest request rate at which these settings meet every target except memory.

    All queueing targets at once (`target_max_rate_per_s` is one target alone): the models'
    rate search on the worst of the targets' excesses over their limits; 0 when even a tiny
    rate fails, inf when every rate tried passes.
    """
    from capplan.models import evaluate_targets
    from capplan.models.targets import rate_boundary, target_excess

    def worst(metrics: MpmMetrics) -> float:
        return max(
            (
                target_excess(result.target, result.value, result.limit)
                for result in evaluate_targets(metrics, profile)
                if not result.target.is_memory
            ),
            default=-math.inf,
        )

    return rate_boundary(assessment.metrics, worst, rtol=SUSTAINABLE_RATE_RTOL)


def _offered_load(mpm: Mpm, common: CommonSettings, profile: TrafficProfile) -> float:
    """The worker-holding load in Erlangs (it does not depend on the number of workers)."""
    from capplan.models import offered_load_erlangs

    return offered_load_erlangs(mpm, common, profile)


def _size_variant(
    mpm: Mpm, variant: Variant, tpcs: Sequence[int], profile: TrafficProfile
) -> _Sized:
    shapes = [_Shape(mpm, tpc, variant.common, f) for f in variant.factors for tpc in tpcs]
    return _size_shapes(shapes, profile, _offered_load(mpm, variant.common, profile))


def _factor_change(current: MpmSettings | None, chosen: Assessment) -> tuple[Change, ...]:
    settings = chosen.settings
    if not isinstance(settings, EventSettings):
        return ()
    old = current.worker_factor if isinstance(current, EventSettings) else 2
    if settings.worker_factor == old:
        return ()
    return (Change("AsyncRequestWorkerFactor", str(old), format_factor(settings.worker_factor)),)


def material_saving_bytes(
    reference_bytes: float, ram_bytes: int | None, min_saving: float
) -> float:
    """The memory a change must save to be worth it: `min_saving` of memory.ram, or of the
    reference footprint when memory.ram is unknown."""
    return min_saving * (float(ram_bytes) if ram_bytes else reference_bytes)


def _pick_variant(
    sized: Sequence[tuple[Variant, _Sized]], ram_bytes: int | None, min_saving: float
) -> tuple[Variant, Assessment] | None:
    """The smallest change (lowest rank) whose worst-case memory is within a material saving of
    the least; None when no variant meets the targets within memory."""
    feasible = sorted(
        ((v, s.best) for v, s in sized if s.best is not None), key=lambda pair: pair[0].rank
    )
    if not feasible:
        return None
    least = min(best.metrics.memory_bytes for _, best in feasible)
    margin = material_saving_bytes(feasible[0][1].metrics.memory_bytes, ram_bytes, min_saving)
    for variant, best in feasible:
        if best.metrics.memory_bytes <= least + margin:
            return variant, best
    return feasible[-1]


def size_mpm(
    mpm: Mpm,
    profile: TrafficProfile,
    *,
    current: MpmSettings | None,
    common: CommonSettings,
    min_saving: float = MIN_SAVING,
) -> MpmOption:
    """The settings of `mpm` that meet every target of `profile` with the smallest change."""
    tpcs = (1,) if mpm is Mpm.prefork else _threads_candidates(current)
    factors = _factors(mpm, current)
    base_common, backlog_changes = _backlog_variant(coherent_common(common))
    base = Variant(base_common, factors, backlog_changes, 0)
    base_sized = _size_variant(mpm, base, tpcs, profile)
    sized: list[tuple[Variant, _Sized]] = [(base, base_sized)]
    # Keep-alive levers: always for prefork and worker (every idle keep-alive second holds a
    # worker); for event only when the current keep-alive cannot meet the targets.
    if mpm is not Mpm.event or base_sized.best is None:
        shown = base_sized.best or base_sized.limit
        shape_tpcs = (shown.metrics.threads_per_child,) if shown is not None else tpcs
        for lowered, change, rank in _keepalive_variants(base_common):
            variant = Variant(lowered, factors, (change, *backlog_changes), rank)
            sized.append((variant, _size_variant(mpm, variant, shape_tpcs, profile)))
    ram = profile.memory.ram_bytes
    picked = _pick_variant(sized, ram, min_saving)
    if picked is None:
        return _limit_option(mpm, current, sized, profile)
    variant, best = picked
    baseline = (base_sized.best or base_sized.limit) if variant.rank > 0 else None
    raised = _max_requests_lever(mpm, profile, best)
    changes = variant.changes
    if raised is not None:
        best, cap_change = raised
        changes = (*changes, cap_change)
    best = _finalize(best, profile)
    return MpmOption(
        mpm=mpm,
        best=best,
        limit=None,
        max_rate_per_s=None,
        changes=(*changes, *_factor_change(current, best)),
        baseline=baseline,
        baseline_feasible=base_sized.best is not None,
    )


def refine_with_chain(option: MpmOption, profile: TrafficProfile) -> MpmOption:
    """event's chosen size re-sized with the per-child chain (`recommend --event-model chain`).

    The closed form picks the shape (ThreadsPerChild, AsyncRequestWorkerFactor, keep-alive);
    the chain then gives the smallest process count that meets every target but memory with
    that shape, galloping from the closed form's count (often one or two chain evaluations
    each way), with the spare thresholds of `_finalize`. When the chain needs more processes
    than fit in memory, the option is the most that fit, as a limit that misses a target
    (its sustainable rate from the closed form). Other MPMs, and an event option that already
    met nothing, are returned as they are.
    """
    best = option.best
    if option.mpm is not Mpm.event or best is None:
        return option
    settings = best.settings
    assert isinstance(settings, EventSettings)
    shape = _Shape(Mpm.event, settings.threads_per_child, settings.common, settings.worker_factor)
    busy = best.metrics.busy_workers_mean
    at = _assessor(shape, profile, busy, EventModel.chain)
    low, high = _process_bounds(
        Mpm.event, settings.threads_per_child, best.metrics.offered_load_erlangs
    )
    processes = smallest_passing(lambda n: at(n).queue_ok, low, high, settings.processes)
    if processes is not None and at(processes).memory_ok:
        return replace(option, best=at(processes))
    limit = _largest_that_fits(at, processes or high, settings.processes)
    if limit is None:
        return replace(option, best=None, limit=None, max_rate_per_s=None)
    return replace(
        option, best=None, limit=limit, max_rate_per_s=sustainable_rate_per_s(limit, profile)
    )


def _limit_option(
    mpm: Mpm,
    current: MpmSettings | None,
    sized: Sequence[tuple[Variant, _Sized]],
    profile: TrafficProfile,
) -> MpmOption:
    """Nothing meets the targets: the memory-bounded size that sustains the highest rate."""
    limits = [
        (variant, s.limit, sustainable_rate_per_s(s.limit, profile))
        for variant, s in sized
        if s.limit is not None
    ]
    tried = tuple(
        f"{c.directive} {c.new}"
        for variant, _ in sized
        if variant.rank > 0
        for c in variant.changes[:1]
    )
    if not limits:
        return MpmOption(mpm=mpm, best=None, limit=None, max_rate_per_s=None, keepalive_tried=tried)
    variant, limit, rate = max(limits, key=lambda item: (item[2], -item[0].rank))
    return MpmOption(
        mpm=mpm,
        best=None,
        limit=limit,
        max_rate_per_s=rate,
        changes=(*variant.changes, *_factor_change(current, limit)),
        keepalive_tried=tried,
    )


# Visits longer than half the cap make the cap bind; the raised cap covers all but about 1 % of
# geometric visits (P(N > 5m) = (1 - 1/m)^(5m) ≈ e^-5).
MAX_REQUESTS_VISIT_MULTIPLE = 5
# The raised cap is adopted when it cuts new connections by at least this share at no more
# workers.
MAX_REQUESTS_LEVER_CUT = 0.2


def _max_requests_lever(
    mpm: Mpm, profile: TrafficProfile, chosen: Assessment
) -> tuple[Assessment, Change] | None:
    """A higher MaxKeepAliveRequests when visits are longer than the cap allows, else None.

    httpd closes a connection after MaxKeepAliveRequests + 1 requests (`ap_set_keepalive()`); a
    client that sends more reconnects, paying a handshake and (prefork/worker) possibly a wait
    for a worker. The raised cap is sized at the chosen shape and adopted when it needs no more
    workers and cuts new connections by MAX_REQUESTS_LEVER_CUT.
    """
    common = chosen.settings.common
    cap = common.max_keep_alive_requests
    visit = profile.visits.requests_per_visit
    if not common.keep_alive or cap <= 0 or visit < (cap + 1) / 2:
        return None
    raised_cap = max(cap, math.ceil(MAX_REQUESTS_VISIT_MULTIPLE * visit / 100) * 100)
    settings = chosen.settings
    factor = settings.worker_factor if isinstance(settings, EventSettings) else 2
    shape = _Shape(
        mpm,
        chosen.metrics.threads_per_child,
        replace(common, max_keep_alive_requests=raised_cap),
        factor,
    )
    sized = _size_shape(shape, profile, _offered_load(mpm, shape.common, profile)).best
    if sized is None:
        return None
    fewer_connections = (
        sized.metrics.connections_per_s
        <= (1 - MAX_REQUESTS_LEVER_CUT) * chosen.metrics.connections_per_s
    )
    if fewer_connections and sized.metrics.workers <= chosen.metrics.workers:
        return sized, Change("MaxKeepAliveRequests", str(cap), str(raised_cap))
    return None


# --- the choice ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    """What to do: keep the current settings, change to `option` (same or other MPM), or nothing
    fits (`option` is then the best limit, or None)."""

    action: str  # "keep" | "change" | "none"
    option: MpmOption | None
    # When switching MPM for memory alone: the saving against the current MPM's own option.
    saving_bytes: float | None = None


def least_memory_option(options: Sequence[MpmOption], running: Mpm | None) -> MpmOption | None:
    """The feasible option with the least worst-case memory, ties broken as MPM_PREFERENCE says
    (the running MPM first: no module switch)."""
    feasible = [(o, o.best) for o in options if o.best is not None]
    if not feasible:
        return None
    least = min(best.metrics.memory_bytes for _, best in feasible)
    close = [o for o, best in feasible if best.metrics.memory_bytes <= MEMORY_TIE * least]
    order = ((running,) if running is not None else ()) + MPM_PREFERENCE
    return min(close, key=lambda o: order.index(o.mpm))


def best_limit(options: Sequence[MpmOption]) -> MpmOption | None:
    """Among infeasible options, the one sustaining the highest request rate."""
    limited = [o for o in options if o.limit is not None]
    if not limited:
        return None
    return max(limited, key=lambda o: o.max_rate_per_s or 0.0)


# The levers clients notice (a shorter wait before their idle connection closes, or none at all).
CLIENT_LEVERS = ("KeepAlive", "KeepAliveTimeout")


def client_changes(option: MpmOption) -> tuple[Change, ...]:
    """The option's keep-alive changes that clients notice, in the order they were made."""
    return tuple(c for c in option.changes if c.directive in CLIENT_LEVERS)


def client_cost(option: MpmOption) -> int:
    """How much clients notice the option's keep-alive levers: 0 none, 1-3 a shorter
    KeepAliveTimeout (3, 2, 1 s), 4 KeepAlive Off (the ranks of `_keepalive_variants`)."""
    for change in client_changes(option):
        if change.directive == "KeepAlive":
            return len(KEEPALIVE_TIMEOUT_CANDIDATES_S) + 1
        if change.directive == "KeepAliveTimeout":
            new = float(change.new.removesuffix("ms")) / (1000 if change.new.endswith("ms") else 1)
            return 1 + sum(1 for t in KEEPALIVE_TIMEOUT_CANDIDATES_S if t > new)
    return 0


def choose(
    options: Sequence[MpmOption],
    *,
    running: Mpm | None,
    current_ok: bool,
    ram_bytes: int | None,
    min_saving: float = MIN_SAVING,
) -> Choice:
    """Keep what works; otherwise the options whose keep-alive levers cost clients least (an MPM
    that meets the targets without touching keep-alive beats one that must turn it off); among
    those, the running MPM resized, unless another saves at least `min_saving` of memory.ram (of
    the running MPM's sized footprint when memory.ram is unknown) or the running one is not
    among them."""
    if current_ok:
        return Choice("keep", next((o for o in options if o.mpm == running), None))
    feasible = [o for o in options if o.best is not None]
    if not feasible:
        return Choice("none", best_limit(options))
    least_cost = min(client_cost(o) for o in feasible)
    pool = [o for o in feasible if client_cost(o) == least_cost]
    own = next((o for o in pool if o.mpm == running), None)
    cheapest = least_memory_option(pool, running)
    assert cheapest is not None
    assert cheapest.best is not None
    if own is None or own.best is None or cheapest is own:
        return Choice("change", own or cheapest)
    saving = own.best.metrics.memory_bytes - cheapest.best.metrics.memory_bytes
    margin = material_saving_bytes(own.best.metrics.memory_bytes, ram_bytes, min_saving)
    if saving >= margin:
        return Choice("change", cheapest, saving_bytes=saving)
    return Choice("change", own)
