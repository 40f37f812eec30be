"""Stationary law of a finite continuous-time Markov chain, by a sparse LU.

Stage: numeric core. Input: the chain's size and its transitions as arrays (source, target,
rate), and a likely state to pin. Output: the stationary distribution pi (pi Q = 0,
sum pi = 1) as a float array. numpy and scipy.sparse are imported on first use
(scipy.sparse.linalg costs about 0.3 s). A root search solves many chains that differ only in
a few rates: `Factors` keeps one LU from solve to solve, and the next chains are solved by
GMRES preconditioned with it (a few triangular solves each) until it stops converging fast.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from scipy import sparse
    from scipy.sparse.linalg import SuperLU

    FloatArray = npt.NDArray[np.float64]

# A kept LU that needs more GMRES iterations than this is refreshed (each iteration is one
# triangular solve, about 2 % of a factorization at 35,000 states).
_MAX_ITERATIONS = 12
# The normwise backward error accepted from GMRES: ||A x - b|| <= this (||A|| ||x|| + ||b||), as
# small as a direct solve's.
_BACKWARD_ERROR = 1e-14
# The pins tried by `stationary_near` before it gives up.
_MAX_PINS = 5


class Factors:
    """The LU of a chain solved before, reused for the next chains of the same size.

    Solving A x = b by GMRES with the LU of a nearby A0 as preconditioner converges in a few
    iterations when A0 differs from A in a few rates (or in the pinned row); when it does not
    within `_MAX_ITERATIONS`, or the result's backward error is above 1e-14, A is factored
    afresh and its LU kept. `direct` and `iterative` count the two kinds of solve.
    """

    def __init__(self) -> None:
        self.lu: SuperLU | None = None
        self.size = 0
        self.direct = 0
        self.iterative = 0

    def forget(self) -> None:
        """Drop the kept LU: the next solve is a direct one."""
        self.lu, self.size = None, 0

    def solve(self, a: sparse.csc_matrix, rhs: FloatArray) -> FloatArray:
        """x with a x = rhs; ArithmeticError when a is singular."""
        import numpy as np
        import scipy.sparse.linalg as sparse_linalg

        size = rhs.size
        if self.lu is not None and self.size == size:
            lu = self.lu
            preconditioner = sparse_linalg.LinearOperator((size, size), lu.solve)
            # An LU kept from a chain far from this one can send GMRES's iterates out of range;
            # the answer is checked below and solved directly when it is not one.
            with np.errstate(over="ignore", invalid="ignore"):
                x, _ = sparse_linalg.gmres(
                    a,
                    rhs,
                    x0=lu.solve(rhs),
                    M=preconditioner,
                    rtol=_BACKWARD_ERROR,
                    atol=0.0,
                    restart=_MAX_ITERATIONS,
                    maxiter=1,
                )
                scale = float(abs(a).sum(axis=1).max()) * float(np.abs(x).max()) + 1.0
                residual = np.abs(a @ x - rhs).max()
            if np.all(np.isfinite(x)) and residual <= _BACKWARD_ERROR * scale:
                self.iterative += 1
                solution: FloatArray = x
                return solution
        lu = dominant_lu(a, "the Markov chain has no stationary law")
        self.lu, self.size = lu, size
        self.direct += 1
        solved: FloatArray = lu.solve(rhs)
        return solved


def dominant_lu(a: sparse.csc_matrix, singular: str) -> SuperLU:
    """The LU of a column diagonally dominant matrix (a generator's balance equations, or minus
    its restriction to transient states): the diagonal pivots are stable, and a symmetric
    ordering of A + A^T keeps the fill in (1.5 to 2 times faster than a pivoted LU here, and
    far faster than scipy's default ordering: 9.4 s against 1.6 s on one 70,000-state chain).
    ArithmeticError(`singular`) when the matrix is singular."""
    import scipy.sparse.linalg as sparse_linalg

    try:
        return sparse_linalg.splu(
            a, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
        )
    except RuntimeError as exc:  # "Factor is exactly singular"
        raise ArithmeticError(singular) from exc


def stationary_distribution(
    size: int,
    source: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    rate: npt.NDArray[np.float64],
    pin: int = 0,
    *,
    factors: Factors | None = None,
    scaled: bool = False,
) -> npt.NDArray[np.float64]:
    """pi with pi Q = 0 and sum pi = 1: the balance equations with pi[pin] = 1 in place of the
    pinned state's own (it is implied by the others), then scaled to sum 1; with `factors`, by
    GMRES from the LU kept there when it converges fast (`Factors`). `scaled` solves for the
    embedded jump chain's law instead, each column divided by its state's rate out, then
    divides by the rates out: the same law, from a system whose columns all have the same
    scale (`stationary_near` turns to it when the plain one fails).

    Transitions with a rate of 0, and self-loops, are ignored; states the pinned one does not
    lead to are left out of the solve. The chain must have a single closed class, and `pin`
    must be in it; states outside it come out as 0. Pinning a likely state keeps the solution
    well scaled and the factors sparse (a row of ones for the sum fills the LU in: 3 to 10
    times slower at 4,000 to 60,000 states). The result is accurate to about 1e-15 absolute
    when pi[pin] is not tiny (the caller checks). ArithmeticError when
    the solve gives no distribution (a singular or badly scaled chain).
    """
    import numpy as np
    from scipy import sparse
    from scipy.sparse import csgraph

    keep = (rate > 0.0) & (source != target)
    src, dst, val = source[keep], target[keep], rate[keep]
    # Only the states the pinned one leads to can have pi > 0 (they are its closed class when
    # it is in one); the chain of those is solved alone. An event chain's states that last no
    # time are 40 to 70 % of it, and the LU's cost grows faster than its size.
    graph = sparse.csr_matrix((np.ones(src.size), (src, dst)), shape=(size, size))
    states = np.sort(csgraph.breadth_first_order(graph, pin, return_predecessors=False))
    full_size = size
    if states.size < size:
        position = np.full(size, -1)
        position[states] = np.arange(states.size)
        inner = (position[src] >= 0) & (position[dst] >= 0)
        src, dst, val = position[src[inner]], position[dst[inner]], val[inner]
        size, pin = states.size, int(position[pin])
    out = np.bincount(src, weights=val, minlength=size)
    balance = dst != pin
    every = np.arange(size)
    others = every != pin
    rows = np.concatenate([dst[balance], every[others], [pin]])
    cols = np.concatenate([src[balance], every[others], [pin]])
    if scaled:
        # Each column divided by its state's rate out: the unknowns are y = pi out, the
        # embedded jump chain's law up to a constant; row i holds the probabilities of a jump
        # into i and -1, the pinned row y[pin] = 1. A state with no way out (a pinned absorbing
        # one) keeps y = pi.
        rate_out = np.where(out > 0.0, out, 1.0)
        vals = np.concatenate([val[balance] / rate_out[src[balance]], -np.ones(size - 1), [1.0]])
        rhs_pin = 1.0
    else:
        # Q^T: row i holds the rates into i and minus the total rate out of i; the pinned row
        # becomes out[pin] pi[pin] = out[pin].
        rhs_pin = float(out[pin]) if out[pin] > 0.0 else 1.0
        vals = np.concatenate([val[balance], -out[others], [rhs_pin]])
    # Either way every column is diagonally dominant (its diagonal is the sum of the others),
    # so the LU needs no pivoting.
    a = sparse.csc_matrix((vals, (rows, cols)), shape=(size, size))
    rhs = np.zeros(size)
    rhs[pin] = rhs_pin
    solver = factors if factors is not None else Factors()
    solution = solver.solve(a, rhs)
    law = _normalised(solution / rate_out if scaled else solution)
    if size == full_size:
        return law
    pi = np.zeros(full_size)
    pi[states] = law
    return pi


def _normalised(solution: FloatArray) -> FloatArray:
    """A solve's result as a law: negatives (rounding) to 0, scaled to sum 1. ArithmeticError
    when it is not one (a singular or badly scaled chain)."""
    import numpy as np

    pi = np.maximum(np.asarray(solution, dtype=float), 0.0)
    total = float(pi.sum())
    if not math.isfinite(total) or total <= 0.0:
        raise ArithmeticError("the Markov chain has no stationary law")
    result: FloatArray = pi / total
    return result


def stationary_near(
    size: int,
    source: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    rate: npt.NDArray[np.float64],
    pin: int,
    *,
    floor: float = 1e-6,
    factors: Factors | None = None,
) -> tuple[npt.NDArray[np.float64], int]:
    """`stationary_distribution` pinning a state believed likely (a previous solve's mode); also
    the mode, for the next solve of a nearby chain (with the LU kept in `factors`, if given).

    When the pinned state's own balance equation (the one the pin replaces) fails by more than
    1e-6 relative, or the solve gives no law, the pinned state was transient or vanishingly
    rare at these rates (an overloaded event chain leaves its ready states for good): the
    mode of that solve is pinned, if it is in the closed class; when that fails too, the mode
    of the closed class's law solved with the sum in place of an equation (`_likely_state`),
    then the modes of the failed solves, then the state of the closed class with the smallest
    rate out, five pins in all. When the pinned state comes
    out below `floor`, the mode is pinned. When no pin gives a law, the same is done with the
    embedded jump chain's system (`stationary_distribution`'s `scaled`). ArithmeticError
    when the chain has no single closed class, or the last solve fails its pinned equation."""
    try:
        return _near(size, source, target, rate, pin, floor, factors, scaled=False)
    except ArithmeticError:
        # A chain whose rates span many orders of magnitude (an instant accept rate beside a
        # think time) can defeat the plain system at every pin (solves with entries of -1e21
        # on 2,377 states, pivoted or not): the embedded jump chain's, whose columns all have
        # the same scale, is tried before giving up.
        if factors is not None:
            factors.forget()
        return _near(size, source, target, rate, pin, floor, factors, scaled=True)


def _near(  # noqa: PLR0917 (stationary_near's arguments, and which system to solve)
    size: int,
    source: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    rate: npt.NDArray[np.float64],
    pin: int,
    floor: float,
    factors: Factors | None,
    *,
    scaled: bool,
) -> tuple[npt.NDArray[np.float64], int]:
    """`stationary_near` with the plain or the `scaled` system (`stationary_distribution`)."""
    import numpy as np

    def solve(state: int) -> tuple[npt.NDArray[np.float64], bool]:
        """The law pinning `state`, and whether its pinned equation holds. A GMRES answer
        from the kept LU meets a normwise test only; when the pinned equation fails it is
        solved again directly before the pin is blamed."""
        before = factors.iterative if factors is not None else 0
        pi = stationary_distribution(
            size, source, target, rate, state, factors=factors, scaled=scaled
        )
        settled = _balanced_at(state, pi, source, target, rate)
        if not settled and factors is not None and factors.iterative > before:
            factors.forget()
            pi = stationary_distribution(
                size, source, target, rate, state, factors=factors, scaled=scaled
            )
            settled = _balanced_at(state, pi, source, target, rate)
        return pi, settled

    def attempt(state: int) -> tuple[npt.NDArray[np.float64] | None, bool]:
        try:
            return solve(state)
        except ArithmeticError:
            return None, False

    pi, settled = attempt(pin)
    if not settled:
        # A pinned state the chain leaves for good (transient), or almost never visits and
        # leaves at once (an event chain's ready states under an instant accept rate), makes
        # the solve meaningless, however large it comes out: its own balance equation, the one
        # replaced, then fails; so does a state so rare that pinning it loses the precision
        # of its own equation. Pin instead a state of the closed class: the mode of that
        # solve, then the state the chain leaves most slowly (the nearest in the numbering
        # among equals), then the mode of that solve.
        member = _closed_class(size, source, target, rate)
        members = np.flatnonzero(member)
        moving = (rate > 0.0) & (source != target)
        out = np.bincount(source[moving], weights=rate[moving], minlength=size)[members]
        slowest = members[out <= out.min() * (1.0 + 1e-12)]
        slowest_pin = int(slowest[np.argmin(np.abs(slowest - pin))])
        tried = {pin}
        likely: int | None = None
        while not settled and len(tried) < _MAX_PINS:
            if len(tried) == 2:
                # The first solve's own mode did not settle either: look for the likely state
                # with the sum in place of an equation (`_likely_state`).
                likely = _likely_state(size, source, target, rate, member)
            candidates = [likely] if likely is not None else []
            if pi is not None and np.all(np.isfinite(pi)):
                mode = int(np.argmax(pi))
                if member[mode]:
                    candidates.append(mode)
            candidates.append(slowest_pin)
            fresh = [c for c in candidates if c not in tried]
            if not fresh:
                break
            pin = fresh[0]
            tried.add(pin)
            pi, settled = attempt(pin)
    if pi is None or not settled:
        raise ArithmeticError("the Markov chain's stationary law was not found")
    mode = int(np.argmax(pi))
    if pi[pin] < floor:
        pi, settled = solve(mode)
    if not settled:
        raise ArithmeticError("the Markov chain's stationary law was not found")
    return pi, mode


def _likely_state(
    size: int,
    source: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    rate: npt.NDArray[np.float64],
    member: npt.NDArray[np.bool_],
) -> int | None:
    """The mode of the closed class's law solved with a row of ones (sum pi = 1) in place of
    one balance equation, or None when that solve fails.

    A pinned solve scales its unknowns by the pinned state's probability, so a pin far in the
    tail (1e-131 of the time, in one event backlog chain of 27,426 states whose mass had moved
    as its root search stepped) leaves nothing but rounding in the likely states, and neither
    that solve's mode nor the slowest state is a better pin. The sum row keeps the unknowns at
    their own scale whatever equation it replaces; it fills the LU in (0.2 to 0.5 s at 27,000
    states) and is less accurate (1e-7 relative), so it only finds the state to pin."""
    import numpy as np
    import scipy.sparse.linalg as sparse_linalg
    from scipy import sparse

    members = np.flatnonzero(member)
    count = members.size
    position = np.full(size, -1)
    position[members] = np.arange(count)
    inner = member[source] & member[target]
    balance = _transposed_generator(
        count, position[source[inner]], position[target[inner]], rate[inner]
    ).tocsr()
    # The last state's balance equation gives way to the sum (any one is implied by the rest).
    last = count - 1
    a = sparse.vstack([balance[:last], sparse.csr_matrix(np.ones((1, count)))]).tocsc()
    rhs = np.zeros(count)
    rhs[last] = 1.0
    try:
        lu = sparse_linalg.splu(a, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.01)
    except RuntimeError:  # "Factor is exactly singular"
        return None
    solution = lu.solve(rhs)
    if not np.all(np.isfinite(solution)):
        return None
    return int(members[int(np.argmax(solution))])


def _closed_class(
    size: int,
    source: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    rate: npt.NDArray[np.float64],
) -> npt.NDArray[np.bool_]:
    """The states of the chain's closed class: the strongly connected component that no
    transition leaves. ArithmeticError when there is not exactly one."""
    import numpy as np
    from scipy import sparse
    from scipy.sparse import csgraph

    moving = (rate > 0.0) & (source != target)
    src, dst = source[moving], target[moving]
    graph = sparse.csr_matrix((np.ones(src.size), (src, dst)), shape=(size, size))
    count, labels = csgraph.connected_components(graph, directed=True, connection="strong")
    left = np.zeros(count, dtype=bool)
    left[labels[src][labels[src] != labels[dst]]] = True
    closed = np.flatnonzero(~left)
    if closed.size != 1:
        raise ArithmeticError(f"the Markov chain has {closed.size} closed classes, not one")
    member: npt.NDArray[np.bool_] = labels == closed[0]
    return member


def _balanced_at(
    state: int,
    pi: npt.NDArray[np.float64],
    source: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    rate: npt.NDArray[np.float64],
) -> bool:
    """The balance equation of `state` (flow in = flow out) holds to 1e-6 relative."""
    moving = source != target
    into = moving & (target == state)
    inflow = float(pi[source[into]] @ rate[into])
    outflow = float(pi[state] * rate[moving & (source == state)].sum())
    return abs(inflow - outflow) <= 1e-6 * max(inflow, outflow, 1e-300)


def _transposed_generator(
    size: int,
    source: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    rate: npt.NDArray[np.float64],
) -> sparse.csc_matrix:
    """Q^T: row j holds the rates into j and minus j's total rate out (transitions with a rate
    of 0, and self-loops, left out)."""
    import numpy as np
    from scipy import sparse

    keep = (rate > 0.0) & (source != target)
    src, dst, val = source[keep], target[keep], rate[keep]
    out = np.bincount(src, weights=val, minlength=size)
    rows = np.concatenate([dst, np.arange(size)])
    cols = np.concatenate([src, np.arange(size)])
    vals = np.concatenate([val, -out])
    return sparse.csc_matrix((vals, (rows, cols)), shape=(size, size))


def law_after_exponential_time(
    size: int,
    source: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    rate: npt.NDArray[np.float64],
    start: npt.NDArray[np.float64],
    *,
    speed: float,
) -> FloatArray:
    """The chain's law an exponential time of rate `speed` after it was in the law `start`:
    x = γ start (γI − Q)^{-1}, one sparse solve. (γI − Q)^T is column diagonally dominant (each
    column sums to γ), so `dominant_lu` needs no pivoting."""
    import numpy as np
    from scipy import sparse

    a = speed * sparse.identity(size, format="csc") - _transposed_generator(
        size, source, target, rate
    )
    lu = dominant_lu(a.tocsc(), "the chain's law after an exponential time was not found")
    return _normalised(lu.solve(speed * np.asarray(start, dtype=float)))


def passage_quantile(
    size: int,
    source: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    rate: npt.NDArray[np.float64],
    start: npt.NDArray[np.float64],
    *,
    absorbed: npt.NDArray[np.bool_],
    tail: float,
) -> tuple[float, float]:
    """The mean time to absorption from the law `start`, and the time t with P(T > t) = tail.

    The chain runs from `start` (a distribution over the states not `absorbed`) until it enters
    an absorbed state: a phase-type time. Its mean solves (-S) m = 1 on the transient states
    (S the generator restricted to them); its survival, start · exp(S t) · 1, is evaluated by
    scipy's `expm_multiply`, and the quantile found by doubling, then bisection to 1e-4
    relative, each step carried on from the last vector below it. ArithmeticError when
    absorption is not certain.
    """
    import numpy as np
    from scipy import sparse
    from scipy.sparse import linalg as sparse_linalg

    transient = ~absorbed
    # S^T: Q^T restricted to the transient states (their total rate out still counts the rates
    # into absorbed states).
    kept = np.flatnonzero(transient)
    s_t = sparse.csc_matrix(_transposed_generator(size, source, target, rate)[kept][:, kept])
    alpha = start[transient] / float(start[transient].sum())
    # Mean: alpha (-S)^{-1} 1 = 1 · (-S^T)^{-1} alpha^T. Each column of -S^T holds a state's
    # rate out on the diagonal and minus its rates to the other transient states.
    lu = dominant_lu(-s_t, "absorption is not certain from this start")
    mean = float(np.sum(lu.solve(alpha)))
    if not math.isfinite(mean) or mean <= 0.0:
        raise ArithmeticError("absorption is not certain from this start")

    def advance(v: FloatArray, dt: float) -> FloatArray:
        moved: FloatArray = sparse_linalg.expm_multiply(s_t * dt, v)
        return moved

    # The survival at t is the mass left in exp(S^T t) alpha; each step moves on from the
    # latest vector below the quantile, so the search costs about two passes over [0, t]
    # instead of one per point tried.
    lo, v_lo = 0.0, alpha
    hi, v_hi = mean, advance(alpha, mean)
    while float(np.sum(v_hi)) > tail:
        lo, v_lo = hi, v_hi
        hi, v_hi = 2.0 * hi, advance(v_hi, hi)
    while hi - lo > 1e-4 * hi:
        mid = 0.5 * (lo + hi)
        v_mid = advance(v_lo, mid - lo)
        if float(np.sum(v_mid)) > tail:
            lo, v_lo = mid, v_mid
        else:
            hi = mid
    return mean, hi


def survival_integral(
    size: int,
    source: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    rate: npt.NDArray[np.float64],
    start: npt.NDArray[np.float64],
    *,
    ending: npt.NDArray[np.bool_],
    horizon: float,
) -> float:
    """E[min(τ, t)] for the time τ to the first of the `ending` transitions, the chain started
    in the law `start`, and a fixed horizon t.

    The transitions flagged `ending` lead out of the chain (to a state outside it), so the mass
    still in it at time u is start · exp(S u) · 1, S the generator without them, and
    E[min(τ, t)] = ∫_0^t start · exp(S u) · 1 du. One `expm_multiply` of the generator bordered
    by a row of ones, which gathers that integral as the chain runs: d/du (v, w) = (S^T v, 1 · v)
    from (start, 0), so w(t) is the answer. `start` must sum to 1.
    """
    import numpy as np
    from scipy import sparse
    from scipy.sparse import linalg as sparse_linalg

    staying = ~ending
    # The rates of the ending transitions still count in a state's rate out (the diagonal).
    leaving = ending & (rate > 0.0)
    out = np.bincount(source[leaving], weights=rate[leaving], minlength=size)
    s_t = _transposed_generator(size, source[staying], target[staying], rate[staying])
    s_t = s_t - sparse.diags(out, format="csc")
    gathered = sparse.vstack([s_t, sparse.csr_matrix(np.ones((1, size)))])
    bordered = sparse.hstack([gathered, sparse.csc_matrix((size + 1, 1))]).tocsc()
    v0 = np.concatenate([np.asarray(start, dtype=float), [0.0]])
    moved: FloatArray = sparse_linalg.expm_multiply(bordered * horizon, v0)
    return float(moved[-1])
