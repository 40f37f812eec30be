"""One event child's listener and its hysteresis (capplan.models.event_listener)."""

from __future__ import annotations

import math
import random

import pytest

from capplan.models.event_listener import children_wait, held_back_share, listener_wait
from capplan.queueing import erlang_c
from tests.models.event_sim import SimConfig, simulate_events
from tests.models.test_event_sim import model_of


@pytest.mark.parametrize(("threads", "load"), [(1, 0.6), (4, 2.8), (8, 7.2), (25, 20.0)])
def test_without_keepalive_it_is_erlang_c(threads: int, load: float) -> None:
    # g = 0: a freed worker always lets the listener take the next connection, so the child and
    # its queue are M/M/T: full and waiting with probability C(T, a), mean wait C S/(T - a).
    worker_s = 0.05
    w = listener_wait(threads, load / worker_s, 0.0, worker_s, 0.0)
    expected = erlang_c(threads, load)
    assert w.p_full == pytest.approx(expected, rel=1e-10)
    assert w.p_wait == pytest.approx(expected, rel=1e-10)
    assert w.mean_wait_s == pytest.approx(expected * worker_s / (threads - load), rel=1e-9)
    assert w.drops_per_s == 0.0
    assert w.tail <= 1e-16


def test_dropped_keepalive_requests_reconnect_and_wait() -> None:
    # Without keep-alive idleness (g = 0) a keep-alive request that finds the child full is
    # dropped and waits as a new connection: the child is still M/M/T at all the requests.
    w = listener_wait(4, 30.0, 26.0, 0.05, 0.0)
    expected = erlang_c(4, 2.8)
    assert w.p_full == pytest.approx(expected, rel=1e-10)
    assert w.drops_per_s == pytest.approx(26.0 * expected, rel=1e-10)
    assert w.p_wait == pytest.approx((30.0 * expected + w.drops_per_s) / (30.0 + w.drops_per_s))


def test_the_hysteresis_holds_connections_back() -> None:
    # A request that leaves its connection idle keeps the listener disabled with one worker
    # idle: the child is full less often than Erlang C says, new connections wait longer.
    plain = listener_wait(4, 44.0, 20.0, 0.05, 0.0)
    held = listener_wait(4, 44.0, 20.0, 0.05, 0.77)
    assert held.p_full < 0.85 * plain.p_full
    assert held.mean_wait_s > 2.0 * plain.mean_wait_s
    assert held.p_wait > plain.p_wait
    assert held.levels >= 64
    assert held.tail <= 1e-16


def test_a_saturated_child_has_no_steady_state() -> None:
    with pytest.raises(ValueError, match="saturated"):
        listener_wait(4, 60.0, 20.0, 0.05, 0.5)
    with pytest.raises(ValueError, match="new connections"):
        listener_wait(4, 0.0, 20.0, 0.05, 0.5)


@pytest.mark.parametrize("rate", [48.0, 64.0])
def test_one_child_waits_as_the_simulator_says(rate: float) -> None:
    # One child of 4, F = 4 (event-saturation-rho06 and -rho08's traffic): the model's P(wait)
    # and mean wait against the simulator that follows event.c, within the grid's bands (15 %
    # or half the 95 % interval beyond it).
    config = SimConfig(1, 4, 4, rate, 0.05, 1.0, 3.0, 0.1, 0.5, 0.3)
    sim = simulate_events(config, 400_000, seed=5)
    model = model_of(config)
    assert sim.p_wait.holds(model.p_wait, max(0.15 * sim.p_wait.mean, 0.5 * sim.p_wait.half_width))
    wait = sim.mean_wait_s
    assert wait.holds(model.mean_wait_s, max(0.15 * wait.mean, 0.5 * wait.half_width))


def test_a_lone_child_can_fall_behind_below_full_load() -> None:
    # While connections wait the child keeps a worker idle until a second frees, so its queue
    # stops settling below (new + keep-alive) S_w = T: here at 0.9 of its 4 workers.
    calm = listener_wait(4, 50.4, 21.6, 0.05, 0.0)
    assert calm.stable
    behind = listener_wait(4, 50.4, 21.6, 0.05, 0.77)
    assert not behind.stable
    assert (behind.p_wait, behind.mean_wait_s) == (1.0, math.inf)
    near = listener_wait(4, 0.8 * 56.0, 0.2 * 56.0, 0.05, 0.77)
    assert near.stable
    assert near.tail <= 1e-16


def test_every_answer_is_a_law_or_says_it_is_unstable() -> None:
    # Seeded random children, from 1 to 256 threads, loads 1 % to 99.9 % of the workers, any
    # share of keep-alive and idling: a probability law cut below 1e-16, or `stable` False.
    rng = random.Random(20261205)
    unstable = 0
    for _ in range(300):
        threads = rng.choice([1, 2, 3, 4, 8, 25, 64, 256])
        worker_s = 10 ** rng.uniform(-3.0, 0.0)
        rate = rng.uniform(0.01, 0.999) * threads / worker_s
        new_share = rng.uniform(0.01, 1.0)
        go_idle = rng.choice([0.0, rng.random(), 1.0])
        w = listener_wait(threads, new_share * rate, (1 - new_share) * rate, worker_s, go_idle)
        if not w.stable:
            unstable += 1
            assert (w.p_wait, w.mean_wait_s) == (1.0, math.inf)
            continue
        # A connection that finds the child full waits, and so does every dropped request's.
        assert 0.0 <= w.p_full <= w.p_wait + 1e-12
        assert w.p_wait <= 1.0
        assert 0.0 <= w.mean_wait_s < math.inf
        assert w.tail <= 1e-15
        assert 64 <= w.levels <= 16_384
    assert 0 < unstable < 60


def test_without_keepalive_no_child_holds_a_worker_back() -> None:
    # No idle connection to keep the listener off: x = 0, Erlang C over every worker.
    assert held_back_share(8, 0.1, 0.0, 5.0, 2.0) == 0.0
    wait = children_wait(3, 8, 16.8, 0.1, 0.0)
    assert wait.servers == 24
    assert wait.p_wait == pytest.approx(erlang_c(24, 16.8), rel=1e-12)
    assert wait.mean_wait_s == pytest.approx(wait.p_wait * 0.1 / (24 - 16.8), rel=1e-12)


def test_a_held_back_child_alternates_with_a_full_one() -> None:
    # T mu g into the held-back state; out by the idle connection's request r, its close d or a
    # second worker freeing, (T - 1) mu: 4 threads of 100 ms, g = 0.7, r = 5/s, d = 2/s.
    x = held_back_share(4, 0.1, 0.7, 5.0, 2.0)
    assert x == pytest.approx(28.0 / (28.0 + 30.0 + 7.0), rel=1e-12)
    # Fewer workers for the waiting connections: more wait, and longer.
    wait = children_wait(3, 4, 8.4, 0.1, x)
    assert wait.servers == pytest.approx(12 - 3 * x)
    assert erlang_c(12, 8.4) < wait.p_wait < erlang_c(10, 8.4)
    assert wait.stable


def test_the_held_back_workers_can_leave_too_few_for_the_load() -> None:
    # Two children of 4 at 7.5 Erlangs hold 0.86 workers back: 7.14 left for 7.5 Erlangs, no
    # steady state (the queue grows), which Erlang C over all 8 would not say.
    x = held_back_share(4, 0.1, 0.7, 5.0, 2.0)
    wait = children_wait(2, 4, 7.5, 0.1, x)
    assert not wait.stable
    assert wait.p_wait == 1.0
    assert math.isinf(wait.mean_wait_s)
    assert erlang_c(8, 7.5) < 1.0
