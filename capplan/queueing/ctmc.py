"""Stationary law of a finite continuous-time Markov chain, by a sparse LU.

Stage: numeric core. Input: the chain's size and its transitions as arrays (source, target,
rate). Output: the stationary distribution pi (pi Q = 0, sum pi = 1) as a float array. numpy
and scipy.sparse are imported on first use (scipy.sparse.linalg costs about 0.3 s).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def stationary_distribution(
    size: int,
    source: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    rate: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """pi with pi Q = 0 and sum pi = 1, the sum in place of state 0's balance equation.

    Transitions with a rate of 0, and self-loops, are ignored. The chain must have a single
    closed class containing state 0; states outside it come out as 0. The result is accurate
    to about 1e-15 absolute (states far less likely are rounding noise). ArithmeticError when
    the solve gives no distribution (a singular or badly scaled chain).
    """
    import numpy as np
    import scipy.sparse.linalg as sparse_linalg
    from scipy import sparse

    keep = (rate > 0.0) & (source != target)
    src, dst, val = source[keep], target[keep], rate[keep]
    out = np.bincount(src, weights=val, minlength=size)
    # Q^T: row i holds the rates into i and minus the total rate out of i; row 0 becomes the
    # normalisation.
    every = np.arange(size)
    balance = dst != 0
    rows = np.concatenate([dst[balance], every[1:], np.zeros(size, dtype=np.int64)])
    cols = np.concatenate([src[balance], every[1:], every])
    vals = np.concatenate([val[balance], -out[1:], np.ones(size)])
    a = sparse.csc_matrix((vals, (rows, cols)), shape=(size, size))
    rhs = np.zeros(size)
    rhs[0] = 1.0
    pi = np.maximum(np.asarray(sparse_linalg.spsolve(a, rhs), dtype=float), 0.0)
    total = float(pi.sum())
    if not math.isfinite(total) or total <= 0.0:
        raise ArithmeticError("the Markov chain has no stationary law")
    result: npt.NDArray[np.float64] = pi / total
    return result
