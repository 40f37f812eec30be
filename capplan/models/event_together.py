"""How often the other children cannot accept while one cannot (docs/derivations.md §4.8).

Stage: part of the event backlog chain (`capplan.models.event_backlog`), behind
`--event-model chain`. Input: the number of children P, a child's law of open connections and
its readiness by them (both read off the backlog chain's own stationary law,
`readiness_by_open`), and the server's accepted connections per second. Output: P(no other child
can accept | this one cannot), which the backlog chain then uses in place of independent
children.

The children fill up together: a child at its limit sends its share of the new connections to
the others, which are near their own limits too when the total they share is high, and that
total moves only as fast as connections close. A chain per child cannot see this. Here each child
is reduced to its open connections n, whose fast part (busy workers, the listener's state) is
averaged into a readiness r(n), and the server to the tagged child's n and the others' total N:

* a new connection (rate Λ) goes to the tagged child when it is ready and wins the race among
  the ready children, E[1 / (1 + K)] with K ready others; to the others when one of them is
  ready and the tagged child does not take it; when none is ready it waits and goes to the first
  that becomes ready, the tagged child with probability 1/P;
* the others' N is split among them as it would be at random (each n_j binomial with 1/(P - 1)),
  each ready with the mean readiness s(N) over that split, independently given N, so
  K ~ Binomial(P - 1, s(N)) and no other is ready with probability (1 - s(N))^(P - 1);
* each open connection closes at the rate μ = Λ / (P · E[n]) (Little's law, taken as
  exponential: whether held sockets close exactly KeepAliveTimeout later or after an
  exponential time of that mean does not change how often the children cannot accept).

For two children the reduction is the pair's joint law of open connections, exact up to the
readiness averaging; for more the others are tied together through N only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from capplan.queueing.ctmc import stationary_near

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]

# Open connections kept around the means: the chain's own support for the tagged child, and
# this many standard deviations of the others' total (a Poisson-like count: far less than
# 1e-15 of it lies beyond).
_SPREAD = 10.0
# The largest reduced chain solved; beyond it the children are taken as independent.
MAX_STATES = 300_000


def readiness_by_open(
    busy: IntArray, idle: IntArray, ready: npt.NDArray[np.bool_], pi: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """A child's law of open connections n = b + y and its readiness given n, from a
    stationary law over the chain's states (1 below the chain's support, 0 above it)."""
    import numpy as np

    n = busy + idle
    size = int(n.max()) + 1
    mass = np.bincount(n, weights=pi, minlength=size)
    ready_mass = np.bincount(n[ready], weights=pi[ready], minlength=size)
    seen = mass > 1e-300
    readiness = np.zeros(size)
    readiness[seen] = ready_mass[seen] / mass[seen]
    first = int(np.argmax(seen))
    readiness[:first] = 1.0
    law: FloatArray = mass / float(mass.sum())
    return law, readiness


def none_ready_given_one(
    processes: int,
    open_law: FloatArray,
    readiness: FloatArray,
    connections_per_s: float,
) -> float | None:
    """P(no other child can accept | the tagged child cannot), from the reduced chain; None
    for one child, when the tagged child is always ready, or beyond `MAX_STATES`."""
    import numpy as np

    p = processes
    if p < 2:
        return None
    sizes = np.arange(open_law.size)
    mean = float(open_law @ sizes)
    spread = float(open_law @ (sizes - mean) ** 2)
    if mean <= 0.0 or connections_per_s <= 0.0:
        return None
    # The tagged child's range: where its law has mass (down to 1e-15 of it).
    held = np.nonzero(open_law > 1e-15 * float(open_law.max()))[0]
    lo, hi = int(held[0]), int(held[-1])
    others_mean = (p - 1) * mean
    others_sd = math.sqrt((p - 1) * max(spread, mean))
    r_lo = max(0, math.floor(others_mean - _SPREAD * others_sd))
    r_hi = min((p - 1) * (open_law.size - 1), math.ceil(others_mean + _SPREAD * others_sd))
    n_t, n_r = hi - lo + 1, r_hi - r_lo + 1
    if n_t * n_r > MAX_STATES:
        return None
    mine = readiness[lo : hi + 1]
    if float(open_law[lo : hi + 1] @ (1.0 - mine)) <= 0.0:
        return None
    theirs = _mean_readiness(np.arange(r_lo, r_hi + 1), p - 1, readiness)
    # Rates: Λ split as the module docstring says; μ per open connection.
    lam = connections_per_s
    mu = lam / (p * mean)
    t = np.repeat(np.arange(n_t), n_r)
    o = np.tile(np.arange(n_r), n_t)
    r_t, s_o = mine[t], theirs[o]
    none_other = (1.0 - s_o) ** (p - 1)
    # E[1 / (1 + K)], K ~ Binomial(P - 1, s): (1 - (1 - s)^P) / (P s), 1 at s = 0.
    safe = np.maximum(s_o, 1e-12)
    share = np.where(s_o > 1e-12, (1.0 - (1.0 - s_o) ** p) / (p * safe), 1.0)
    to_tagged = lam * (r_t * share + (1.0 - r_t) * none_other / p)
    to_others = lam - to_tagged
    state = t * n_r + o
    sources: list[IntArray] = []
    targets: list[IntArray] = []
    rates: list[FloatArray] = []
    for mask, target, rate in (
        (t < n_t - 1, state + n_r, to_tagged),
        (o < n_r - 1, state + 1, to_others),
        (t > 0, state - n_r, (t + lo) * mu),
        (o > 0, state - 1, (o + r_lo) * mu),
    ):
        sources.append(state[mask])
        targets.append(target[mask])
        rates.append(np.asarray(rate[mask], dtype=float))
    pin = int(np.argmin(np.abs(t + lo - mean) + np.abs(o + r_lo - others_mean)))
    pi, _ = stationary_near(
        n_t * n_r,
        np.concatenate(sources),
        np.concatenate(targets),
        np.concatenate(rates),
        pin,
    )
    not_me = float(pi @ (1.0 - r_t))
    if not_me <= 0.0:
        return None
    return min(1.0, float(pi @ ((1.0 - r_t) * none_other)) / not_me)


def _mean_readiness(totals: IntArray, others: int, readiness: FloatArray) -> FloatArray:
    """s(N): a child's readiness averaged over its share of N connections split at random among
    `others` children (binomial with 1/others; beyond the readiness table, not ready)."""
    import numpy as np

    if others == 1:
        inside = np.minimum(totals, readiness.size - 1)
        result: FloatArray = np.where(totals < readiness.size, readiness[inside], 0.0)
        return result
    k = np.arange(readiness.size)
    n = totals[:, None]
    q = 1.0 / others
    valid = k[None, :] <= n
    kk = np.minimum(k[None, :], n)
    # log m! for every m up to the largest total, as a running sum of logs.
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, int(totals.max()) + 1)))])
    log_pmf = (
        log_factorial[n]
        - log_factorial[kk]
        - log_factorial[n - kk]
        + kk * math.log(q)
        + (n - kk) * math.log(1.0 - q)
    )
    pmf = np.where(valid, np.exp(log_pmf), 0.0)
    mean: FloatArray = pmf @ readiness
    return mean
