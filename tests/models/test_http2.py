"""capplan.models.http2: burst moments, the MPM's view of HTTP/2 visits, mod_http2's pool.

Reference values: harmonic numbers and the maximum of exponentials by hand; the stream wait by a
direct Monte Carlo of the M/M/c state seen by bursts is in docs/models.md. The invariants here
are exact consequences of the derivation (conservation of visits and requests, limits).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest

from capplan.models import evaluate, offered_load_erlangs
from capplan.models.http2 import (
    Http2Setup,
    batch_pool,
    burst_moments,
    bursts_per_visit,
    harmonic,
    mpm_view,
    size_h2_workers,
    stream_mean_wait_s,
    stream_wait,
    streams_per_burst,
)
from capplan.mpm_names import Mpm
from capplan.mpm_settings import EventSettings, PreforkSettings, WorkerSettings
from capplan.profile import Traffic, TrafficProfile, Visits
from capplan.queueing import erlang_c
from capplan.render.metrics import metrics_to_dict


def profile(
    share: float, streams: float = 6.0, m: float = 12.0, rate: float = 100.0
) -> TrafficProfile:
    return TrafficProfile(
        name="t",
        traffic=Traffic(requests_per_second=rate, service_time_s=0.05),
        visits=Visits(
            requests_per_visit=m, think_time_s=2.0, http2_share=share, http2_streams=streams
        ),
    )


@pytest.mark.parametrize(
    ("k", "expected"), [(1.0, 1.0), (2.0, 1.5), (3.0, 11 / 6), (6.0, 2.45), (2.5, 1.5 + 0.5 / 3)]
)
def test_harmonic(k: float, expected: float) -> None:
    assert harmonic(k) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("k", "mean", "scv"),
    [
        (1.0, 0.05, 1.0),
        (2.0, 0.075, 1.25 / 2.25),
        (4.0, 0.05 * (25 / 12), (1 + 1 / 4 + 1 / 9 + 1 / 16) / (25 / 12) ** 2),
    ],
)
def test_burst_moments_are_those_of_the_largest_exponential(
    k: float, mean: float, scv: float
) -> None:
    assert burst_moments(0.05, 1.0, k) == pytest.approx((mean, scv))


@pytest.mark.parametrize("share", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("streams", [1.0, 4.0, 12.0, 50.0])
def test_mpm_view_keeps_visits_and_work(share: float, streams: float) -> None:
    p = profile(share, streams)
    seen = mpm_view(p)
    visits = p.traffic.requests_per_second / p.visits.requests_per_visit
    assert seen.traffic.requests_per_second / seen.visits.requests_per_visit == pytest.approx(
        visits
    )
    k = p.visits.requests_per_visit / bursts_per_visit(p)
    assert 1.0 <= k <= min(streams, p.visits.requests_per_visit)
    burst_s, _ = burst_moments(0.05, 1.0, k)
    work = p.traffic.requests_per_second * ((1 - share) * 0.05 + share / k * burst_s)
    assert seen.traffic.requests_per_second * seen.traffic.service_time_s == pytest.approx(work)
    assert seen.visits.think_time_s == p.visits.think_time_s


@pytest.mark.parametrize(
    ("m", "k", "distribution", "expected"),
    [
        (12.0, 6.0, "geometric", 1 / (1 - (11 / 12) ** 6)),
        (12.0, 1.0, "geometric", 12.0),
        (1.0, 6.0, "geometric", 1.0),
        (12.0, 5.0, "fixed", 3.0),
        (12.0, 6.0, "fixed", 2.0),
    ],
)
def test_bursts_per_visit(m: float, k: float, distribution: str, expected: float) -> None:
    p = profile(1.0, streams=k, m=m)
    p = replace(p, visits=replace(p.visits, distribution=distribution))  # type: ignore[arg-type]
    assert bursts_per_visit(p) == pytest.approx(expected)


def test_bursts_per_visit_matches_a_simulation() -> None:
    rng = random.Random(7)
    q = 1 - 1 / 12
    draws = []
    for _ in range(200_000):
        n = 1
        while rng.random() < q:
            n += 1
        draws.append(math.ceil(n / 6))
    assert sum(draws) / len(draws) == pytest.approx(bursts_per_visit(profile(1.0)), rel=0.01)


def test_one_stream_per_burst_is_http11() -> None:
    settings = WorkerSettings()
    h1 = evaluate(settings, profile(0.0))
    h2 = evaluate(settings, profile(1.0, streams=1.0))
    assert h2.http2 is not None
    assert h2.busy_workers_mean == pytest.approx(h1.busy_workers_mean)
    assert h2.p_wait == pytest.approx(h1.p_wait)


@pytest.mark.parametrize(("c", "a"), [(4, 1.0), (10, 7.5), (37, 20.0)])
def test_stream_wait_with_single_streams_is_erlang_c(c: int, a: float) -> None:
    assert stream_wait(c, a, 1.0) == pytest.approx(erlang_c(c, a))
    assert stream_mean_wait_s(c, a, 0.1, 1.0, 1.0) == pytest.approx(erlang_c(c, a) * 0.1 / (c - a))


@pytest.mark.parametrize(("rho", "size"), [(0.5, 2.0), (0.8, 3.0), (0.3, 6.0)])
def test_batch_pool_with_one_worker_is_mx_m_1(rho: float, size: float) -> None:
    # M^X/M/1 with fixed X: L = rho (1 + E[X^2]/E[X]) / (2 (1 - rho)); here E[X^2]/E[X] = X.
    pool = batch_pool(1, rho, size)
    in_system = rho + rho * pool.mean_wait
    assert in_system == pytest.approx(rho * (1 + size) / (2 * (1 - rho)), rel=1e-9)


def test_stream_wait_grows_with_burst_size_and_is_one_when_overloaded() -> None:
    waits = [stream_wait(10, 3.0, k) for k in (1.0, 4.0, 8.0, 12.0)]
    assert waits == sorted(waits)
    assert waits[-1] > 0.0
    assert stream_wait(10, 10.0, 4.0) == 1.0
    assert math.isinf(stream_mean_wait_s(10, 12.0, 0.1, 1.0, 4.0))


@pytest.mark.parametrize("settings", [PreforkSettings(), WorkerSettings(), EventSettings()])
def test_offered_load_without_a_size_matches_evaluate(
    settings: PreforkSettings | WorkerSettings | EventSettings,
) -> None:
    # The sizing search starts from it: with HTTP/2 visits too it is what every size reports.
    p = profile(0.5)
    metrics = evaluate(settings, p)
    assert offered_load_erlangs(metrics.mpm, settings.common, p) == pytest.approx(
        metrics.offered_load_erlangs
    )


def test_share_zero_gives_no_http2_part() -> None:
    metrics = evaluate(EventSettings(), profile(0.0))
    assert metrics.http2 is None
    assert "http2" not in metrics_to_dict(metrics)


def test_prefork_serves_http2_visits_as_http11() -> None:
    h2 = evaluate(PreforkSettings(), profile(0.7))
    h1 = evaluate(PreforkSettings(), profile(0.0))
    assert h2.http2 is not None
    assert not h2.http2.active
    assert "AH10034" in h2.http2.reason
    assert replace(h2, http2=None, profile=h1.profile) == h1


@pytest.mark.parametrize(
    ("setup", "active"),
    [
        (Http2Setup(), True),
        (Http2Setup(loaded=False, offered=False), False),
        (Http2Setup(offered=False), False),
        (Http2Setup(max_workers=8), False),  # below H2MinWorkers 25: AH02911
    ],
    ids=["defaults", "not-loaded", "not-offered", "max-below-min"],
)
def test_setups_that_do_not_run_http2(setup: Http2Setup, active: bool) -> None:
    metrics = evaluate(EventSettings(), profile(0.5), setup)
    assert metrics.http2 is not None
    assert metrics.http2.active is active


def test_event_holds_mpm_workers_only_during_bursts() -> None:
    p = profile(1.0, streams=6.0)
    event = evaluate(EventSettings(), p).http2
    worker = evaluate(WorkerSettings(), p).http2
    assert event is not None
    assert worker is not None
    # Same sessions; worker holds a thread for each open session, event for each running burst.
    assert event.sessions_open_mean == pytest.approx(worker.sessions_open_mean)
    assert worker.mpm_workers_held_mean == pytest.approx(worker.sessions_open_mean)
    assert event.mpm_workers_held_mean < worker.mpm_workers_held_mean / 5
    assert event.h2_workers_busy_per_child == pytest.approx(100 * 0.05 / 16)
    assert (event.h2_min_workers, event.h2_max_workers) == (25, 37)


def test_h2_threads_add_memory() -> None:
    p = profile(0.5)
    with_h2 = evaluate(WorkerSettings(), p)
    assert with_h2.http2 is not None
    extra = with_h2.http2.h2_threads_per_child * WorkerSettings().processes * p.memory.thread_bytes
    assert with_h2.http2.memory_bytes == extra
    assert with_h2.http2.h2_threads_per_child == 25  # H2MinWorkers: the pool never shrinks below


@pytest.mark.parametrize(
    ("rate", "setup", "directives"),
    [
        (100.0, Http2Setup(), ()),
        (10000.0, Http2Setup(), (("H2MaxWorkers", "60"),)),
        (100.0, Http2Setup(max_workers=8), (("H2MaxWorkers", "25"),)),
    ],
    ids=["defaults-suffice", "busy-children", "repair-max-below-min"],
)
def test_size_h2_workers(
    rate: float, setup: Http2Setup, directives: tuple[tuple[str, str], ...]
) -> None:
    settings = EventSettings()
    sizing = size_h2_workers(
        Mpm.event, settings, profile(1.0, rate=rate), setup, processes=16, max_wait_probability=0.01
    )
    assert sizing.directives == directives
    assert sizing.stream_wait_probability <= 0.01
    assert sizing.max_workers >= sizing.min_workers
    # `needed` is the least pool meeting the target: one fewer misses it.
    load = rate * 0.05 / 16
    k = streams_per_burst(profile(1.0, rate=rate))
    assert stream_wait(sizing.needed, load, k) <= 0.01
    assert sizing.needed - 1 <= load or stream_wait(sizing.needed - 1, load, k) > 0.01


def test_size_h2_workers_under_prefork_warns() -> None:
    sizing = size_h2_workers(
        Mpm.prefork,
        PreforkSettings(),
        profile(0.5),
        Http2Setup(),
        processes=256,
        max_wait_probability=0.01,
    )
    assert not sizing.active
    assert sizing.directives == ()
    assert "AH10034" in sizing.warnings[0]
