"""The worked examples of derivations §3.6 (prefork/worker) and §4.3-§4.4 (event), end to end."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from capplan.models import evaluate, evaluate_targets
from capplan.models.targets import target_max_rate_per_s
from capplan.mpm_settings import CommonSettings, EventSettings, PreforkSettings, WorkerSettings
from capplan.profile import MaxWait, Targets, Traffic, TrafficProfile, Visits
from capplan.queueing import erlang_c

# λ = 200/s, geometric m = 10, S = 50 ms, Z = 5 s, MaxKeepAliveRequests 100 (k = 101), q = 1.
EXAMPLE = TrafficProfile(
    "model-3.6",
    Traffic(requests_per_second=200.0, service_time_s=0.05),
    Visits(requests_per_visit=10.0, think_time_s=5.0, idle_hold_probability=1.0),
    targets=Targets(max_wait_probability=0.01, max_wait=None, max_block_probability=None),
)


def prefork(workers: int, keep_alive_timeout_s: float = 5.0) -> PreforkSettings:
    common = CommonSettings(keep_alive_timeout_s=keep_alive_timeout_s)
    return PreforkSettings(server_limit=workers, max_request_workers=workers, common=common)


def test_keepalive_5s_holding_time_and_load() -> None:
    m = evaluate(prefork(256), EXAMPLE)
    assert m.requests_per_connection == pytest.approx(2.3197, abs=5e-5)
    assert m.connections_per_s == pytest.approx(86.2, abs=0.05)
    assert m.holding_time_s == pytest.approx(7.874, abs=5e-4)
    assert m.holding_time_scv == pytest.approx(0.268, abs=5e-4)
    assert m.offered_load_erlangs == pytest.approx(678.9, abs=0.05)
    assert m.open_connections_p99 == 740


def test_only_ten_workers_are_busy_on_requests_at_enough_workers() -> None:
    m = evaluate(prefork(800), EXAMPLE)
    assert m.scoreboard.busy_requests == pytest.approx(10.0, rel=1e-9)
    assert m.scoreboard.idle_keepalive == pytest.approx(668.9, abs=0.05)
    assert m.scoreboard.closing == 0.0


@pytest.mark.parametrize(
    ("workers", "rho", "blocked"),
    [pytest.param(256, 2.65, 0.62, id="MRW-256"), pytest.param(400, 1.70, 0.41, id="MRW-400")],
)
def test_default_worker_counts_are_unstable(workers: int, rho: float, blocked: float) -> None:
    # §3.6 quotes M/M/c/K with every dropped attempt lost: one attempt per connection.
    one_try = replace(EXAMPLE, visits=replace(EXAMPLE.visits, connect_attempts=1))
    m = evaluate(prefork(workers), one_try)
    assert not m.stable
    assert m.utilization == pytest.approx(rho, abs=0.005)
    assert m.p_block == pytest.approx(blocked, abs=0.005)
    assert m.busy_workers_mean <= workers


@pytest.mark.parametrize("workers", [256, 400])
def test_overload_with_retried_syns_drops_most_attempts(workers: int) -> None:
    # Linux clients send their SYN 7 times: the attempts pile up until the connections that
    # run out of attempts are exactly the excess a - c, and every worker stays busy.
    one_try = replace(EXAMPLE, visits=replace(EXAMPLE.visits, connect_attempts=1))
    lost = evaluate(prefork(workers), one_try)
    m = evaluate(prefork(workers), EXAMPLE)
    assert m.p_block > lost.p_block
    assert m.p_block**7 == pytest.approx(1.0 - workers / m.offered_load_erlangs, abs=1e-3)
    assert m.busy_workers_mean == pytest.approx(workers, rel=1e-6)
    # Admitted connections wait for a full accept queue of 512 to drain: about Q E[H] / c.
    assert m.p_wait == pytest.approx(1.0, abs=1e-9)
    assert m.mean_wait_s == pytest.approx(512 * m.holding_time_s / workers, rel=0.01)


@pytest.mark.parametrize(
    ("keep_alive_timeout_s", "smallest_workers"),
    [pytest.param(5.0, 743, id="T-5s"), pytest.param(1.0, 228, id="T-1s")],
)
def test_smallest_worker_count_for_one_percent_wait(
    keep_alive_timeout_s: float, smallest_workers: int
) -> None:
    def met(workers: int) -> bool:
        metrics = evaluate(prefork(workers, keep_alive_timeout_s), EXAMPLE)
        (result,) = evaluate_targets(metrics)
        return result.met

    assert met(smallest_workers)
    assert not met(smallest_workers - 1)


@pytest.mark.parametrize(
    ("keep_alive_timeout_s", "rate_per_s"),
    [pytest.param(5.0, 64.7, id="T-5s"), pytest.param(1.0, 227.0, id="T-1s")],
)
def test_sustainable_rate_at_256_workers(keep_alive_timeout_s: float, rate_per_s: float) -> None:
    metrics = evaluate(prefork(256, keep_alive_timeout_s), EXAMPLE)
    (result,) = evaluate_targets(metrics)
    assert result.target == "max_wait_probability"
    assert target_max_rate_per_s(result, metrics) == pytest.approx(rate_per_s, abs=0.5)


def test_keepalive_1s_holding_time() -> None:
    m = evaluate(prefork(256, 1.0), EXAMPLE)
    assert m.requests_per_connection == pytest.approx(1.195, abs=5e-4)
    assert m.holding_time_s == pytest.approx(1.154, abs=5e-4)
    assert m.offered_load_erlangs == pytest.approx(193.1, abs=0.05)


def event(workers: int, threads_per_child: int = 25) -> EventSettings:
    return EventSettings(
        server_limit=max(16, workers // threads_per_child),
        thread_limit=max(64, threads_per_child),
        threads_per_child=threads_per_child,
        max_request_workers=workers,
        async_request_worker_factor=2.0,
    )


def test_event_connection_limit_at_400_workers() -> None:
    m = evaluate(event(400), EXAMPLE)
    assert m.event is not None
    assert m.offered_load_erlangs == pytest.approx(10.0, rel=1e-12)
    assert m.event.idle_connections_mean == pytest.approx(668.9, abs=0.05)
    assert m.event.p_connection_limit == pytest.approx(1.7e-59, rel=0.03)
    assert m.event.p_connection_limit_bound == pytest.approx(2.0e-39, rel=0.03)
    # A new connection waits for a slot (derivations §4.3a): 16 children of 25 threads pool
    # 1200 places less 2 per busy worker. At s open connections the busy workers, N ~
    # Binomial(s, 10 / x), fill the rest while 2 N >= 1200 - s, and at N = m - 1 the listener
    # is still held off if N came down from m (the share up / (up + down) of N's rates there);
    # from h connections on, Erlang C with h servers; h averaged over the children's bands,
    # 1200 - 2 sqrt(16) .. 1200. Both lie far in Poisson(678.9)'s tail: about 2.5e-59, the
    # order of P_limit (the same counts, here nearly always full once reached).
    x = 10.0 + m.event.idle_connections_mean
    share = 10.0 / x

    def binomial(k: int, s: int) -> float:
        log = math.lgamma(s + 1) - math.lgamma(k + 1) - math.lgamma(s - k + 1)
        return math.exp(log + k * math.log(share) + (s - k) * math.log1p(-share))

    def poisson(s: int) -> float:
        return math.exp(s * math.log(x) - x - math.lgamma(s + 1))

    def full(s: int) -> float:
        needed = math.ceil((1200 - s) / 2)
        busy = math.fsum(binomial(k, s) for k in range(needed, min(s, 399) + 1))
        up, down = (s - needed + 1) * share / (1.0 - share), needed - 1
        return busy + binomial(needed - 1, s) * up / (up + down)

    # Below 1000 connections the rest needs 100 busy workers or more, Binomial's tail < 1e-100.
    soft = {s: poisson(s) * full(s) for s in range(1000, 1200)}

    def at(h: int) -> float:
        c = erlang_c(h, x)
        below = math.fsum(poisson(s) for s in range(h))
        return c + (1.0 - c) * math.fsum(soft[s] for s in range(1000, h)) / below

    expected = math.fsum(at(h) for h in range(1192, 1201)) / 9
    # (The model starts where the busy workers needed are 7 standard deviations and 14 above
    # their mean; here, deep in both tails, that leaves out 7e-4 of the sum.)
    assert m.p_wait == pytest.approx(expected, rel=1e-3, abs=0.0)
    assert 1e-59 < m.p_wait < 1e-58
    assert m.event.wait_for_slot_probability == pytest.approx(m.p_wait, rel=1e-9)
    assert m.open_connections_p99 == 740
    assert m.stable


def test_event_connection_limit_binds_at_150_workers() -> None:
    m = evaluate(event(150), EXAMPLE)
    assert m.event is not None
    # Fluid capacity c + F (c - a_b) = 150 + 2 * 140 = 430 < 679 open connections.
    assert m.event.slot_capacity == pytest.approx(430.0)
    assert m.event.p_connection_limit == pytest.approx(1.0, abs=1e-12)
    assert not m.stable
    assert m.mean_wait_s == float("inf")
    # It carries what its slots hold (derivations §4.14): at that rate its open connections fit
    # the places its busy workers leave, c + F (c - a_b) with a_b = carried rate x S_w.
    carried = m.event.carried_requests_per_s
    assert carried < EXAMPLE.traffic.requests_per_second
    busy = carried * EXAMPLE.traffic.worker_time_s
    assert m.busy_workers_mean == pytest.approx(busy)
    assert 150.0 + 2.0 * (150.0 - busy) > 430.0
    assert m.open_connections_mean < 150.0 + 2.0 * (150.0 - busy) < 679.0


@pytest.mark.parametrize(
    ("threads_per_child", "processes", "saturation"),
    [pytest.param(25, 16, 2.4e-2, id="TPC-25"), pytest.param(100, 4, 1.2e-4, id="TPC-100")],
)
def test_event_larger_processes_pool_better(
    threads_per_child: int, processes: int, saturation: float
) -> None:
    """§4.4 sizing consequence: a_b = 280 on 400 workers, with slots for every connection.

    AsyncRequestWorkerFactor 1024: the default 2 gives about 620 places to the ~5,300 keep-alive
    connections this traffic opens, and children starved of slots carry too few requests to
    saturate (§4.4); with 64 a child of 100 threads stops admitting new connections from about
    85 busy workers on, while its ~1,300 idle ones fill its slots, and saturates 8e-11 of the
    time (§4.2).
    """
    busy = TrafficProfile("a_b-280", Traffic(5600.0, 0.05), Visits(10.0, "geometric", 0.5, 1.0))
    m = evaluate(replace(event(400, threads_per_child), async_request_worker_factor=1024.0), busy)
    assert m.event is not None
    assert m.processes == processes
    assert m.event.process_saturation == pytest.approx(saturation, rel=0.05)


def test_worker_mpm_matches_prefork_with_the_same_workers() -> None:
    threaded = evaluate(WorkerSettings(max_request_workers=400), EXAMPLE)
    single = evaluate(prefork(400), EXAMPLE)
    assert threaded.p_wait == single.p_wait
    assert threaded.p_block == single.p_block
    assert threaded.memory_bytes != single.memory_bytes


def test_max_wait_target_uses_allen_cunneen_tail() -> None:
    m = evaluate(prefork(700), EXAMPLE)
    targets = Targets(None, MaxWait(time_s=1.0, probability=0.5), None, None, None)
    (result,) = evaluate_targets(m, targets)
    assert result.target == "max_wait"
    assert result.value == pytest.approx(m.p_wait_exceeds(1.0))
    assert 0.0 < result.value < m.p_wait
