"""Shared parts of the per-MPM models: holding-time inputs from a profile, and the pooled model.

Stage: model. Input: a `TrafficProfile` and `CommonSettings` (KeepAlive*, ListenBacklog). Output:
the queueing engine's `HoldingInputs`, and for prefork and worker (derivations §3: a pooled FCFS
c-server queue of connections in front of a finite accept queue) a complete `MpmMetrics`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from capplan.models.types import MemoryFootprint, MpmMetrics, Scoreboard
from capplan.mpm_names import Mpm
from capplan.mpm_settings import CommonSettings, MpmSettings
from capplan.profile import TrafficProfile
from capplan.queueing import (
    FixedVisits,
    GeometricVisits,
    HoldingInputs,
    HoldingTime,
    VisitShape,
    finite_queue_with_retrials,
    holding_time,
    poisson_quantile,
)

# The memory footprint as a function of the mean busy workers (bound to the MPM's settings).
MemoryFromBusy = Callable[[float], MemoryFootprint]


def visit_shape(profile: TrafficProfile) -> VisitShape:
    """The engine's visit shape for `visits.distribution` and `visits.requests_per_visit`."""
    visits = profile.visits
    if visits.distribution == "fixed":
        return FixedVisits(round(visits.requests_per_visit))
    return GeometricVisits(visits.requests_per_visit)


def holding_inputs(
    profile: TrafficProfile,
    common: CommonSettings,
    *,
    linger_s: float,
    kill_rate_per_s: float = 0.0,
) -> HoldingInputs:
    """Inputs of H for this profile under these KeepAlive settings (derivations §2).

    The service time is the full per-request time S; `linger_s` is L (the profile's linger for
    prefork/worker, 0 for event's slot lifetime, F5); `kill_rate_per_s` is event's kill hazard.
    """
    traffic = profile.traffic
    return HoldingInputs(
        service_s=traffic.service_time_s,
        visits=visit_shape(profile),
        think_s=profile.visits.think_time_s,
        keepalive_timeout_s=common.keep_alive_timeout_s,
        max_keepalive_requests=max(0, common.max_keep_alive_requests),
        keepalive=common.keep_alive,
        service_scv=traffic.service_time_scv,
        idle_hold_probability=profile.visits.idle_hold_probability,
        linger_s=linger_s,
        kill_rate_per_s=kill_rate_per_s,
    )


def clamped_holding_time(inputs: HoldingInputs) -> HoldingTime:
    """The engine's holding time with rounding-level negatives (SCV, idle time) set to 0.

    `E[H^2]/E[H]^2 - 1` and `h1 - S E[R]` cancel exactly when H is deterministic or there is no
    idle time, and can then come out as -2e-16.
    """
    ht = holding_time(inputs)
    if ht.scv >= 0.0 and ht.mean_idle_s >= 0.0:
        return ht
    return replace(ht, scv=max(0.0, ht.scv), mean_idle_s=max(0.0, ht.mean_idle_s))


def clamp_probability(value: float) -> float:
    """Keep a computed probability inside [0, 1] (rounding can overshoot by an ulp)."""
    return min(1.0, max(0.0, value))


def pooled_offered_load(profile: TrafficProfile, common: CommonSettings) -> float:
    """prefork and worker: the connection load in Erlangs, λ_conn · E[H] (derivations §3).

    It does not depend on the number of workers (a sizing search's starting point).
    """
    ht = clamped_holding_time(holding_inputs(profile, common, linger_s=profile.visits.linger_s))
    return profile.traffic.requests_per_second / ht.requests_per_conn * ht.mean_s


def pooled_metrics(
    mpm: Mpm,
    settings: MpmSettings,
    profile: TrafficProfile,
    *,
    threads_per_child: int,
    memory_of: MemoryFromBusy,
) -> MpmMetrics:
    """prefork and worker: connections hold a worker for their whole life (derivations §3).

    The workers sit behind the finite accept queue Q, and a dropped connection attempt is
    retried by the client's kernel (F12), so the operating point is M/M/c/K at the attempt
    load, with the SCV-corrected queue Q_eff = 2Q/(1 + cH2) and Allen-Cunneen's factor on the
    waits (`capplan.queueing.finite_queue_with_retrials`): P(wait) is P(wait | admitted) (§3.5),
    P(block) the probability that an attempt is dropped, and the busy workers the carried load.
    With the default queue of 512 and a load clear of c (rho^Q_eff negligible) this is Erlang C
    and Allen-Cunneen; with a short queue, close to c, or beyond saturation, the waits stay
    finite (at most a full queue's) and the drops grow instead. Only the first request of a
    connection can wait. `stable` is a < c: at
    or beyond it attempts pile up until most are dropped, and `p_wait_exceeds` reports 1.
    """
    common = settings.common
    c = settings.workers
    q = common.accept_queue_capacity
    rate = profile.traffic.requests_per_second
    inputs = holding_inputs(profile, common, linger_s=profile.visits.linger_s)
    ht = clamped_holding_time(inputs)
    conn_rate = rate / ht.requests_per_conn
    a = conn_rate * ht.mean_s
    point = finite_queue_with_retrials(
        c, a, q, ht.mean_s, ht.scv, attempts=profile.visits.connect_attempts
    )
    p_wait = clamp_probability(point.p_wait_admitted)
    served = 1.0 - point.p_lost
    busy = point.carried_erlangs
    idle_ka = conn_rate * served * ht.mean_idle_s
    closing = conn_rate * served * profile.visits.linger_s
    # Requests in service, at most the busy workers that hold them: far beyond saturation 1 -
    # p_lost cancels (2,299 requests a second for one worker of 1 s lost 2e-12 relative).
    serving = min(rate * profile.traffic.service_time_s * served, busy)
    return MpmMetrics(
        mpm=mpm,
        settings=settings,
        profile=profile,
        workers=c,
        processes=settings.processes,
        threads_per_child=threads_per_child,
        server_limit=settings.server_limit,
        max_concurrent_requests=c,
        max_connections=c,
        idle_keepalive_capacity=c,
        accept_queue=q,
        offered_load_erlangs=a,
        utilization=a / c,
        busy_workers_mean=busy,
        idle_keepalive_mean=idle_ka,
        connections_per_s=conn_rate,
        p_wait=p_wait,
        p_wait_request=clamp_probability(p_wait / ht.requests_per_conn),
        mean_wait_s=point.mean_wait_admitted_s,
        mean_wait_given_wait_s=point.mean_wait_given_wait_s,
        wait_p99_s=point.wait_quantile_admitted(0.99),
        p_block=clamp_probability(point.p_block),
        p_block_conservative=clamp_probability(point.p_block_conservative),
        stable=a < c,
        scoreboard=Scoreboard(serving, idle_ka, closing),
        requests_per_connection=ht.requests_per_conn,
        holding_time_s=ht.mean_s,
        holding_time_scv=ht.scv,
        open_connections_mean=a,
        open_connections_p99=poisson_quantile(0.99, a),
        memory=memory_of(busy),
    )
