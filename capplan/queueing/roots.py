"""Roots of small nonlinear systems: the fixed points the models couple their parts with.

Stage: numeric core. Input: a residual function of a few unknowns and a starting point.
Output: the root found and the evaluations spent. scipy.optimize is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]


def hybrid_root(
    residual: Callable[[FloatArray], FloatArray], start: FloatArray, *, xtol: float = 1e-10
) -> tuple[FloatArray, int]:
    """A root of `residual` by Powell's hybrid method (MINPACK's hybrd: a trust region over a
    Broyden-updated Jacobian, first taken by finite differences), from `start`; the point it
    stopped at and the evaluations it took. The caller checks the residual there: the method
    can stop short of a root."""
    from scipy.optimize import root

    found = root(residual, start, method="hybr", options={"xtol": xtol})
    point: FloatArray = found.x
    return point, int(found.nfev)
