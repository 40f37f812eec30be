"""Powell's hybrid method on systems whose roots are known."""

from __future__ import annotations

import math

import numpy as np

from capplan.queueing.roots import hybrid_root


def test_circle_and_diagonal() -> None:
    # x² + y² = 4 and x = y: the root (√2, √2) from a start in its quadrant.
    def residual(v: np.ndarray) -> np.ndarray:
        return np.array([v[0] ** 2 + v[1] ** 2 - 4.0, v[0] - v[1]])

    point, evaluations = hybrid_root(residual, np.array([1.0, 0.5]))
    assert np.allclose(point, [math.sqrt(2.0), math.sqrt(2.0)], atol=1e-9)
    assert 0 < evaluations < 50


def test_a_fixed_point_of_erlang_b_thinning() -> None:
    # The load a loss system with 5 servers carries when what it blocks returns once more:
    # x = 4 (1 + B(5, x)), whose root is checked by substitution.
    from capplan.queueing import erlang_b

    def residual(v: np.ndarray) -> np.ndarray:
        return np.array([v[0] - 4.0 * (1.0 + erlang_b(5, v[0]))])

    point, _ = hybrid_root(residual, np.array([4.0]))
    x = float(point[0])
    assert math.isclose(x, 4.0 * (1.0 + erlang_b(5, x)), rel_tol=1e-9)
    assert 4.0 < x < 8.0
