"""evaluate / evaluate_all / evaluate_targets / metrics_to_dict on real profiles and settings."""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from capplan.models import (
    evaluate,
    evaluate_all,
    evaluate_targets,
    map_settings,
    offered_load_erlangs,
    wait_probability_value,
)
from capplan.models.event import (
    PoolRefill,
    admitted_law,
    dropped_attempt_share,
    kill_fixed_point,
    killed_share,
    process_saturation,
    refilled_share,
    reset_pool_above,
)
from capplan.models.event_listener import idle_after_request
from capplan.models.metrics import METRICS
from capplan.models.slot_wait import serving_places
from capplan.models.targets import target_max_rate_per_s
from capplan.models.types import MpmMetrics
from capplan.mpm_names import Mpm
from capplan.mpm_settings import (
    CommonSettings,
    EffectiveConfig,
    EventSettings,
    PreforkSettings,
    WorkerSettings,
)
from capplan.profile import (
    MaxWait,
    Memory,
    Targets,
    Traffic,
    TrafficProfile,
    Visits,
    load_profile,
    profile_from_text,
)
from capplan.queueing import erlang_b, erlang_c
from capplan.render.metrics import metrics_to_dict

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "profiles").glob("*.yaml"))
DESIGN_KEYS = tuple(m.key for m in METRICS)
PROFILE = profile_from_text(
    "traffic: {requests_per_second: 100, service_time: 50ms}\n"
    "visits: {requests_per_visit: 8, think_time: 4s}\n"
    "memory: {ram: 4GiB, parent: 20MiB, shared: 100MiB, prefork_process: 40MiB,\n"
    "         threaded_process: 20MiB, thread: 1MiB, connection: 64KiB}\n",
    "mixed.yaml",
)


def config(settings: PreforkSettings | WorkerSettings | EventSettings) -> EffectiveConfig:
    mpm = {PreforkSettings: "prefork", WorkerSettings: "worker", EventSettings: "event"}
    return EffectiveConfig("httpd.conf", mpm[type(settings)], settings, (), ())  # type: ignore[arg-type]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_profiles_evaluate_for_every_mpm(path: Path) -> None:
    profile = load_profile(path)
    results = evaluate_all(None, profile)
    assert list(results) == ["prefork", "worker", "event"]
    for name, metrics in results.items():
        data = metrics_to_dict(metrics)
        assert all(key in data for key in DESIGN_KEYS)
        json.dumps(data, allow_nan=False)
        assert metrics.mpm == name
        targets = evaluate_targets(metrics)
        assert {t.target for t in targets} >= {"max_wait_probability", "max_memory_fraction"}
        assert all(t.value >= 0.0 for t in targets)
        # Ten times the traffic on the same settings misses the wait target.
        heavy = replace(
            PROFILE,
            traffic=replace(
                PROFILE.traffic, requests_per_second=10 * PROFILE.traffic.requests_per_second
            ),
        )
        (wait,) = [
            t
            for t in evaluate_targets(evaluate(metrics.settings, heavy))
            if t.target == "max_wait_probability"
        ]
        assert not wait.met, name


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
@pytest.mark.parametrize("keep_alive", [True, False], ids=["ka-on", "ka-off"])
def test_offered_load_without_a_size_is_the_models_own(path: Path, keep_alive: bool) -> None:
    # The sizing search starts from it: it must be exactly what every size reports.
    profile = load_profile(path)
    common = CommonSettings(keep_alive=keep_alive, keep_alive_timeout_s=2.0)
    for settings in (
        PreforkSettings(server_limit=3, max_request_workers=3, common=common),
        WorkerSettings(max_request_workers=50, common=common),
        EventSettings(max_request_workers=400, server_limit=16, common=common),
    ):
        metrics = evaluate(settings, profile)
        assert offered_load_erlangs(metrics.mpm, common, profile) == metrics.offered_load_erlangs


def test_defaults_without_a_config() -> None:
    results = evaluate_all(None, PROFILE)
    assert results[Mpm.prefork].workers == 256
    assert results[Mpm.worker].workers == 400
    assert results[Mpm.event].workers == 400
    assert results[Mpm.event].max_connections == 3 * 400  # (1 + AsyncRequestWorkerFactor) c


def test_mapping_from_prefork_keeps_workers_and_keepalive() -> None:
    common = CommonSettings(keep_alive_timeout_s=2.0, max_keep_alive_requests=50)
    current = PreforkSettings(server_limit=150, max_request_workers=150, common=common)
    results = evaluate_all(config(current), PROFILE)
    assert results[Mpm.prefork].settings == current
    for name in (Mpm.worker, Mpm.event):
        mapped = results[name].settings
        assert isinstance(mapped, WorkerSettings | EventSettings)
        assert mapped.threads_per_child == 25
        assert mapped.max_request_workers == 150
        assert mapped.server_limit == 16
        assert mapped.common == common
    event = results[Mpm.event].settings
    assert isinstance(event, EventSettings)
    assert event.async_request_worker_factor == 2.0


def test_mapping_from_event_keeps_its_threads_and_factor() -> None:
    current = EventSettings(
        server_limit=10,
        thread_limit=64,
        threads_per_child=50,
        max_request_workers=500,
        async_request_worker_factor=3.0,
    )
    prefork = map_settings(current, Mpm.prefork)
    assert isinstance(prefork, PreforkSettings)
    assert (prefork.server_limit, prefork.max_request_workers) == (500, 500)
    worker = map_settings(current, Mpm.worker)
    assert isinstance(worker, WorkerSettings)
    assert (worker.threads_per_child, worker.max_request_workers, worker.server_limit) == (
        50,
        500,
        10,
    )
    assert map_settings(current, Mpm.event) is current


def test_mapping_rounds_workers_up_to_whole_processes() -> None:
    mapped = map_settings(PreforkSettings(server_limit=110, max_request_workers=110), Mpm.event)
    assert isinstance(mapped, EventSettings)
    assert (mapped.processes, mapped.workers) == (5, 125)


def test_memory_figures() -> None:
    m = PROFILE.memory
    # prefork never forks above MaxRequestWorkers, graceful restarts included: ServerLimit 300
    # adds nothing to the worst case.
    prefork = evaluate(PreforkSettings(server_limit=300, max_request_workers=200), PROFILE)
    base = m.parent_bytes + m.shared_bytes
    # A graceful restart also costs the parent a second configuration (about twice its private
    # memory and 1 MiB of module data).
    restart = 2 * m.parent_bytes + (1 << 20)
    assert prefork.memory.full_bytes == base + 200 * m.prefork_process_bytes
    assert prefork.memory.worst_bytes == base + restart + 200 * m.prefork_process_bytes
    assert prefork.memory.worst_processes == 200
    assert prefork.memory_bytes == prefork.memory.worst_bytes
    avail = math.floor((4 << 30) * 0.9)
    assert prefork.memory.available_bytes == avail
    assert prefork.memory.max_workers == (avail - base - restart) // m.prefork_process_bytes

    # worker: 16 active slots; across a restart a successor shares each slot's 25 thread slots,
    # so 32 process bases but only 400 threads.
    settings = WorkerSettings(server_limit=20, max_request_workers=400)
    worker = evaluate(settings, PROFILE)
    per_process = m.threaded_process_bytes + 25 * m.thread_bytes
    assert worker.memory.full_bytes == base + 16 * per_process
    assert worker.memory.worst_bytes == (
        base + restart + 32 * m.threaded_process_bytes + 400 * m.thread_bytes
    )
    # event: 16 active, room for 4 finishing (ServerLimit 20), each with all its threads.
    event = evaluate(EventSettings(server_limit=20, max_request_workers=400), PROFILE)
    connections = m.connection_bytes * event.open_connections_p99
    assert event.memory.worst_processes == 20
    assert event.memory.worst_bytes == base + restart + connections + 20 * per_process
    roomy = evaluate(EventSettings(server_limit=16, max_request_workers=100), PROFILE)
    assert roomy.memory.worst_processes == 8  # 4 active + a whole generation finishing
    assert event.memory.max_workers == 25 * (
        (avail - base - restart - connections) // (2 * per_process)
    )


def test_memory_without_ram_is_unbounded_and_unchecked() -> None:
    profile = replace(PROFILE, memory=replace(PROFILE.memory, ram_bytes=None))
    metrics = evaluate(PreforkSettings(), profile)
    assert metrics.memory.max_workers is None
    assert "max_memory_fraction" not in {t.target for t in evaluate_targets(metrics)}


def test_targets_apply_per_mpm_and_can_be_overridden() -> None:
    prefork = evaluate(PreforkSettings(), PROFILE)
    event = evaluate(EventSettings(), PROFILE)
    assert "max_connection_limit_probability" not in {t.target for t in evaluate_targets(prefork)}
    assert "max_connection_limit_probability" in {t.target for t in evaluate_targets(event)}
    strict = Targets(
        max_wait_probability=0.0,
        max_wait=None,
        max_block_probability=None,
        max_connection_limit_probability=None,
        max_memory_fraction=0.01,
    )
    results = evaluate_targets(prefork, strict, Memory(ram_bytes=64 << 30))
    assert [t.target for t in results] == ["max_wait_probability", "max_memory_fraction"]
    memory = results[1]
    assert memory.value == pytest.approx(prefork.memory_bytes / (64 << 30))
    assert target_max_rate_per_s(memory, prefork) is None
    assert evaluate_targets(prefork, PROFILE) == evaluate_targets(prefork)


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(PreforkSettings(server_limit=400, max_request_workers=400), id="prefork"),
        pytest.param(WorkerSettings(), id="worker"),
        pytest.param(EventSettings(), id="event"),
    ],
)
def test_max_rate_is_the_boundary_of_each_target(
    settings: PreforkSettings | WorkerSettings | EventSettings,
) -> None:
    profile = replace(PROFILE, targets=Targets(0.01, MaxWait(0.1, 0.005), 0.001, 0.001, None))
    metrics = evaluate(settings, profile)
    for result in evaluate_targets(metrics):
        rate = target_max_rate_per_s(result, metrics)
        assert rate is not None, result.target
        assert 0.0 < rate < math.inf, result.target

        def value_at(r: float, name: str = result.target) -> float:
            traffic = replace(profile.traffic, requests_per_second=r)
            again = evaluate(settings, replace(profile, traffic=traffic))
            (match,) = [t for t in evaluate_targets(again) if t.target == name]
            return match.value

        assert value_at(rate) <= result.limit
        assert value_at(rate * 1.001) > result.limit


BUSY = replace(
    PROFILE, traffic=replace(PROFILE.traffic, requests_per_second=5000.0, service_time_s=0.05)
)


def test_event_wait_value_includes_process_saturation() -> None:
    # AsyncRequestWorkerFactor 128: slots for every keep-alive connection, even without kills.
    metrics = evaluate(EventSettings(async_request_worker_factor=128), BUSY)
    assert metrics.event is not None
    assert wait_probability_value(metrics) == pytest.approx(
        max(metrics.p_wait, 2 * metrics.event.process_saturation)
    )
    assert metrics.event.kill_episodes_per_s > 0
    assert metrics.event.churn_per_s > 0
    assert metrics.connections_per_s > metrics.event.connections_per_s_without_kills


def test_event_children_starved_of_slots_carry_few_requests_and_kill_nothing() -> None:
    # The same load with the default factor 2: without kills the keep-alive connections want
    # ~15,900 slots of 700. The children then hold only what their slots take, so their workers
    # are rarely all busy and the kills that could thin the idle connections do not happen.
    # Relieved: factor 1024 gives a child room for its ~990 idle connections at every busy count
    # (at 128 it has 129 places per idle worker, so it stops admitting from 18 busy workers on
    # and rarely saturates either).
    metrics = evaluate(EventSettings(), BUSY)
    offered = evaluate(EventSettings(), BUSY, carried=False)
    relieved = evaluate(EventSettings(async_request_worker_factor=1024), BUSY)
    assert metrics.event is not None
    assert offered.event is not None
    assert relieved.event is not None
    assert not metrics.stable
    assert relieved.stable
    assert offered.event.churn_per_s == 0.0
    assert offered.event.kill_episodes_per_s < 1e-20 < relieved.event.kill_episodes_per_s
    assert offered.open_connections_mean > 9 * relieved.open_connections_mean
    # What such a server carries (derivations §4.14): the largest rate at which its slots still
    # settle, 362 of the 5,000 requests a second; its figures are that rate's, and its idle
    # connections fit the places its busy workers leave there (the places reported stay the
    # offered load's, 700, which show why it is overloaded).
    rate = metrics.event.carried_requests_per_s
    assert 0.05 * 5000.0 < rate < 0.1 * 5000.0
    assert relieved.event.carried_requests_per_s == 5000.0
    busy = rate * BUSY.traffic.worker_time_s
    assert metrics.busy_workers_mean == pytest.approx(busy)
    assert metrics.offered_load_erlangs == offered.offered_load_erlangs == 250.0
    assert metrics.event.slot_capacity == offered.event.slot_capacity == 700.0
    assert metrics.open_connections_mean < metrics.workers * 3.0 - 2.0 * busy
    assert metrics.open_connections_mean < 0.1 * offered.open_connections_mean
    assert metrics.p_wait == offered.p_wait == 1.0
    assert metrics.event.p_connection_limit == offered.event.p_connection_limit


def _busy_at(rate: float, *, carried: bool = True) -> MpmMetrics:
    traffic = replace(BUSY.traffic, requests_per_second=rate)
    return evaluate(EventSettings(), replace(BUSY, traffic=traffic), carried=carried)


def test_an_overloaded_event_server_carries_the_largest_rate_at_which_it_settles() -> None:
    metrics = _busy_at(5000.0)
    assert metrics.event is not None
    rate = metrics.event.carried_requests_per_s
    carried = _busy_at(rate, carried=False)
    assert carried.event is not None
    assert carried.stable
    assert not _busy_at(rate * 1.002, carried=False).stable
    # Every figure of the server's state is the carried rate's; the offered ones stay.
    for name in ("busy_workers_mean", "idle_keepalive_mean", "connections_per_s"):
        assert getattr(metrics, name) == getattr(carried, name), name
    assert metrics.open_connections_p99 == carried.open_connections_p99
    assert metrics.memory == carried.memory
    assert metrics.event.kill_episodes_per_s == carried.event.kill_episodes_per_s
    assert metrics.offered_load_erlangs == _busy_at(5000.0, carried=False).offered_load_erlangs
    assert math.isinf(metrics.mean_wait_s)
    # The rate it carries does not depend on how far beyond it the offered rate is.
    further = _busy_at(9000.0).event
    assert further is not None
    assert further.carried_requests_per_s == rate


def test_an_overloaded_event_server_drops_the_attempts_it_cannot_carry() -> None:
    # Only connections whose every SYN was dropped are lost, so at the carried share s of the
    # offered requests an attempt is dropped with p = (1 - s)^(1/attempts) (derivations §4.14):
    # with the retries, far more than M/M/K/K+Q's at the offered load.
    metrics = _busy_at(5000.0)
    offered = _busy_at(5000.0, carried=False)
    assert metrics.event is not None
    share = metrics.event.carried_requests_per_s / 5000.0
    attempts = BUSY.visits.connect_attempts
    assert metrics.p_block == pytest.approx((1.0 - share) ** (1.0 / attempts), rel=1e-12)
    assert metrics.p_block > offered.p_block
    assert metrics.p_block_conservative >= metrics.p_block
    # Fewer attempts before a client gives up: more of the lost load is dropped at once.
    one_try = replace(BUSY, visits=replace(BUSY.visits, connect_attempts=1))
    assert evaluate(EventSettings(), one_try).p_block == pytest.approx(1.0 - share, rel=1e-9)
    # A server that carries everything drops nothing by this count.
    assert dropped_attempt_share(1.0, attempts) == 0.0
    # Of the requests it serves, each new connection's first waits, as do the dropped ones.
    served = metrics.event.carried_requests_per_s
    waiting = metrics.connections_per_s + metrics.event.keepalive_drops_per_s
    assert metrics.p_wait_request == pytest.approx(waiting / served, rel=1e-12)
    assert metrics.p_wait_request != offered.p_wait_request


def test_the_dropped_attempts_balance_is_the_retrial_queue_s_own_beyond_saturation() -> None:
    # prefork's finite accept queue with retried attempts (derivations §3.4), solved as a fixed
    # point at the attempt load, loses p^k of its connections beyond saturation: the same
    # balance, from an independent computation.
    for rate in (400.0, 1000.0, 4000.0):
        traffic = replace(PROFILE.traffic, requests_per_second=rate)
        m = evaluate(PreforkSettings(), replace(PROFILE, traffic=traffic))
        assert not m.stable
        share = m.busy_workers_mean / m.offered_load_erlangs
        attempts = PROFILE.visits.connect_attempts
        assert dropped_attempt_share(share, attempts) == pytest.approx(m.p_block, rel=1e-6)


def test_overloaded_prefork_reports_the_full_queue_not_infinity() -> None:
    overloaded = replace(PROFILE, traffic=replace(PROFILE.traffic, requests_per_second=1e4))
    m = evaluate(PreforkSettings(), overloaded)
    data = metrics_to_dict(m)
    assert data["stable"] is False
    assert data["p_wait"] == pytest.approx(1.0)
    # The accept queue (512) is always full: an admitted connection waits for it to drain.
    assert data["mean_wait_s"] == pytest.approx(512 * m.holding_time_s / m.workers, rel=0.01)
    assert m.p_block > 0.9
    assert m.busy_workers_mean == pytest.approx(m.workers)
    assert m.p_wait_exceeds(0.0) == 1.0


def test_unstable_event_waits_are_null_in_json() -> None:
    overloaded = replace(PROFILE, traffic=replace(PROFILE.traffic, requests_per_second=1e4))
    data = metrics_to_dict(evaluate(EventSettings(), overloaded))
    assert data["stable"] is False
    assert data["mean_wait_s"] is None
    assert data["wait_p99_s"] is None


def test_one_event_child_saturates_as_a_delay_system() -> None:
    # One child: a connection that finds every thread busy waits in the accept queue (nowhere
    # else to go), so B_p is Erlang C; with two children it is Erlang B on each one's share.
    assert process_saturation(1, 4, 2.65) == pytest.approx(erlang_c(4, 2.65), rel=1e-15)
    assert process_saturation(2, 4, 5.3) == pytest.approx(erlang_b(4, 2.65), rel=1e-15)
    assert process_saturation(1, 4, 4.0) == 1.0
    profile = replace(PROFILE, traffic=replace(PROFILE.traffic, requests_per_second=50.0))
    one = EventSettings(
        server_limit=1,
        threads_per_child=4,
        max_request_workers=4,
        start_servers=1,
        min_spare_threads=4,
        max_spare_threads=8,
        thread_limit=4,
        # No idle keep-alive connections: the child's slots hold every connection it is sent.
        common=CommonSettings(keep_alive=False),
    )
    metrics = evaluate(one, profile)
    assert metrics.event is not None
    a_b = 50.0 * profile.traffic.worker_time_s
    assert metrics.event.process_saturation == pytest.approx(erlang_c(4, a_b), rel=1e-12)
    assert metrics.event.process_saturation > erlang_b(4, a_b)


@pytest.mark.parametrize("factor", [1, 2, 4, 16])
@pytest.mark.parametrize("mean", [1e-200, 1e-9, 0.3, 2.0, 3.0, 5.0, 7.5, 40.0, 1e4, 1e300])
def test_an_episode_closes_the_idle_connections_the_slot_rule_let_in(
    factor: int, mean: float
) -> None:
    # E[Y | Y <= 1 + F] / E[Y], Y ~ Poisson(mean), summed directly from scipy's pmf.
    from scipy.stats import poisson

    ks = range(factor + 2)
    pmf = [float(poisson.pmf(k, mean)) for k in ks]
    share = killed_share(mean, factor)
    if sum(pmf) > 0.0 and mean < 1e4:
        expected = sum(k * w for k, w in zip(ks, pmf, strict=True)) / sum(pmf) / mean
        assert share == pytest.approx(expected, rel=1e-12)
    else:
        # Far beyond the cap every episode closes the 1 + F connections the rule admits.
        assert share == pytest.approx((factor + 1) / mean, rel=1e-3)
    assert 0.0 < share <= 1.0
    assert killed_share(0.0, factor) == 1.0


REFILLS = (
    # mean pool, F, episodes/s, mid-visit share, think s, held share, KeepAliveTimeout s
    (2.85, 4, 5.6, 2 / 3, 0.1, 0.1, 0.5),  # one child of 4 at utilisation 0.6 (rho06)
    (1.7, 4, 20.0, 2 / 3, 0.1, 0.1, 0.5),  # the same child at 0.8
    (8.0, 2, 1.9, 0.75, 0.1, 0.125, 0.25),
    (1.5, 1, 50.0, 0.75, 0.1, 0.125, 5.0),
    (3.0, 4, 5.0, 0.0, 0.1, 1.0, 5.0),  # held sockets only
    (3.0, 4, 1000.0, 2 / 3, 0.1, 0.1, 5.0),
)


@pytest.mark.parametrize("refill", REFILLS)
def test_a_refilled_pool_is_closed_as_its_age_law_says(
    refill: tuple[float, int, float, float, float, float, float],
) -> None:
    # derivations §4.4: at age t since the last episode, t ~ Exp(e), the pool is Poisson of
    # m(t) = v z (1 - e^(-min(t, T)/z)) + q min(t, T), scaled to the mean; an episode closes
    # E[Y | Y <= 1 + F] of that mixture. Integrated here by scipy's adaptive quadrature.
    from scipy import integrate
    from scipy.stats import poisson

    mean, factor, episodes, visit, think, held, timeout = refill

    def pool(t: float) -> float:
        t = min(t, timeout)
        return visit * think * -math.expm1(-t / think) + held * t

    def law(f: Callable[[float], float]) -> float:
        part, _ = integrate.quad(
            lambda t: episodes * math.exp(-episodes * t) * f(t), 0.0, timeout, limit=400
        )
        return float(part) + math.exp(-episodes * timeout) * f(timeout)

    scale = mean / law(pool)
    top = factor + 1

    def moment(power: int) -> Callable[[float], float]:
        return lambda t: sum(k**power * poisson.pmf(k, pool(t) * scale) for k in range(top + 1))

    expected = law(moment(1)) / law(moment(0)) / mean

    def closes(rate: float, **quadrature: int) -> float:
        refill = PoolRefill(visit_share=visit, think_s=think, held_share=held, timeout_s=timeout)
        return refilled_share(mean, factor, rate, refill, **quadrature)

    share = closes(episodes)  # its own 16 points
    assert share == pytest.approx(expected, rel=1e-3)
    assert closes(episodes, nodes=64) == pytest.approx(expected, rel=1e-4)
    # Younger pools as episodes come more often (held sockets alone, a pool that grows in
    # proportion to its age, look the same at every rate once e T is large); without episodes
    # the pool is Poisson.
    assert closes(2.0 * episodes) <= share * (1 + 1e-9)
    assert closes(1e-18) == killed_share(mean, factor)
    assert share < killed_share(mean, factor)


Admission = tuple[int, int, int, float, float, float]  # P, TPC, F, busy, idle, new share


def _admitted(case: Admission, idle: float | None = None) -> float:
    processes, tpc, factor, busy, own_idle, new_share = case
    saturation, _ = admitted_law(
        processes,
        tpc,
        factor,
        busy_per_child=busy,
        idle_per_child=own_idle if idle is None else idle,
        new_share=new_share,
    )
    return saturation


def _admitted_law_directly(case: Admission, resets: float = 0.0) -> float:
    """admitted_law's B_p from its definition, with scipy's Poisson law (mixed over the time
    since the last episode, by quadrature, with `resets`) and root finder."""
    from scipy.integrate import quad
    from scipy.optimize import brentq
    from scipy.stats import poisson

    processes, tpc, factor, busy, idle, new_share = case
    lam = idle * (1.0 + resets)

    @functools.cache
    def above(k: int) -> float:
        if resets == 0.0:
            return float(poisson.sf(k, idle))
        value, _ = quad(
            lambda u: resets * u ** (resets - 1.0) * float(poisson.sf(k, lam * (1.0 - u))),
            0.0,
            1.0,
            limit=200,
            epsabs=0.0,
            epsrel=1e-12,
        )
        return float(value)

    def births(n: int) -> float:
        cap = (1 + factor) * (tpc - n)
        held = sum(above(k) for k in range(cap + 2 * factor))
        return new_share * (1.0 - above(cap - 1)) + (1 - new_share) * held / idle

    weights = [1.0]
    for n in range(tpc):
        weights.append(weights[-1] * busy * births(n) / (n + 1))
    if processes == 1:
        weights[-1] /= 1.0 - busy / tpc

    def law(t: float) -> list[float]:
        scaled = [w * math.exp(t * n) for n, w in enumerate(weights)]
        return [w / sum(scaled) for w in scaled]

    def excess(t: float) -> float:
        return sum(n * w for n, w in enumerate(law(t))) - busy

    return law(brentq(excess, -30.0, 30.0, xtol=1e-14))[tpc]


@pytest.mark.parametrize(
    "case", [(1, 8, 1, 2.9, 7.6, 0.26), (2, 8, 2, 4.15, 7.3, 0.35), (3, 16, 4, 11.2, 40.0, 0.5)]
)
def test_a_child_admits_fewer_requests_as_its_idle_connections_fill_its_slots(
    case: Admission,
) -> None:
    # derivations §4.2: the birth-death law of a child's busy workers, its births held back by
    # the slot rule, solved for the load it carries; event-connection-limit and event-ka-rho05's
    # inputs, and a larger child.
    got = _admitted(case)
    assert got == pytest.approx(_admitted_law_directly(case), rel=1e-8)
    # Idle connections in the slots hold admissions back near the top: without them the child
    # carries the same load with more spread, and saturates 1.9 to 7 times as often here.
    assert got < 0.6 * _admitted(case, idle=0.0)


def test_without_idle_connections_a_child_is_erlang_c_or_erlang_b_with_retries() -> None:
    # One child queues what it cannot take: Erlang C. Several pass it on to each other, so each
    # carries its share: Erlang B at the offered load A that carries it, A (1 - B(A)) = a.
    from scipy.optimize import brentq

    assert _admitted((1, 4, 2, 2.65, 0.0, 1.0)) == pytest.approx(erlang_c(4, 2.65), rel=1e-10)
    offered = brentq(lambda x: x * (1.0 - erlang_b(8, x)) - 5.0, 5.0, 50.0, xtol=1e-14)
    assert _admitted((3, 8, 2, 5.0, 0.0, 1.0)) == pytest.approx(erlang_b(8, offered), rel=1e-9)
    assert _admitted((2, 8, 2, 8.0, 3.0, 0.5)) == 1.0
    assert _admitted((2, 8, 2, 0.0, 3.0, 0.5)) == 0.0


@pytest.mark.parametrize(
    "case",
    [
        (2, 25, 2, 5e-324, 0.0, 1.0),  # a subnormal load: B_p underflows, no log(0)
        (1, 1, 1, 5e-324, 5e-324, 0.0),
        (2, 25, 2, 1e-320, 1e-321, 0.0),  # idle too few to hold any
        (1, 8, 2, 7.9999999, 1e6, 1.0),  # slots all but certainly full: births below binary64
        (2, 8, 2, 7.9999999, 1e300, 1.0),
        (1, 128, 1, 127.999, 1e300, 0.0),
    ],
)
def test_the_admission_law_stays_a_probability_at_extreme_inputs(case: Admission) -> None:
    got = _admitted(case)
    _, tpc, _, busy, _, _ = case
    assert 0.0 <= got <= 1.0
    if busy < 1e-300 and tpc > 1:
        assert got == 0.0
    if busy > tpc - 1e-3:
        assert got > 0.99


@pytest.mark.parametrize(
    ("mean", "resets"),
    [(3.0, 0.01), (3.0, 0.5), (8.0, 2.0), (0.5, 5.0), (40.0, 0.3), (2.0, 20.0), (300.0, 1.0)],
)
def test_a_pool_that_kill_episodes_empty_is_poisson_mixed_over_the_time_since_the_last(
    mean: float, resets: float
) -> None:
    # derivations §4.2: between episodes the pool refills as M/M/inf from empty, so Y is
    # Poisson(lam (1 - U)) with U = exp(-age) ~ Beta(beta, 1), lam = mean (1 + beta); the
    # integral over U, by scipy, against the downward recursion.
    from scipy.integrate import quad
    from scipy.stats import poisson

    lam = mean * (1.0 + resets)
    top = math.ceil(lam + 15.0 * math.sqrt(lam) + 40.0)
    tail = reset_pool_above(mean, resets, top)
    assert sum(tail) == pytest.approx(mean, rel=1e-12)  # E[Y] = sum of P(Y > k)
    assert all(a >= b for a, b in itertools.pairwise(tail))
    for k in {0, 1, 2, int(mean), int(2 * mean) + 1, int(lam + 3 * math.sqrt(lam)) + 1}:
        expected, _ = quad(
            lambda u, k=k: resets * u ** (resets - 1.0) * float(poisson.sf(k, lam * (1.0 - u))),
            0.0,
            1.0,
            limit=200,
            epsabs=0.0,
            epsrel=1e-12,
        )
        assert tail[k] == pytest.approx(expected, rel=1e-10)
    # Right after an episode the pool is empty: P(Y = 0) is above Poisson's of the same mean.
    assert 1.0 - tail[0] > float(poisson.pmf(0, mean))


def test_a_pool_reset_less_and_less_often_tends_to_poisson() -> None:
    from scipy.stats import poisson

    tail = reset_pool_above(6.0, 1e-9, 40)
    assert tail == pytest.approx([float(poisson.sf(k, 6.0)) for k in range(41)], rel=1e-7)


@pytest.mark.parametrize(
    "case", [(1, 8, 2, 5.6, 8.0, 0.2), (2, 4, 2, 1.4, 6.0, 0.3), (3, 16, 4, 11.2, 40.0, 0.5)]
)
def test_a_child_whose_pool_kill_episodes_empty_admits_as_that_pool_allows(
    case: Admission,
) -> None:
    # derivations §4.2: the same birth-death law with the pool's law under resets; an emptied
    # pool lets new connections in, a refilled one holds more back (so B_p at the same carried
    # load can go either way); without episodes the law is the Poisson one.
    processes, tpc, factor, busy, idle, new_share = case

    def saturation(resets: float) -> float:
        got, _ = admitted_law(
            processes,
            tpc,
            factor,
            busy_per_child=busy,
            idle_per_child=idle,
            new_share=new_share,
            resets=resets,
        )
        return got

    for resets in (0.1, 1.0, 10.0):
        assert saturation(resets) == pytest.approx(_admitted_law_directly(case, resets), rel=1e-8)
    assert saturation(0.0) == _admitted(case)
    assert saturation(1e-9) == pytest.approx(saturation(0.0), rel=1e-7)


@pytest.mark.parametrize("start", [-500.0, -40.0, 0.0, 40.0, 443.9])
def test_the_admission_law_finds_theta_from_any_start(start: float) -> None:
    # The kill fixed point starts each solve at the last theta; with a pool of 450 idle
    # connections and no episodes theta is e^444, with episodes emptying it about e^7.
    cold = admitted_law(1, 1, 1, busy_per_child=0.0013, idle_per_child=395.0, new_share=1.0)
    warm = admitted_law(
        1, 1, 1, busy_per_child=0.0013, idle_per_child=395.0, new_share=1.0, log_theta=start
    )
    assert warm[0] == pytest.approx(cold[0], rel=1e-10)
    with_resets = [
        admitted_law(
            1,
            1,
            1,
            busy_per_child=0.0013,
            idle_per_child=395.0,
            new_share=1.0,
            log_theta=t,
            resets=0.27,
        )[0]
        for t in (0.0, start)
    ]
    assert with_resets[1] == pytest.approx(with_resets[0], rel=1e-10)
    # One thread: the child is full exactly while its one worker is busy, B_p = a.
    assert with_resets[0] == pytest.approx(0.0013, rel=1e-9)


@pytest.mark.parametrize("resets", [1e-300, 1e-9, 3.0, 1e6, 1e300])
@pytest.mark.parametrize("idle", [1e-320, 0.5, 1e4, 1e6, 1e300])
def test_the_admission_law_with_resets_stays_a_probability(resets: float, idle: float) -> None:
    got, theta = admitted_law(
        2, 8, 2, busy_per_child=5.0, idle_per_child=idle, new_share=0.3, resets=resets
    )
    assert 0.0 <= got <= 1.0
    assert math.isfinite(theta)


def _random_event_settings(seed: int) -> tuple[TrafficProfile, CommonSettings, int, int, int]:
    import random

    draw = random.Random(seed)
    p = draw.choice([1, 2, 3, 4, 8, 16])
    tpc = draw.choice([4, 8, 16, 25, 64])
    factor = draw.choice([1, 2, 4])
    worker_s = draw.choice([0.02, 0.05, 0.1, 0.3])
    rate = draw.uniform(0.05, 0.98) * p * tpc / worker_s
    visits = Visits(
        draw.uniform(1.0, 20.0), "geometric", draw.uniform(0.05, 3.0), draw.uniform(0.0, 1.0)
    )
    common = CommonSettings(
        keep_alive_timeout_s=draw.choice([0.5, 2.0, 5.0, 15.0]), max_keep_alive_requests=0
    )
    return TrafficProfile("random", Traffic(rate, worker_s), visits), common, p, tpc, factor


@pytest.mark.parametrize("seed", range(300))
def test_the_kill_hazard_is_the_one_its_own_episodes_make(seed: int) -> None:
    # derivations §4.4: h = (episodes per child) x the share of its idle connections an
    # episode closes, at h itself, whether the map climbed to it or fell past it (about one
    # setting in eight here) and was bracketed.
    profile, common, p, tpc, factor = _random_event_settings(seed)
    fixed = kill_fixed_point(profile, common, p, tpc, factor=factor)
    a_b = profile.traffic.requests_per_second * profile.traffic.worker_time_s
    holdable = max(0.0, (serving_places(p, tpc, factor, a_b) - min(a_b, p * tpc)) / p)
    held = min(fixed.connections_per_s * fixed.holding.mean_idle_s / p, holdable)
    implied = fixed.kill_episodes_per_s / p * fixed.closed_share
    assert fixed.kill_hazard_per_s == pytest.approx(implied, rel=1e-9, abs=1e-300)
    assert 0.0 <= fixed.process_saturation <= 1.0
    if p > 1:
        # Several children's pools are taken at their mean (§4.4), without bursts.
        assert fixed.closed_share == pytest.approx(killed_share(held, factor), rel=1e-12)
        assert fixed.burst_share == 0.0
    elif fixed.kill_hazard_per_s > 0.0 and held > 0.0:
        # One child's regular episodes meet a refilled pool; its bursts close 1 + g (§4.10).
        visits = max(1.0, profile.visits.requests_per_visit)
        refill = PoolRefill(
            visit_share=1.0 - 1.0 / visits,
            think_s=profile.visits.think_time_s,
            held_share=profile.visits.idle_hold_probability / visits,
            timeout_s=common.keep_alive_timeout_s,
        )
        regular = refilled_share(held, factor, fixed.kill_hazard_per_s / fixed.closed_share, refill)
        burst = min(1.0, (1.0 + idle_after_request(profile, common)) / held)
        b = fixed.burst_share
        assert fixed.closed_share == pytest.approx((1 - b) * regular + b * burst, rel=1e-9)


def test_the_metric_table_is_the_schema_and_the_model() -> None:
    from capplan.render.report_json import report_schema

    schema = report_schema()["$defs"]["metrics"]
    assert schema["required"] == [m.key for m in METRICS]
    assert set(schema["properties"]) == {m.key for m in METRICS}
    metrics = evaluate(PreforkSettings(), PROFILE)
    assert all(hasattr(metrics, m.key) for m in METRICS)


def test_event_evaluation_is_computed_once_for_the_same_inputs() -> None:
    """A sizing search evaluates the size it picks again (its settings, then the sustainable
    rate's first probe): the second is the first's result, not a second computation."""
    from capplan.models import event

    settings = EventSettings()
    first = evaluate(settings, PROFILE, carried=False)
    before = event._evaluate.cache_info()
    again = evaluate(settings, PROFILE, carried=False)
    after = event._evaluate.cache_info()
    assert again == first
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)
