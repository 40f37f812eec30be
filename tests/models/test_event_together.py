"""The reduced chain of open connections (`capplan.models.event_together`).

Its accuracy against the simulator is checked where it is used, in
`test_event_backlog.test_two_children_of_25_fill_up_together_whatever_the_hold_law` and on the
simulator grid; here, what it must give whatever the traffic.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest

from capplan.models.event_together import _split_by_total, none_ready_given_one, readiness_by_open


def poisson_law(mean: float, size: int) -> npt.NDArray[np.float64]:
    n = np.arange(size)
    log = n * math.log(mean) - mean - np.array([math.lgamma(k + 1.0) for k in n])
    law: npt.NDArray[np.float64] = np.exp(log)
    return law / float(law.sum())


def test_one_child_has_no_others() -> None:
    law = poisson_law(20.0, 60)
    assert none_ready_given_one(1, law, np.full(60, 0.5), 10.0) is None


def test_a_child_always_ready_needs_no_correction() -> None:
    law = poisson_law(20.0, 60)
    assert none_ready_given_one(2, law, np.ones(60), 10.0) is None


@pytest.mark.parametrize("processes", [2, 3, 5])
def test_readiness_that_ignores_the_connections_leaves_the_children_independent(
    processes: int,
) -> None:
    # Whatever a child's open connections, it is ready 0.7 of the time: the others are then as
    # often all unready whether or not the tagged one is.
    size = 200
    law = poisson_law(20.0, size)
    got = none_ready_given_one(processes, law, np.full(size, 0.7), 30.0)
    assert got is not None
    assert math.isclose(got, 0.3 ** (processes - 1), rel_tol=1e-9)


@pytest.mark.parametrize("processes", [2, 3, 6])
def test_a_connection_limit_makes_the_children_fill_up_together(processes: int) -> None:
    # Ready below 25 open connections, never at or above: near the limit the tagged child is
    # full when the total is high, and then so are the others, more often than on average.
    size = 80
    law = poisson_law(20.0, size)
    readiness = (np.arange(size) < 25).astype(float)
    got = none_ready_given_one(processes, law, readiness, 30.0)
    assert got is not None
    full = float(law @ (1.0 - readiness))
    assert full ** (processes - 1) < got < 1.0
    # Two children fill up together more than three children all do.
    if processes == 2:
        three = none_ready_given_one(3, law, readiness, 30.0)
        assert three is not None
        assert three < got


def test_the_others_split_as_independent_children_given_their_total() -> None:
    # Three others whose births stop with their readiness: every split of each total N,
    # weighted by the product of w(n) = θ^n/n! ∏_{i<n} r(i), gives a child's mean readiness and
    # the probability that none is ready; the convolutions must agree with the enumeration.
    size, mean = 12, 4.0
    readiness = np.clip(1.0 - (np.arange(size) - 5.0) / 4.0, 0.0, 1.0)
    w = [mean**n / math.factorial(n) * math.prod(readiness[:n]) for n in range(size)]
    totals = np.arange(0, 25)
    ready, none = _split_by_total(totals, 3, readiness, mean)
    for total in totals:
        mass = ready_mass = none_mass = 0.0
        for a, b in itertools.product(range(size), repeat=2):
            c = int(total) - a - b
            if not 0 <= c < size:
                continue
            weight = w[a] * w[b] * w[c]
            mass += weight
            ready_mass += weight * readiness[a]
            none_mass += weight * (1 - readiness[a]) * (1 - readiness[b]) * (1 - readiness[c])
        assert math.isclose(ready[total], ready_mass / mass, rel_tol=1e-9, abs_tol=1e-15)
        assert math.isclose(none[total], none_mass / mass, rel_tol=1e-9, abs_tol=1e-15)


def test_beyond_the_state_budget_the_children_stay_independent() -> None:
    size = 3000
    law = poisson_law(1500.0, size)
    readiness = (np.arange(size) < 1550).astype(float)
    assert none_ready_given_one(40, law, readiness, 100.0) is None


def test_readiness_by_open_connections() -> None:
    busy = np.array([0, 1, 0, 2, 1, 3])
    idle = np.array([1, 0, 2, 0, 2, 1])
    ready = np.array([True, False, True, True, False, False])
    pi = np.array([0.1, 0.3, 0.2, 0.2, 0.1, 0.1])
    law, readiness = readiness_by_open(busy, idle, ready, pi)
    # Open connections n = b + y: 1 for the first two states (ready 0.1 of 0.4), 2 for the next
    # two (both ready), 3 and 4 for the last two (not ready); n = 0 never occurs: ready.
    assert np.allclose(law, [0.0, 0.4, 0.4, 0.1, 0.1])
    assert np.allclose(readiness, [1.0, 0.25, 1.0, 0.0, 0.0])
