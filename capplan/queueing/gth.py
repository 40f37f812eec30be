"""Stationary law of a small Markov chain by state reduction, in pure Python.

Stage: numeric core. Input: a chain's transition rates, one mapping per state (target state ->
rate), numbered so that most transitions stay near the diagonal. Output: the stationary
distribution as a list that sums to 1. The Grassmann-Taksar-Heyman reduction censors the states
from the last to the first, spreading each one's rates over the states left, and then rebuilds
the law from the first; it only adds, multiplies and divides positive numbers, so no
cancellation can cost a probability its relative accuracy, however small it is. A chain whose
transitions reach at most b states either side of the diagonal costs O(n b^2). For the event
model's small chains, where importing scipy.sparse would cost more than the solve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


def stationary_gth(rates: Sequence[Mapping[int, float]]) -> list[float]:
    """pi with pi Q = 0 and sum pi = 1 for the chain whose state i moves to j at `rates[i][j]`.

    Rates to the state itself are ignored. ArithmeticError when a state has no way back to the
    states before it once those after it are censored (the chain is not irreducible).
    """
    n = len(rates)
    if n == 0:
        raise ArithmeticError("a chain without states has no stationary law")
    out = [{j: r for j, r in row.items() if j != i and r > 0.0} for i, row in enumerate(rates)]
    into: list[dict[int, float]] = [{} for _ in range(n)]
    for i, row in enumerate(out):
        for j, r in row.items():
            into[j][i] = r
    leave = [0.0] * n
    for k in range(n - 1, 0, -1):
        down = {j: r for j, r in out[k].items() if j < k}
        total = sum(down.values())
        if total <= 0.0:
            raise ArithmeticError(f"state {k} of the chain cannot reach the states before it")
        leave[k] = total
        for i, r_ik in into[k].items():
            if i >= k:
                continue
            share = r_ik / total
            row = out[i]
            for j, r_kj in down.items():
                if j != i:
                    value = row.get(j, 0.0) + share * r_kj
                    row[j] = value
                    into[j][i] = value
    pi = [0.0] * n
    pi[0] = 1.0
    for k in range(1, n):
        pi[k] = sum(pi[i] * r for i, r in into[k].items() if i < k) / leave[k]
    norm = sum(pi)
    return [p / norm for p in pi]
