"""The pure-Python stationary solver (capplan.queueing.gth) against closed forms and numpy."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from capplan.queueing.gth import stationary_gth


def _birth_death(size: int, up: float, down: float) -> list[dict[int, float]]:
    rates: list[dict[int, float]] = [{} for _ in range(size)]
    for k in range(size - 1):
        rates[k][k + 1] = up
        rates[k + 1][k] = down
    return rates


def test_a_birth_death_chain_is_geometric() -> None:
    # M/M/1/K: pi_k = rho^k (1 - rho) / (1 - rho^(K+1)).
    rho, size = 0.7, 40
    pi = stationary_gth(_birth_death(size, rho, 1.0))
    norm = (1 - rho) / (1 - rho**size)
    for k, p in enumerate(pi):
        assert p == pytest.approx(norm * rho**k, rel=1e-13)


def test_tiny_probabilities_keep_their_relative_accuracy() -> None:
    # Subtraction-free: 1e-270 comes out as exactly as 0.5 does.
    rho, size = 1e-3, 91
    pi = stationary_gth(_birth_death(size, rho, 1.0))
    norm = (1 - rho) / (1 - rho**size)
    assert pi[-1] == pytest.approx(norm * rho ** (size - 1), rel=1e-12)
    assert pi[-1] < 1e-260


def test_a_random_chain_matches_a_dense_solve() -> None:
    rng = random.Random(7)
    size = 9
    rates = [
        {j: rng.uniform(0.1, 3.0) for j in range(size) if j != i and rng.random() < 0.5}
        for i in range(size)
    ]
    for i in range(size):  # a ring keeps it irreducible
        rates[i][(i + 1) % size] = rates[i].get((i + 1) % size, 0.0) + 0.5
    generator = np.zeros((size, size))
    for i, row in enumerate(rates):
        for j, r in row.items():
            generator[i, j] += r
            generator[i, i] -= r
    system = generator.T.copy()
    system[0, :] = 1.0
    rhs = np.zeros(size)
    rhs[0] = 1.0
    expected = np.linalg.solve(system, rhs)
    assert stationary_gth(rates) == pytest.approx(list(expected), rel=1e-11)
    assert math.fsum(stationary_gth(rates)) == pytest.approx(1.0, rel=1e-15)


def test_self_rates_are_ignored() -> None:
    rates = _birth_death(5, 2.0, 1.0)
    with_self = [{**row, i: 9.0} for i, row in enumerate(rates)]
    assert stationary_gth(with_self) == stationary_gth(rates)


def test_a_chain_that_cannot_return_has_no_law() -> None:
    rates: list[dict[int, float]] = [{1: 1.0}, {2: 1.0}, {}]  # state 2 absorbs
    with pytest.raises(ArithmeticError, match="state 2"):
        stationary_gth(rates)
    with pytest.raises(ArithmeticError):
        stationary_gth([])
