"""The per-MPM models: (effective settings, traffic profile) -> metrics, for prefork, worker, event.

Stage: models (docs/derivations.md). Input: `PreforkSettings | WorkerSettings | EventSettings` and
a `TrafficProfile`. Output: `MpmMetrics`; `evaluate_targets` turns them into `TargetResult`s and
the renderers (`capplan.render.metrics`) into the JSON report's `mpms` entries. The normative
model is derivations §2-§6.

`evaluate_all` evaluates all three MPMs for one profile. The current MPM keeps its settings; the
other two are mapped from it:

* the same total workers W and the same KeepAlive*, ListenBacklog, somaxconn, Timeout and
  MaxConnectionsPerChild;
* prefork: ServerLimit = MaxRequestWorkers = W, httpd's default spare servers;
* worker/event: the config's ThreadsPerChild and ThreadLimit when it is threaded, else httpd's
  defaults (25, 64); MaxRequestWorkers = W rounded up to a multiple of ThreadsPerChild;
  ServerLimit = max(the config's ServerLimit when threaded, else httpd's 16, the processes
  needed); the config's spare threads when threaded, else httpd's; event keeps the config's
  AsyncRequestWorkerFactor (httpd's 2 otherwise).

Without a config, each MPM is evaluated at httpd's own defaults.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, assert_never

from capplan.models.targets import Target, TargetResult, evaluate_targets, wait_probability_value
from capplan.models.types import EventDetail, MemoryFootprint, MpmMetrics, Scoreboard
from capplan.mpm_names import EventModel, Mpm
from capplan.mpm_settings import (
    MPM_NAMES,
    CommonSettings,
    EffectiveConfig,
    EventSettings,
    MpmSettings,
    PreforkSettings,
    WorkerSettings,
    threaded_settings,
)
from capplan.profile import TrafficProfile

if TYPE_CHECKING:
    from capplan.models.http2 import Http2Setup

__all__ = [
    "EventDetail",
    "MemoryFootprint",
    "MpmMetrics",
    "Scoreboard",
    "Target",
    "TargetResult",
    "evaluate",
    "evaluate_all",
    "evaluate_targets",
    "map_settings",
    "offered_load_erlangs",
    "wait_probability_value",
]


def evaluate(
    settings: MpmSettings,
    profile: TrafficProfile,
    http2: Http2Setup | None = None,
    *,
    event_model: EventModel = EventModel.closed_form,
    carried: bool = True,
) -> MpmMetrics:
    """The steady state of these settings under this profile (dispatch on the MPM).

    A profile with `visits.http2_share` above 0 goes through `capplan.models.http2` with the
    mod_http2 setup `http2` (None: loaded, offered, its defaults); at 0 `http2` is not used.
    `event_model` chooses event's model (`EventModel`); the other MPMs have one. `carried`
    False skips what an overloaded event server carries (`capplan.models.event.evaluate`):
    its busy workers, connections and memory are then the offered load's, which searches that
    only ask whether targets are met use to save the search for the carried rate.
    """
    if event_model is EventModel.chain:
        evaluator = _evaluate_by_chain
    elif carried:
        evaluator = _evaluate_mpm
    else:
        evaluator = _evaluate_offered
    if profile.visits.http2_share > 0.0:
        from capplan.models.http2 import Http2Setup, with_http2
        from capplan.snippet import mpm_of

        return with_http2(mpm_of(settings), settings, profile, http2 or Http2Setup(), evaluator)
    return evaluator(settings, profile)


def _evaluate_offered(settings: MpmSettings, profile: TrafficProfile) -> MpmMetrics:
    """`_evaluate_mpm`, an overloaded event server's figures at the offered load."""
    if isinstance(settings, EventSettings):
        from capplan.models import event

        return event.evaluate(settings, profile, carried=False)
    return _evaluate_mpm(settings, profile)


def _evaluate_by_chain(settings: MpmSettings, profile: TrafficProfile) -> MpmMetrics:
    """`_evaluate_mpm`, with event's chain (`capplan.models.event.evaluate_by_chain`)."""
    if isinstance(settings, EventSettings):
        from capplan.models import event

        return event.evaluate_by_chain(settings, profile)
    return _evaluate_mpm(settings, profile)


def _evaluate_mpm(settings: MpmSettings, profile: TrafficProfile) -> MpmMetrics:
    """The MPM's own model, HTTP/1.1 visits."""
    match settings:
        case PreforkSettings():
            from capplan.models import prefork

            return prefork.evaluate(settings, profile)
        case WorkerSettings():
            from capplan.models import worker

            return worker.evaluate(settings, profile)
        case EventSettings():
            from capplan.models import event

            return event.evaluate(settings, profile)
        case _:
            assert_never(settings)


def offered_load_erlangs(mpm: Mpm, common: CommonSettings, profile: TrafficProfile) -> float:
    """The worker-holding load `MpmMetrics.offered_load_erlangs` of `mpm` under these keep-alive
    settings, without evaluating a size: it does not depend on the workers (prefork and worker:
    connections × their holding time; event: requests × the worker time)."""
    if profile.visits.http2_share > 0.0 and mpm is not Mpm.prefork:
        # HTTP/2 visits as the MPM sees them (mod_http2 loaded and offered, as `evaluate`
        # assumes without a setup); prefork serves them as HTTP/1.1.
        from capplan.models.http2 import mpm_view

        profile = mpm_view(profile)
    if mpm is Mpm.event:
        return profile.traffic.requests_per_second * profile.traffic.worker_time_s
    from capplan.models.pooled import pooled_offered_load

    return pooled_offered_load(profile, common)


def _threaded_shape(current: MpmSettings) -> tuple[int, int, int, int, int, int]:
    """(TPC, ThreadLimit, ServerLimit, StartServers, MinSpareThreads, MaxSpareThreads)."""
    match current:
        case WorkerSettings() | EventSettings():
            return (
                current.threads_per_child,
                current.thread_limit,
                current.server_limit,
                current.start_servers,
                current.min_spare_threads,
                current.max_spare_threads,
            )
        case PreforkSettings():
            # httpd's own defaults for a threaded MPM (worker's and event's are the same).
            defaults = WorkerSettings()
            return (
                defaults.threads_per_child,
                defaults.thread_limit,
                defaults.server_limit,
                defaults.start_servers,
                defaults.min_spare_threads,
                defaults.max_spare_threads,
            )
        case _:
            assert_never(current)


def map_settings(current: MpmSettings, target: Mpm) -> MpmSettings:
    """`current` carried over to the MPM `target` with the same total workers (module docstring)."""
    common: CommonSettings = current.common
    workers = current.workers
    if target is Mpm.prefork:
        if isinstance(current, PreforkSettings):
            return current
        defaults = PreforkSettings()
        return PreforkSettings(
            server_limit=workers,
            max_request_workers=workers,
            start_servers=min(defaults.start_servers, workers),
            min_spare_servers=defaults.min_spare_servers,
            max_spare_servers=defaults.max_spare_servers,
            common=common,
        )
    if target is Mpm.worker and isinstance(current, WorkerSettings):
        return current
    if target is Mpm.event and isinstance(current, EventSettings):
        return current
    tpc, thread_limit, server_limit, start, min_spare, max_spare = _threaded_shape(current)
    processes = max(1, math.ceil(workers / tpc))
    return threaded_settings(
        target,
        server_limit=max(server_limit, processes),
        thread_limit=max(thread_limit, tpc),
        threads_per_child=tpc,
        max_request_workers=processes * tpc,
        start_servers=min(start, processes),
        min_spare_threads=min_spare,
        max_spare_threads=max_spare,
        common=common,
        async_request_worker_factor=(
            current.async_request_worker_factor if isinstance(current, EventSettings) else None
        ),
    )


def evaluate_all(
    effective: EffectiveConfig | None,
    profile: TrafficProfile,
    *,
    event_model: EventModel = EventModel.closed_form,
) -> dict[Mpm, MpmMetrics]:
    """All three MPMs for one profile: the config's own MPM as configured, the others mapped;
    event with `event_model`."""
    setup = None
    if profile.visits.http2_share > 0.0:
        from capplan.models.http2 import setup_from

        setup = setup_from(effective)
    if effective is None:
        defaults: dict[Mpm, MpmSettings] = {
            Mpm.prefork: PreforkSettings(),
            Mpm.worker: WorkerSettings(),
            Mpm.event: EventSettings(),
        }
        return {
            name: evaluate(defaults[name], profile, setup, event_model=event_model)
            for name in MPM_NAMES
        }
    return {
        name: evaluate(
            map_settings(effective.settings, name), profile, setup, event_model=event_model
        )
        for name in MPM_NAMES
    }
