"""HTTP/2 model: what the share of visits over HTTP/2 does to an MPM and to mod_http2's workers.

Stage: model (docs/models.md, "HTTP/2"). Input: MPM settings, a `TrafficProfile` with
`visits.http2_share` > 0 and the mod_http2 setup (`Http2Setup`). Output: the MPM's `MpmMetrics`
computed on the profile as the MPM sees it (HTTP/1.1 requests plus HTTP/2 bursts), with an
`Http2Detail`: sessions, MPM workers they hold, mod_http2 workers busy and their waits per child,
idle sessions, the memory of mod_http2's threads and the limit each MPM reaches first.

The MPM sees an HTTP/2 visit as one connection whose "requests" are bursts: a page sends k streams
at once, the connection's MPM worker is held until the last of them is answered, then the think
time passes (an idle session: KeepAliveTimeout applies, as for HTTP/1.1). The streams themselves
run on the child's mod_http2 workers, a separate pool of H2MaxWorkers threads per child.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from capplan.http2 import DEFAULT_MAX_SESSION_STREAMS
from capplan.models.types import MpmMetrics
from capplan.mpm_names import Mpm
from capplan.mpm_settings import EffectiveConfig, MpmSettings, PreforkSettings
from capplan.profile import Traffic, TrafficProfile

if TYPE_CHECKING:
    from collections.abc import Callable

    from capplan.http2 import Http2Settings

# Threads above H2MinWorkers exit after H2MaxWorkerIdleSeconds (600 s by default) idle: the pool
# a child keeps is about the most streams it ran at once in that time, taken as this quantile.
THREAD_PEAK_QUANTILE = 0.999


@dataclass(frozen=True, slots=True)
class Http2Setup:
    """mod_http2 as the model needs it; `min_workers`/`max_workers` None: derived from the MPM."""

    loaded: bool = True
    offered: bool = True
    min_workers: int | None = None
    max_workers: int | None = None
    max_session_streams: int = DEFAULT_MAX_SESSION_STREAMS

    def workers(self, settings: MpmSettings) -> tuple[int, int]:
        """(H2MinWorkers, H2MaxWorkers) under these MPM settings (h2_get_workers_config())."""
        from capplan.http2 import default_max_workers

        threads = 1 if isinstance(settings, PreforkSettings) else settings.threads_per_child
        low = self.min_workers if self.min_workers is not None else threads
        high = self.max_workers if self.max_workers is not None else default_max_workers(low)
        return low, high


def setup_from(effective: EffectiveConfig | None) -> Http2Setup:
    """The setup of a config: mod_http2 absent, or its main-server values (defaults stay None).

    Without a config (httpd's defaults) mod_http2 is assumed loaded and offered, so that a
    profile's HTTP/2 share is planned for rather than dropped.
    """
    if effective is None:
        return Http2Setup()
    h2: Http2Settings | None = effective.http2
    if h2 is None:
        return Http2Setup(loaded=False, offered=False)
    configured = dict(h2.provenance)
    return Http2Setup(
        loaded=True,
        offered=h2.offered,
        min_workers=h2.min_workers if "H2MinWorkers" in configured else None,
        max_workers=h2.max_workers if "H2MaxWorkers" in configured else None,
        max_session_streams=h2.main.max_session_streams,
    )


@dataclass(frozen=True, slots=True)
class Http2Detail:
    """The HTTP/2 part of one MPM's steady state (JSON `mpms.<mpm>.http2`).

    Rates per second, times in seconds, `*_per_child` for one child process. When `active` is
    False the share is served as HTTP/1.1 (`reason` says why) and only `share` and `reason` mean
    anything; the MPM metrics are then those of HTTP/1.1 alone.
    """

    active: bool
    reason: str
    share: float
    streams_per_burst: float
    burst_time_s: float
    sessions_per_s: float
    sessions_open_mean: float
    idle_sessions_mean: float
    mpm_workers_held_mean: float
    h2_min_workers: int
    h2_max_workers: int
    h2_workers_busy_per_child: float
    h2_utilization: float
    h2_threads_per_child: int
    stream_wait_probability: float
    stream_mean_wait_s: float
    stable: bool
    memory_bytes: int
    first_limit: str
    limits: tuple[tuple[str, float], ...]
    warnings: tuple[str, ...]
    setup: Http2Setup = Http2Setup()  # what it was computed with (for re-evaluations)


def harmonic(k: float) -> float:
    """H_k = sum 1/i for i = 1..k, linear between whole k (k >= 1). Unitless.

    The mean of the largest of k independent exponential times is H_k times their mean.
    """
    whole = math.floor(k)
    h = sum(1.0 / i for i in range(1, whole + 1))
    return h + (k - whole) / (whole + 1)


def burst_moments(service_s: float, service_scv: float, k: float) -> tuple[float, float]:
    """(mean, SCV) of the time until the last of k concurrent streams is answered.

    For exponential stream times the maximum of k has mean S H_k and variance S^2 sum 1/i^2
    (Rényi's representation); with k = 1 it is the stream's own time and SCV. Domain: S > 0,
    k >= 1. The exponential form is used for k > 1 whatever the stream SCV (an approximation
    stated in docs/models.md).
    """
    if k <= 1.0:
        return service_s, service_scv
    whole = math.floor(k)
    h = harmonic(k)
    second = sum(1.0 / (i * i) for i in range(1, whole + 1))
    second += (k - whole) / ((whole + 1) * (whole + 1))
    return service_s * h, second / (h * h)


def bursts_per_visit(profile: TrafficProfile) -> float:
    """b: the bursts an HTTP/2 visit of N requests sends, k at a time: E[ceil(N / k)].

    Geometric N with mean m: P(ceil(N/k) > j) = (1 - 1/m)^(jk), so the bursts are geometric
    too, with mean 1 / (1 - (1 - 1/m)^k); fixed N = m: ceil(m / k). The last burst of a visit is
    usually partial, so b exceeds m / k (2.46 against 2 for m = 12, k = 6).
    """
    v = profile.visits
    m, k = v.requests_per_visit, max(1.0, v.http2_streams)
    if v.distribution == "fixed":
        return float(math.ceil(m / k))
    if m <= 1.0:
        return 1.0
    return 1.0 / -math.expm1(k * math.log1p(-1.0 / m))


def streams_per_burst(profile: TrafficProfile) -> float:
    """k̄ = m / b: the mean streams of a burst (the page's http2_streams, fewer in the last)."""
    return profile.visits.requests_per_visit / bursts_per_visit(profile)


def mpm_view(profile: TrafficProfile, *, extra_burst_s: float = 0.0) -> TrafficProfile:
    """The profile as the MPM sees it: HTTP/1.1 requests and HTTP/2 bursts as one request class.

    With share s, k streams per burst and burst time D (`burst_moments`): the rate is
    λ(1 - s) + λ s / k; service time, SCV and worker share are the rate-weighted mixture of the
    HTTP/1.1 request (S, its SCV, its worker share) and the burst (D, its SCV, the whole burst
    holding an MPM worker); requests per visit m(1 - s + s/k), so that visits keep their rate λ/m.
    Think time, idle holding and lingering are the visit's and do not change. k is the mean
    burst size m / b (`bursts_per_visit`), so the visit's HTTP/2 part has b bursts.
    """
    t, v = profile.traffic, profile.visits
    s, k = v.http2_share, streams_per_burst(profile)
    burst_s, burst_scv = _burst(profile, extra_burst_s)
    rate_h1 = t.requests_per_second * (1.0 - s)
    rate_b = t.requests_per_second * s / k
    rate = rate_h1 + rate_b
    mean_s = (rate_h1 * t.service_time_s + rate_b * burst_s) / rate
    second = (
        rate_h1 * t.service_time_s**2 * (1.0 + t.service_time_scv)
        + rate_b * burst_s**2 * (1.0 + burst_scv)
    ) / rate
    worker_s = (rate_h1 * t.worker_time_s + rate_b * burst_s) / rate
    per_visit = v.requests_per_visit * (1.0 - s + s / k)
    distribution = v.distribution if float(per_visit).is_integer() else "geometric"
    return replace(
        profile,
        traffic=Traffic(
            requests_per_second=rate,
            service_time_s=mean_s,
            service_time_scv=max(0.0, second / (mean_s * mean_s) - 1.0),
            worker_share=min(1.0, worker_s / mean_s),
        ),
        visits=replace(v, requests_per_visit=max(1.0, per_visit), distribution=distribution),
    )


def _burst(profile: TrafficProfile, extra_s: float) -> tuple[float, float]:
    """(mean, SCV) of a burst's time with `extra_s` of stream waiting added to its mean."""
    t = profile.traffic
    mean_s, scv = burst_moments(t.service_time_s, t.service_time_scv, streams_per_burst(profile))
    total_s = mean_s + extra_s
    return total_s, scv * (mean_s / total_s) ** 2


def _session_profile(profile: TrafficProfile, *, extra_burst_s: float = 0.0) -> TrafficProfile:
    """The HTTP/2 visits alone, seen by the MPM: bursts as requests (for session counts)."""
    t, v = profile.traffic, profile.visits
    k = streams_per_burst(profile)
    burst_s, burst_scv = _burst(profile, extra_burst_s)
    per_visit = bursts_per_visit(profile)
    return replace(
        profile,
        traffic=Traffic(
            requests_per_second=t.requests_per_second * v.http2_share / k,
            service_time_s=burst_s,
            service_time_scv=burst_scv,
        ),
        visits=replace(
            v,
            requests_per_visit=per_visit,
            distribution=v.distribution if float(per_visit).is_integer() else "geometric",
        ),
    )


# The batch queue's distribution is summed until its tail is this small (relative to its mass).
_TAIL = 1e-13
_MAX_STATES = 2_000_000


@dataclass(frozen=True, slots=True)
class BatchPool:
    """M^X/M/c with Poisson bursts of X streams (X = floor(k) or floor(k) + 1, mean k).

    `p_wait`: share of streams that wait for a worker; `mean_wait`: their mean wait and
    `last_wait`: the mean wait of a burst's last stream, both in mean service times.
    """

    p_wait: float
    mean_wait: float
    last_wait: float


def batch_pool(workers: int, load: float, k: float) -> BatchPool:
    """The per-child mod_http2 pool: c = H2MaxWorkers workers, A = load Erlangs of streams.

    Exact for Poisson bursts and exponential stream times. Cutting between n and n + 1 streams
    in the child: bursts from state i with more than n - i streams cross upwards, one service
    completion crosses downwards, so
    π_{n+1} min(n + 1, c) = λ_b Σ_{i≤n} π_i P(X > n - i)   (μ = 1, λ_b = A / E[X]).
    A stream at place j of a burst that finds n streams waits when n + j > c, for about
    (n + j - c) / c service times (all c busy). Domain: c >= 1, A >= 0, k >= 1; A >= c is
    overload (waits infinite, p_wait 1).
    """
    if load <= 0.0:
        return BatchPool(0.0, 0.0, 0.0)
    if load >= workers:
        return BatchPool(1.0, math.inf, math.inf)
    low = math.floor(k)
    frac = k - low  # P(X = low + 1)
    rate_b = load / k
    pi = [1.0]
    window = 1.0  # Σ π_i over the last `low` states (bursts of `low` cross the next cut)
    n = 0
    while True:
        # P(X > n - i) is 1 for n - i < low, frac for n - i == low, 0 beyond.
        edge = pi[n - low] if n - low >= 0 else 0.0
        up = rate_b * (window + frac * edge)
        nxt = up / min(n + 1, workers)
        pi.append(nxt)
        n += 1
        window += nxt
        if n - low >= 0:
            window -= pi[n - low]
        if (n > workers + 2 * low and nxt < _TAIL * max(pi)) or n >= _MAX_STATES:
            break
    total = math.fsum(pi)
    waited = wait_sum = last = 0.0
    for state, weight in enumerate(pi):
        p = weight / total
        for size, share in ((low, 1.0 - frac), (low + 1, frac)):
            late = state + size - workers  # how far the burst's last stream is from a worker
            if share == 0.0 or late <= 0:
                continue
            over = min(late, size)  # streams of this burst that wait
            first = late - over + 1
            waited += p * share * over
            wait_sum += p * share * (first + late) * over / 2.0 / workers
            last += p * share * late / workers
    # Per stream: bursts carry k streams on average.
    return BatchPool(min(1.0, waited / k), wait_sum / k, last)


def stream_wait(workers: int, load: float, k: float) -> float:
    """P(a stream waits for a mod_http2 worker) in the child's pool (`batch_pool`)."""
    return batch_pool(workers, load, k).p_wait


def stream_mean_wait_s(workers: int, load: float, service_s: float, scv: float, k: float) -> float:
    """Mean wait of a stream for a mod_http2 worker (s), `batch_pool` in service times × S.

    The pool is solved for exponential stream times; `scv` scales the wait as Allen-Cunneen's
    (1 + cs^2)/2 does for M/G/c. Infinite when A >= c.
    """
    return batch_pool(workers, load, k).mean_wait * service_s * (1.0 + scv) / 2.0


def last_stream_wait_s(workers: int, load: float, service_s: float, scv: float, k: float) -> float:
    """Mean wait of a burst's last stream (s): what queueing adds to the burst's time."""
    return batch_pool(workers, load, k).last_wait * service_s * (1.0 + scv) / 2.0


def inactive_reason(mpm: Mpm, setup: Http2Setup, settings: MpmSettings) -> str:
    """Why HTTP/2 visits are served as HTTP/1.1 under this MPM and setup ("" when they are not)."""
    if not setup.loaded:
        return "mod_http2 is not loaded: browsers use HTTP/1.1"
    if not setup.offered:
        return "no server lists h2 or h2c in Protocols: browsers use HTTP/1.1"
    if mpm is Mpm.prefork:
        return (
            "prefork: mod_http2 declines to negotiate HTTP/2 (AH10034), so browsers use "
            "HTTP/1.1, up to 6 connections each, every one holding a process"
        )
    low, high = setup.workers(settings)
    if high < low:
        return (
            f"H2MaxWorkers {high} is below H2MinWorkers {low}: mod_http2 starts no workers and "
            "every HTTP/2 connection fails (AH02911)"
        )
    return ""


def with_http2(
    mpm: Mpm,
    settings: MpmSettings,
    profile: TrafficProfile,
    setup: Http2Setup,
    evaluate_mpm: Callable[[MpmSettings, TrafficProfile], MpmMetrics],
) -> MpmMetrics:
    """The MPM's metrics for a profile with HTTP/2 visits, and their `Http2Detail`.

    `evaluate_mpm(settings, profile)` is the MPM's own model. Where HTTP/2 does not run (see
    `inactive_reason`) the visits are HTTP/1.1 and the MPM metrics are those of the profile as is.
    """
    reason = inactive_reason(mpm, setup, settings)
    low, high = setup.workers(settings)
    share = profile.visits.http2_share
    if reason:
        metrics: MpmMetrics = evaluate_mpm(settings, profile)
        detail = Http2Detail(
            active=False,
            reason=reason,
            share=share,
            streams_per_burst=streams_per_burst(profile),
            burst_time_s=0.0,
            sessions_per_s=0.0,
            sessions_open_mean=0.0,
            idle_sessions_mean=0.0,
            mpm_workers_held_mean=0.0,
            h2_min_workers=low,
            h2_max_workers=high,
            h2_workers_busy_per_child=0.0,
            h2_utilization=0.0,
            h2_threads_per_child=0,
            stream_wait_probability=0.0,
            stream_mean_wait_s=0.0,
            stable=True,
            memory_bytes=0,
            first_limit="MPM workers",
            limits=(("MPM workers", metrics.utilization),),
            warnings=(reason,),
            setup=setup,
        )
        return replace(metrics, http2=detail)
    from capplan.models.pooled import clamped_holding_time, holding_inputs
    from capplan.queueing import poisson_quantile

    t = profile.traffic
    k = streams_per_burst(profile)
    processes = max(1, settings.processes)
    per_child = t.requests_per_second * share * t.service_time_s / processes
    p_wait = stream_wait(high, per_child, k)
    mean_wait = stream_mean_wait_s(high, per_child, t.service_time_s, t.service_time_scv, k)
    # A burst ends when its last stream is answered: its wait for a worker lengthens the burst;
    # an overloaded pool is reported unstable, and the MPM view is then without the delay.
    last_wait = last_stream_wait_s(high, per_child, t.service_time_s, t.service_time_scv, k)
    delay_s = last_wait if math.isfinite(last_wait) else 0.0
    seen = mpm_view(profile, extra_burst_s=delay_s)
    metrics = replace(evaluate_mpm(settings, seen), profile=profile)
    burst_s = burst_moments(t.service_time_s, t.service_time_scv, k)[0] + delay_s
    sessions = _session_profile(profile, extra_burst_s=delay_s)
    linger = 0.0 if mpm is Mpm.event else profile.visits.linger_s
    ht = clamped_holding_time(holding_inputs(sessions, settings.common, linger_s=linger))
    burst_rate = sessions.traffic.requests_per_second
    session_rate = burst_rate / ht.requests_per_conn
    open_mean = session_rate * ht.mean_s
    idle_mean = session_rate * ht.mean_idle_s
    # worker: a session holds its thread for its whole life; event: only while streams are open
    # (h2_session.c returns an idle session to the MPM, "returning to mpm c1 monitoring").
    held = burst_rate * burst_s if mpm is Mpm.event else open_mean
    peak = poisson_quantile(THREAD_PEAK_QUANTILE, per_child) if per_child > 0 else 0
    threads = min(high, max(low, peak))
    thread_bytes = profile.memory.thread_bytes
    h2_memory = processes * threads * thread_bytes
    full_extra = processes * high * thread_bytes
    worst_extra = max(processes, metrics.memory.worst_processes) * high * thread_bytes
    memory = replace(
        metrics.memory,
        typical_bytes=metrics.memory.typical_bytes + h2_memory,
        full_bytes=metrics.memory.full_bytes + full_extra,
        worst_bytes=metrics.memory.worst_bytes + worst_extra,
    )
    limits: list[tuple[str, float]] = [
        ("MPM workers", metrics.utilization),
        ("mod_http2 workers per child", per_child / high),
        ("H2MaxSessionStreams", k / setup.max_session_streams),
    ]
    if metrics.event is not None:
        slots = metrics.event.slot_capacity
        limits.append(("connection slots", metrics.open_connections_mean / slots if slots else 1.0))
    first = max(limits, key=lambda item: item[1])[0]
    warnings = []
    if per_child >= high:
        warnings.append(
            f"mod_http2 workers are overloaded: {per_child:.3g} busy per child on average with "
            f"H2MaxWorkers {high}; streams queue inside mod_http2 without bound"
        )
    if k > setup.max_session_streams:
        warnings.append(
            f"a page sends {k:g} streams at once but H2MaxSessionStreams is "
            f"{setup.max_session_streams}: the browser holds the rest back"
        )
    detail = Http2Detail(
        active=True,
        reason="",
        share=share,
        streams_per_burst=k,
        burst_time_s=burst_s,
        sessions_per_s=session_rate,
        sessions_open_mean=open_mean,
        idle_sessions_mean=idle_mean,
        mpm_workers_held_mean=held,
        h2_min_workers=low,
        h2_max_workers=high,
        h2_workers_busy_per_child=per_child,
        h2_utilization=per_child / high,
        h2_threads_per_child=threads,
        stream_wait_probability=p_wait,
        stream_mean_wait_s=mean_wait,
        stable=per_child < high,
        memory_bytes=h2_memory,
        first_limit=first,
        limits=tuple(limits),
        warnings=tuple(warnings),
        setup=setup,
    )
    return replace(metrics, memory=memory, http2=detail)


@dataclass(frozen=True, slots=True)
class Http2Sizing:
    """recommend's HTTP/2 part: the mod_http2 pool for the recommended MPM settings.

    `needed` is the smallest H2MaxWorkers per child whose stream wait probability meets the
    target at the sizing rate; `max_workers` what to run with (at least H2MinWorkers, which
    mod_http2 requires, and at least its default); `directives` the lines to write (empty when the
    defaults already suffice); `warnings` the combinations that starve or do not run.
    """

    active: bool
    min_workers: int
    max_workers: int
    needed: int
    busy_per_child: float
    stream_wait_probability: float
    directives: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]


# Beyond this many workers per child the search stops: the load is then not a pool-size question.
_MAX_H2_WORKERS = 100_000


def size_h2_workers(
    mpm: Mpm,
    settings: MpmSettings,
    profile: TrafficProfile,
    setup: Http2Setup,
    *,
    processes: int,
    max_wait_probability: float,
) -> Http2Sizing:
    """The H2MaxWorkers these settings need for `profile` (its rate already with headroom).

    Per child the streams offer A = λ s S / P Erlangs; `needed` is the least c > A with
    `stream_wait(c, A, k)` <= `max_wait_probability` (found by doubling, then bisection: the
    wait probability falls as c grows).
    """
    reason = inactive_reason(mpm, setup, settings)
    low, high = setup.workers(settings)
    t = profile.traffic
    load = t.requests_per_second * profile.visits.http2_share * t.service_time_s
    per_child = load / max(1, processes)
    k = streams_per_burst(profile)
    warnings = [reason] if reason else []
    if reason and (not setup.loaded or not setup.offered or mpm is Mpm.prefork):
        return Http2Sizing(False, low, high, 0, 0.0, 0.0, (), tuple(warnings))

    def ok(c: int) -> bool:
        return c > per_child and stream_wait(c, per_child, k) <= max_wait_probability

    top = max(1, math.floor(per_child) + 1)
    while not ok(top) and top < _MAX_H2_WORKERS:
        top = min(_MAX_H2_WORKERS, top * 2)
    bottom = max(1, math.floor(per_child) + 1)
    while bottom < top:
        mid = (bottom + top) // 2
        if ok(mid):
            top = mid
        else:
            bottom = mid + 1
    needed = top
    from capplan.http2 import default_max_workers

    default = default_max_workers(low)
    chosen = max(needed, low, default if setup.max_workers is None else 0)
    directives: tuple[tuple[str, str], ...] = ()
    if chosen != high or (setup.max_workers is not None and setup.max_workers < low):
        if needed > default or setup.max_workers is not None:
            directives = (("H2MaxWorkers", str(max(needed, low))),)
            chosen = max(needed, low)
        else:
            chosen = high
    if k > setup.max_session_streams:
        warnings.append(
            f"a page sends {k:g} streams at once but H2MaxSessionStreams is "
            f"{setup.max_session_streams}: raise it to at least {math.ceil(k)}"
        )
    return Http2Sizing(
        active=not reason or bool(directives),
        min_workers=low,
        max_workers=chosen,
        needed=needed,
        busy_per_child=per_child,
        stream_wait_probability=stream_wait(chosen, per_child, k),
        directives=directives,
        warnings=tuple(warnings),
    )
