"""Model invariants over random profiles and settings (hypothesis): bounds, monotonicity, limits."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from capplan.models import evaluate
from capplan.models.slot_limit import connection_limit
from capplan.mpm_settings import (
    CommonSettings,
    EventSettings,
    MpmSettings,
    PreforkSettings,
    WorkerSettings,
)
from capplan.profile import Traffic, TrafficProfile, Visits
from capplan.queueing import erlang_c
from capplan.render.metrics import metrics_to_dict

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def profiles(draw: st.DrawFn) -> TrafficProfile:
    fixed = draw(st.booleans())
    requests = draw(st.integers(1, 40)) if fixed else draw(st.floats(1.0, 60.0))
    return TrafficProfile(
        "fuzz",
        Traffic(
            requests_per_second=draw(st.floats(0.01, 3000.0)),
            service_time_s=draw(st.floats(0.0005, 2.0)),
            service_time_scv=draw(st.floats(0.0, 5.0)),
            worker_share=draw(st.floats(0.05, 1.0)),
        ),
        Visits(
            requests_per_visit=float(requests),
            distribution="fixed" if fixed else "geometric",
            think_time_s=draw(st.floats(0.01, 60.0)),
            idle_hold_probability=draw(st.floats(0.0, 1.0)),
            linger_s=draw(st.floats(0.0, 2.0)),
        ),
    )


@st.composite
def commons(draw: st.DrawFn) -> CommonSettings:
    return CommonSettings(
        keep_alive=draw(st.booleans()),
        keep_alive_timeout_s=draw(st.sampled_from([0.0, 1.0, 2.0, 5.0, 15.0, 60.0])),
        max_keep_alive_requests=draw(st.sampled_from([0, 1, 5, 100, 1000])),
        listen_backlog=draw(st.sampled_from([1, 128, 511, 4096])),
    )


@st.composite
def mpm_settings(draw: st.DrawFn) -> MpmSettings:
    common = draw(commons())
    kind = draw(st.sampled_from(["prefork", "worker", "event"]))
    if kind == "prefork":
        workers = draw(st.integers(1, 1500))
        return PreforkSettings(server_limit=workers, max_request_workers=workers, common=common)
    tpc = draw(st.integers(1, 100))
    processes = draw(st.integers(1, 30))
    shape: dict[str, Any] = {
        "server_limit": processes + draw(st.integers(0, 10)),
        "thread_limit": max(64, tpc),
        "threads_per_child": tpc,
        "max_request_workers": processes * tpc,
        "common": common,
    }
    if kind == "worker":
        return WorkerSettings(**shape)
    return EventSettings(**shape, async_request_worker_factor=draw(st.floats(1.0, 4.0)))


PROBABILITY_KEYS = (
    "p_wait",
    "p_wait_request",
    "p_block",
    "p_block_conservative",
    "process_saturation",
    "p_connection_limit",
    "p_connection_limit_bound",
    "pooled_wait_probability",
)


def assert_sane(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            assert_sane(value)
        elif isinstance(value, float):
            assert not math.isnan(value), key
            assert math.isfinite(value), key
            assert value >= 0.0, key
            if key in PROBABILITY_KEYS:
                assert value <= 1.0, key


@FUZZ
@example(
    # One worker offered 2,299 requests a second of 1 s: the requests in service, the offered
    # ones times 1 - p_lost, came out 2e-12 above the worker that carries them.
    mpm=PreforkSettings(
        server_limit=1,
        max_request_workers=1,
        common=CommonSettings(keep_alive=False, listen_backlog=1),
    ),
    profile=TrafficProfile(
        "far-beyond-one-worker",
        Traffic(requests_per_second=2299.0, service_time_s=1.0, service_time_scv=0.0),
        Visits(requests_per_visit=1.0, think_time_s=1.0, idle_hold_probability=0.0),
    ),
)
@given(mpm_settings(), profiles())
def test_bounds_and_no_nan(mpm: MpmSettings, profile: TrafficProfile) -> None:
    m = evaluate(mpm, profile)
    data = metrics_to_dict(m)
    assert_sane(data)
    json.dumps(data, allow_nan=False)
    assert m.busy_workers_mean <= m.workers
    assert m.scoreboard.busy_requests <= m.workers * (1 + 1e-12)
    if m.event is None:
        # An admitted connection waits at most for a full accept queue to drain, at any load.
        bound = m.accept_queue * m.holding_time_s / m.workers
        assert m.mean_wait_s <= bound * (1 + 1e-9) + 1e-300
    elif not m.stable:
        assert data["mean_wait_s"] is None
    assert m.memory.typical_bytes <= m.memory.full_bytes <= m.memory.worst_bytes


def _grows(low: float, high: float) -> bool:
    return high >= low * (1 - 1e-9) - 1e-300


@FUZZ
@given(
    mpm_settings().filter(lambda s: not isinstance(s, EventSettings)),
    profiles(),
    st.floats(1.05, 4.0),
)
def test_pooled_waits_and_blocking_grow_with_rate(
    mpm: MpmSettings, profile: TrafficProfile, factor: float
) -> None:
    faster = replace(
        profile,
        traffic=replace(
            profile.traffic, requests_per_second=profile.traffic.requests_per_second * factor
        ),
    )
    low, high = evaluate(mpm, profile), evaluate(mpm, faster)
    assert _grows(low.p_wait, high.p_wait)
    assert _grows(low.p_block, high.p_block)
    assert _grows(low.busy_workers_mean, high.busy_workers_mean)


@FUZZ
@example(
    profile=TrafficProfile(
        "overload-tiny-backlog",
        Traffic(requests_per_second=273.0, service_time_s=1.0, service_time_scv=5.0),
        Visits(requests_per_visit=1.0, think_time_s=5.0, idle_hold_probability=0.0),
    ),
    common=CommonSettings(keep_alive=False, listen_backlog=1),
    workers=147,
    extra=136,
)
@given(profiles(), commons(), st.integers(1, 800), st.integers(1, 200))
def test_prefork_waits_fall_with_workers(
    profile: TrafficProfile, common: CommonSettings, workers: int, extra: int
) -> None:
    def at(c: int) -> PreforkSettings:
        return PreforkSettings(server_limit=c, max_request_workers=c, common=common)

    fewer, more = evaluate(at(workers), profile), evaluate(at(workers + extra), profile)
    assert _grows(more.p_wait, fewer.p_wait)
    assert _grows(more.p_block, fewer.p_block)


@FUZZ
@example(
    # Every connection held 15 s in a child of one thread: the admission law's warm start from
    # the starved pool (log theta 444) was too far for its search once episodes emptied the pool.
    profile=TrafficProfile(
        "held-sockets-one-thread",
        Traffic(requests_per_second=30.0, service_time_s=0.25, worker_share=0.125),
        Visits(requests_per_visit=1.0, think_time_s=1.0, idle_hold_probability=1.0),
    ),
    common=CommonSettings(keep_alive_timeout_s=15.0, max_keep_alive_requests=0, listen_backlog=1),
    tpc=1,
    processes=1,
    factor=1.0,
)
@given(profiles(), commons(), st.integers(1, 64), st.integers(1, 24), st.floats(1.0, 4.0))
def test_event_worker_occupancy_ignores_keepalive(
    profile: TrafficProfile, common: CommonSettings, tpc: int, processes: int, factor: float
) -> None:
    """Workers are held only while requests run: busy = λ S_w whatever KeepAlive* say (at the
    rate the server carries, when it is overloaded).

    Saturation does depend on keep-alive: a child stops admitting new connections while its idle
    ones fill its slots (§4.2), and where they crowd the slots of every child the children carry
    only the requests of the connections they hold (§4.4). Either way it is never more than
    without keep-alive, and the same once every child is saturated.
    """
    settings_ = EventSettings(
        server_limit=processes,
        thread_limit=max(64, tpc),
        threads_per_child=tpc,
        max_request_workers=processes * tpc,
        async_request_worker_factor=factor,
        common=common,
    )
    m = evaluate(settings_, profile, carried=False)
    a_b = profile.traffic.requests_per_second * profile.traffic.worker_time_s
    assert m.offered_load_erlangs == pytest.approx(a_b, rel=1e-12)
    assert m.busy_workers_mean == pytest.approx(min(a_b, m.workers), rel=1e-12)
    assert m.event is not None
    # An overloaded server's busy workers are those of the rate it carries (§4.14).
    shown = evaluate(settings_, profile)
    assert shown.event is not None
    carried = shown.event.carried_requests_per_s
    if shown.stable:
        assert carried == profile.traffic.requests_per_second
    else:
        assert carried <= profile.traffic.requests_per_second
    assert shown.busy_workers_mean == pytest.approx(
        min(carried * profile.traffic.worker_time_s, m.workers), rel=1e-12
    )
    off = evaluate(
        replace(settings_, common=replace(common, keep_alive=False)), profile, carried=False
    )
    assert off.offered_load_erlangs == m.offered_load_erlangs
    assert off.event is not None
    # Both solve for the same carried load to a relative 1e-12, so equal laws may differ by ulps.
    assert m.event.process_saturation <= off.event.process_saturation * (1.0 + 1e-9)
    if a_b >= m.workers:
        assert off.event.process_saturation == m.event.process_saturation == 1.0


@FUZZ
@given(profiles(), st.integers(1, 1500))
def test_prefork_without_keepalive_is_plain_erlang_c(profile: TrafficProfile, workers: int) -> None:
    common = CommonSettings(keep_alive=False)
    m = evaluate(
        PreforkSettings(server_limit=workers, max_request_workers=workers, common=common), profile
    )
    traffic = profile.traffic
    load = traffic.requests_per_second * (traffic.service_time_s + profile.visits.linger_s)
    assert m.requests_per_connection == 1.0
    assert m.idle_keepalive_mean == pytest.approx(0.0, abs=1e-12)
    assert m.offered_load_erlangs == pytest.approx(load, rel=1e-12)
    # The accept queue truncates Erlang C's queue after Q_eff = 2Q/(1 + SCV) places, which moves
    # P(wait) by about rho^Q_eff: equal to 1e-9 only where that is far below 1e-9 of C (at 440.6
    # Erlangs on 466 workers with a high SCV they differ by 2.5e-9).
    q_eff = 2 * common.accept_queue_capacity / (1 + m.holding_time_scv)
    if load < workers and (load / workers) ** q_eff < 1e-10 * erlang_c(workers, load):
        assert m.p_wait == pytest.approx(erlang_c(workers, load), rel=1e-9)
        # H = S + L with a constant linger L: the variance is S's, the mean S + L.
        service, linger = traffic.service_time_s, profile.visits.linger_s
        expected = traffic.service_time_scv * service**2 / (service + linger) ** 2
        assert m.holding_time_scv == pytest.approx(expected, rel=1e-9, abs=1e-12)


@FUZZ
@example(c=486, f=3, a_b=428.47123361595453, a_y=901.0, factor=1.0)  # an ulp from 1
@given(
    st.integers(1, 600),
    st.integers(1, 4),
    st.floats(0.0, 500.0),
    st.floats(0.0, 2000.0),
    st.floats(1.0, 1.5),
)
def test_connection_limit_is_monotone_and_bounded(
    c: int, f: int, a_b: float, a_y: float, factor: float
) -> None:
    base = connection_limit(c, f, a_b, a_y)
    assert 0.0 <= base.pooled_c <= base.p_limit <= base.p_limit_bound <= 1.0
    assert _grows(base.p_limit, connection_limit(c, f, a_b * factor, a_y).p_limit)
    assert _grows(base.p_limit, connection_limit(c, f, a_b, a_y * factor).p_limit)
    assert _grows(connection_limit(c + 10, f, a_b, a_y).p_limit, base.p_limit)
    assert _grows(connection_limit(c, f + 1, a_b, a_y).p_limit, base.p_limit)
