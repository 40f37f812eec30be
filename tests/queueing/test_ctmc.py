"""The sparse stationary solver against laws known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from capplan.queueing import erlang_b
from capplan.queueing.ctmc import (
    Factors,
    _likely_state,
    law_after_exponential_time,
    passage_quantile,
    stationary_distribution,
    stationary_near,
    survival_integral,
)


def _birth_death(servers: int, load: float, pin: int) -> np.ndarray:
    """M/M/c/c: arrivals at `load` per unit of holding time, departures n per unit."""
    n = np.arange(servers + 1)
    up, down = n[:-1], n[1:]
    source = np.concatenate([up, down])
    target = np.concatenate([up + 1, down - 1])
    rate = np.concatenate([np.full(servers, load), down.astype(float)])
    return stationary_distribution(servers + 1, source, target, rate, pin)


@pytest.mark.parametrize(("servers", "load"), [(1, 0.5), (8, 5.0), (40, 38.0), (200, 150.0)])
@pytest.mark.parametrize("pin", ["empty", "mode", "full"])
def test_loss_system_is_erlang_b(servers: int, load: float, pin: str) -> None:
    # Any state of the closed class may be pinned; the most likely one is the well-scaled one.
    state = {"empty": 0, "mode": min(servers, int(load)), "full": servers}[pin]
    pi = _birth_death(servers, load, state)
    assert math.isclose(pi[-1], erlang_b(servers, load), rel_tol=1e-9)
    assert math.isclose(float(pi.sum()), 1.0, rel_tol=1e-12)
    # Truncated Poisson, to 1e-9 relative or 1e-15 absolute (the solve's floor: states far
    # below it, like pi(0) = 1e-65 at 200 servers and load 150, come out as rounding noise).
    log_terms = np.array([n * math.log(load) - math.lgamma(n + 1) for n in range(servers + 1)])
    exact = np.exp(log_terms - log_terms.max())
    exact /= exact.sum()
    assert np.allclose(pi, exact, rtol=1e-9, atol=1e-15)


def test_states_outside_the_closed_class_get_nothing() -> None:
    # 0 <-> 1 and a state 2 that only leads into them.
    source = np.array([0, 1, 2])
    target = np.array([1, 0, 0])
    pi = stationary_distribution(3, source, target, np.array([2.0, 1.0, 5.0]))
    assert np.allclose(pi, [1 / 3, 2 / 3, 0.0])


def test_zero_rates_and_self_loops_are_ignored() -> None:
    source = np.array([0, 1, 0, 1])
    target = np.array([1, 0, 0, 0])
    pi = stationary_distribution(2, source, target, np.array([1.0, 3.0, 7.0, 0.0]))
    assert np.allclose(pi, [0.75, 0.25])


def test_a_far_pin_is_replaced_by_the_mode() -> None:
    # M/M/c/c at 200 servers and load 150: pi(0) is about 1e-65, far below the floor, so the
    # chain is solved again pinning the mode; the law is Erlang B's either way.
    servers, load = 200, 150.0
    n = np.arange(servers + 1)
    up, down = n[:-1], n[1:]
    source = np.concatenate([up, down])
    target = np.concatenate([up + 1, down - 1])
    rate = np.concatenate([np.full(servers, load), down.astype(float)])
    pi, mode = stationary_near(servers + 1, source, target, rate, 0)
    assert mode in {149, 150}  # pi(149) = pi(150) when the load is a whole number
    assert math.isclose(pi[-1], erlang_b(servers, load), rel_tol=1e-9)


def test_the_sum_row_finds_the_mode_without_a_pin() -> None:
    # M/M/c/c at 200 servers and load 150 with a transient tail of states 201-204 that only
    # lead into state 0: the solve with the sum in place of the last closed state's equation
    # finds the mode (149 or 150) without a pin, and leaves the tail out.
    servers, load = 200, 150.0
    n = np.arange(servers + 1)
    up, down = n[:-1], n[1:]
    tail = np.arange(servers + 1, servers + 5)
    source = np.concatenate([up, down, tail])
    target = np.concatenate([up + 1, down - 1, [*tail[1:], 0]])
    rate = np.concatenate([np.full(servers, load), down.astype(float), np.ones(4)])
    member = np.arange(servers + 5) <= servers
    assert _likely_state(servers + 5, source, target, rate, member) in {149, 150}


def _with_a_transient_tail(pin_rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """M/M/4/4 on states 0-4, and states 5-9 that only lead into it (5 -> 6 -> ... -> 9 -> 0),
    left at `pin_rate`."""
    n = np.arange(5)
    up, down = n[:-1], n[1:]
    tail = np.arange(5, 10)
    source = np.concatenate([up, down, tail])
    target = np.concatenate([up + 1, down - 1, [6, 7, 8, 9, 0]])
    rate = np.concatenate([np.full(4, 3.0), down.astype(float), np.full(5, pin_rate)])
    return source, target, rate


@pytest.mark.parametrize("pin_rate", [1e-3, 1.0, 1e6])
def test_a_transient_pin_is_replaced_by_a_state_of_the_closed_class(pin_rate: float) -> None:
    # Pinning state 7, which the chain leaves for good, solves nothing (its own balance
    # equation fails, or the solve gives no law); the state of the closed class nearest in the
    # numbering is pinned instead, and the law is Erlang B's on 0-4, 0 on the tail.
    source, target, rate = _with_a_transient_tail(pin_rate)
    pi, mode = stationary_near(10, source, target, rate, 7)
    assert mode in {2, 3}  # pi(2) = pi(3) at load 3
    assert math.isclose(pi[4], erlang_b(4, 3.0), rel_tol=1e-9)
    assert np.all(pi[5:] == 0.0)


def _two_queues(servers: int, load: float, share: float) -> tuple[np.ndarray, ...]:
    """Two M/M/c/c pools side by side (states (i, j), i, j <= servers) sharing arrivals at
    `load` by `share`: a product of Erlang B laws, and a two-dimensional chain whose LU fills
    in like an event chain's."""
    n = servers + 1
    i, j = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))
    state = i * n + j
    parts = [
        (i < servers, state + n, np.full(i.size, load * share)),
        (j < servers, state + 1, np.full(i.size, load * (1.0 - share))),
        (i > 0, state - n, i.astype(float)),
        (j > 0, state - 1, j.astype(float)),
    ]
    source = np.concatenate([state[m] for m, _, _ in parts])
    target = np.concatenate([t[m] for m, t, _ in parts])
    rate = np.concatenate([r[m] for m, _, r in parts])
    return source, target, rate


@pytest.mark.parametrize("speed", [1.0, 1e6])
def test_the_jump_chains_system_gives_the_same_law(speed: float) -> None:
    # The scaled system (each column over its state's rate out) solves for the embedded jump
    # chain's law and divides by the rates out: the same product of Erlang B marginals, here
    # with one pool's rates `speed` times the other's, as an instant accept rate makes them.
    servers = 12
    source, target, rate = _two_queues(servers, 8.0, 0.5)
    fast = (source // (servers + 1)) != (target // (servers + 1))
    rate = np.where(fast, rate * speed, rate)
    pin = 4 * (servers + 1) + 4
    plain = stationary_distribution((servers + 1) ** 2, source, target, rate, pin)
    scaled = stationary_distribution((servers + 1) ** 2, source, target, rate, pin, scaled=True)
    assert np.allclose(plain, scaled, rtol=1e-9, atol=1e-15)
    full_first = scaled.reshape(servers + 1, servers + 1)[-1].sum()
    assert math.isclose(full_first, erlang_b(servers, 4.0), rel_tol=1e-9)


def test_a_kept_lu_solves_nearby_chains_as_a_fresh_solve_does() -> None:
    # A root search's sequence: the same chain at loads a little apart, and a far jump. The
    # kept LU serves the nearby ones through GMRES (fewer factorizations than solves), the
    # jump is factored afresh, and every law is the exact product of Erlang B marginals.
    servers = 40
    factors = Factors()
    for load, share in [(30.0, 0.5), (30.3, 0.5), (30.3, 0.52), (30.31, 0.52), (60.0, 0.2)]:
        source, target, rate = _two_queues(servers, load, share)
        pin = int(load * share) * (servers + 1) + int(load * (1.0 - share))
        pi = stationary_distribution((servers + 1) ** 2, source, target, rate, pin, factors=factors)
        fresh = stationary_distribution((servers + 1) ** 2, source, target, rate, pin)
        assert np.allclose(pi, fresh, rtol=1e-10, atol=1e-15)
        full_first = pi.reshape(servers + 1, servers + 1)[-1].sum()
        # The pools are independent: each one's blocking is Erlang B at its own load.
        assert math.isclose(
            full_first, erlang_b(servers, load * share), rel_tol=1e-9, abs_tol=1e-15
        )
    assert factors.iterative >= 3
    assert factors.direct >= 2
    assert factors.direct + factors.iterative == 5


def test_only_the_states_the_pin_leads_to_are_solved() -> None:
    # The M/M/4/4 with its transient tail, pinned inside the closed class: the tail is left
    # out of the solve and comes out as 0.
    source, target, rate = _with_a_transient_tail(1.0)
    pi = stationary_distribution(10, source, target, rate, 2)
    assert math.isclose(pi[4], erlang_b(4, 3.0), rel_tol=1e-12)
    assert np.all(pi[5:] == 0.0)


def test_two_closed_classes_are_refused() -> None:
    # 0 <-> 1 and 2 <-> 3, unconnected, and the pinned state 4 leading into both.
    source = np.array([0, 1, 2, 3, 4, 4])
    target = np.array([1, 0, 3, 2, 0, 2])
    rate = np.ones(6)
    with pytest.raises(ArithmeticError, match="2 closed classes"):
        stationary_near(5, source, target, rate, 4)


def test_passage_through_a_death_chain_is_erlang_distributed() -> None:
    # From 3 down to 0 at rate 2 each step: an Erlang(3, 2) time, mean 1.5.
    from scipy.stats import gamma

    source = np.array([3, 2, 1])
    target = np.array([2, 1, 0])
    rate = np.full(3, 2.0)
    start = np.array([0.0, 0.0, 0.0, 1.0])
    absorbed = np.array([True, False, False, False])
    mean, quantile = passage_quantile(4, source, target, rate, start, absorbed=absorbed, tail=0.01)
    assert math.isclose(mean, 1.5, rel_tol=1e-12)
    assert math.isclose(quantile, float(gamma.ppf(0.99, 3, scale=0.5)), rel_tol=2e-4)


@pytest.mark.parametrize("horizon", [0.2, 1.5, 40.0])
def test_survival_integral_of_an_erlang_time(horizon: float) -> None:
    # From 3 down to 1 at rate 2 each step, then out at rate 2: an Erlang(3, 2) time τ, and
    # E[min(τ, t)] is the integral of its survival from 0 to t (mean 1.5 for a long horizon).
    from scipy.integrate import quad
    from scipy.stats import gamma

    source = np.array([3, 2, 1])
    target = np.array([2, 1, 1])
    rate = np.full(3, 2.0)
    ending = np.array([False, False, True])
    start = np.array([0.0, 0.0, 0.0, 1.0])
    got = survival_integral(4, source, target, rate, start, ending=ending, horizon=horizon)
    want, _ = quad(lambda u: float(gamma.sf(u, 3, scale=0.5)), 0.0, horizon)
    assert math.isclose(got, want, rel_tol=1e-9)
    if horizon > 30.0:
        assert math.isclose(got, 1.5, rel_tol=1e-9)


@pytest.mark.parametrize("speed", [0.01, 1.0, 100.0])
def test_law_after_an_exponential_time_of_two_states(speed: float) -> None:
    # 0 -> 1 at a, 1 -> 0 at b, from state 0: P(in 1 at an Exp(γ) time) = a / (γ + a + b)
    # (the Laplace transform of a/(a + b) (1 - e^{-(a + b) t}) at γ, times γ).
    a, b = 2.0, 3.0
    source, target = np.array([0, 1]), np.array([1, 0])
    law = law_after_exponential_time(
        2, source, target, np.array([a, b]), np.array([1.0, 0.0]), speed=speed
    )
    assert math.isclose(law[1], a / (speed + a + b), rel_tol=1e-12)
    assert math.isclose(float(law.sum()), 1.0, rel_tol=1e-12)


def test_law_after_an_exponential_time_spans_start_to_stationary() -> None:
    # A birth-death chain: soon after the start the law is still the start's; long after, the
    # stationary one.
    n = np.arange(11)
    up, down = n[:-1], n[1:]
    source = np.concatenate([up, down])
    target = np.concatenate([up + 1, down - 1])
    rate = np.concatenate([np.full(10, 4.0), down.astype(float)])
    start = np.zeros(11)
    start[10] = 1.0
    soon = law_after_exponential_time(11, source, target, rate, start, speed=1e9)
    late = law_after_exponential_time(11, source, target, rate, start, speed=1e-9)
    assert soon[10] > 1.0 - 1e-6
    stationary = stationary_distribution(11, source, target, rate, 4)
    assert np.allclose(late, stationary, atol=1e-7)
