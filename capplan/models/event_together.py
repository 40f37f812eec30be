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
* the others' N is split among them as independent children would split it given their total,
  each born at a rate proportional to its readiness and dying at μ per connection (a product
  form, `_split_by_total`): z(N), the probability that none of them is ready, comes from that
  split, and the number K of them ready is taken as Binomial(P - 1, s(N)) with s(N) a child's
  mean readiness under it;
* each open connection closes at the rate μ = Λ / (P · E[n]) (Little's law, taken as
  exponential: whether held sockets close exactly KeepAliveTimeout later or after an
  exponential time of that mean does not change how often the children cannot accept).

For two children the reduction is the pair's joint law of open connections, exact up to the
readiness averaging; for more the others are tied together through N and that split only.
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
    theirs, none_by_total = _split_by_total(np.arange(r_lo, r_hi + 1), p - 1, readiness, mean)
    # Rates: Λ split as the module docstring says; μ per open connection.
    lam = connections_per_s
    mu = lam / (p * mean)
    t = np.repeat(np.arange(n_t), n_r)
    o = np.tile(np.arange(n_r), n_t)
    r_t, s_o = mine[t], theirs[o]
    none_other = none_by_total[o]
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


def _split_by_total(
    totals: IntArray, others: int, readiness: FloatArray, mean: float
) -> tuple[FloatArray, FloatArray]:
    """s(N) and z(N) for each total N of `others` children: a child's mean readiness, and the
    probability that none of them is ready, with N split among them as the product form says.

    Each child is taken as a birth-death process of its open connections, born at a rate
    proportional to its readiness r(n) and dying at μ per connection; independent such children
    conditioned on their total have the law ∏_j w(n_j) / Σ, w(k) = θ^k/k! ∏_{i<k} r(i) (θ any
    positive constant: it cancels; the child's mean keeps w in range). A readiness that does not
    depend on n gives the multinomial split of random routing; one that falls near a limit
    keeps the children from piling up beyond it and balances them. Sums of w over the children
    are convolutions; beyond the readiness table a child is not ready and cannot grow.
    """
    import numpy as np

    size = readiness.size
    if others == 1:
        inside = np.minimum(totals, size - 1)
        ready: FloatArray = np.where(totals < size, readiness[inside], 0.0)
        none: FloatArray = 1.0 - ready
        return ready, none
    k = np.arange(size)
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, size)))])
    with np.errstate(divide="ignore"):
        log_r = np.log(readiness)
    grown = np.concatenate([[0.0], np.cumsum(log_r[:-1])])
    log_w = k * math.log(max(mean, 1e-300)) - log_factorial + grown
    top = float(np.max(log_w[np.isfinite(log_w)]))
    w = np.where(np.isfinite(log_w), np.exp(log_w - top), 0.0)
    w_ready, w_not = w * readiness, w * (1.0 - readiness)
    # The sums over the others but one (`rest`), and over all of them (`all_w`, and `all_not`
    # with every one unready), kept at a common scale.
    rest = np.ones(1)
    all_not = np.ones(1)
    for _ in range(others - 1):
        rest = np.convolve(rest, w)
        all_not = np.convolve(all_not, w_not)
        scale = float(rest.max())
        rest, all_not = rest / scale, all_not / scale
    all_w = np.convolve(rest, w)
    all_not = np.convolve(all_not, w_not)
    one_ready = np.convolve(rest, w_ready)
    inside = totals < all_w.size
    at = np.minimum(totals, all_w.size - 1)
    mass = np.where(inside, all_w[at], 0.0)
    held = mass > 0.0
    safe = np.where(held, mass, 1.0)
    mean_ready: FloatArray = np.where(held, one_ready[at] / safe, 0.0)
    none_ready: FloatArray = np.where(held, all_not[at] / safe, 1.0)
    return mean_ready, np.minimum(none_ready, 1.0)
