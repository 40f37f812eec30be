"""event's connection-slot pool: the probability that no process can accept a new connection.

Stage: event model, slot level (derivations §4.3, normative). Input: workers `c`, the effective
AsyncRequestWorkerFactor `F`, the mean busy workers `a_b` and the mean open connections that hold
no worker `a_y`. Output: `ConnectionLimit` with the independence estimate `P_limit`, its
dependence-free bound, and the pooled Erlang C as the lower reference.

A process accepts while `conns - lingering < TPC + F * idle` (F5); summed over processes, "no
process can accept" needs `(1+F) min(N, c) + (N - c)^+ + Y >= (1+F) c`, where N is the number of
requests in service or waiting (M/M/c) and Y ~ Poisson(a_y) the idle connections
(`connection_limit`). That pooled sum is necessary, not sufficient: with several processes each
must be at its own limit, which `children_at_limit` takes child by child (the open connections
split evenly among them, each busy independently); `ThresholdTails` steps the binomial tails
both it and `slot_wait` need.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from capplan.queueing.erlang import erlang_c
from capplan.queueing.poisson import poisson_cdf, poisson_logpmf, poisson_sf

# Terms below this fraction of the running sum are dropped once they can only shrink.
_NEGLIGIBLE = 1e-18


@dataclass(frozen=True, slots=True)
class ConnectionLimit:
    """P(no process can accept), three ways (all in [0, 1]).

    `p_limit`: independence estimate (M/G/inf colouring theorem). `p_limit_bound`: holds for
    any dependence between N and Y; `bound_argmin` is the n* that attains it (None when the
    bound saturates at 1). `pooled_c`: C(c, a_b), "every worker busy", a lower reference only.
    """

    p_limit: float
    p_limit_bound: float
    bound_argmin: int | None
    pooled_c: float


def _request_level_window(c: int, a_b: float, pooled_c: float) -> tuple[int, list[float]]:
    """(lo, pi[lo:hi]): pi_n = (1 - C) Pois(n; a_b) / P(Pois(a_b) <= c-1) for n in [lo, hi).

    Computed outward from the mode with `p(n+1) = p(n) a/(n+1)`, accurate to |n - mode| ulps;
    the window stops where the terms fall below 1e-300 of the mode's (binary64 cannot add them
    to anything), so its length grows with sqrt(a_b), not with c.
    """
    scale = (1.0 - pooled_c) / poisson_cdf(c - 1, a_b)
    mode = min(math.floor(a_b), c - 1)
    upper = [scale * math.exp(poisson_logpmf(mode, a_b))]
    n = mode + 1
    floor = upper[0] * 1e-300
    while n < c and upper[-1] > floor:
        upper.append(upper[-1] * a_b / n)
        n += 1
    lower: list[float] = []
    value = upper[0]
    n = mode
    while n > 0 and value > floor:
        value = value * n / a_b
        lower.append(value)
        n -= 1
    lower.reverse()
    return mode - len(lower), lower + upper


def _tail_at_least(k: int, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu)."""
    return poisson_sf(k - 1, mu)


# `ThresholdTails` computes a tail afresh below this (a sum started there lacks bits).
_FRESH_BELOW = 1e-250
# `children_at_limit` sums only the counts whose terms are within this (log) of its largest.
_LOG_TERM_REACH = math.log(1e-20)
# Smallest probability a falling tail is summed on from (below it binary64 loses bits), and the
# tail above which it is computed afresh (as a complement, accurate near 1).
_FULL_PRECISION = 1e-290
_LOG_FULL_PRECISION = math.log(_FULL_PRECISION)
_SUMMED_UP_TO = 0.5
# A tail summed downward (k rising) starts afresh once it has fallen below this share of its start.
_SHRINK_LIMIT = 1e-3


class _FallingTail:
    """P(X >= k) for X ~ Poisson(mu) at thresholds k that move a few steps at a time.

    Each step adds (k falls) or removes (k rises) the probabilities of the values it passes,
    `P(X = j-1) = P(X = j) j / mu`, instead of summing the tail afresh: both sums in
    `connection_limit` visit thresholds that move by F or 1 + F per step, and a fresh tail costs
    O(sqrt(mu)) terms. A growing sum keeps its relative error to a few ulps per step; a shrinking
    one loses bits as it falls, so it starts afresh once it is below 1e-3 of where it started.
    Above 0.5 the complement P(X < k) is carried instead (the accurate form near 1), and below
    1e-290 it starts afresh (a subnormal start lacks bits).
    """

    __slots__ = ("certain_below", "complement", "k", "mu", "pmf", "start", "value")

    def __init__(self, mu: float) -> None:
        self.mu = mu
        # Thresholds up to this one are below the mean by so much that P(X < k) < 1e-290: the
        # tail is 1.0 in binary64 (and stays so further down, where the pmf only falls).
        self.certain_below = 0
        self.k: int | None = None
        self.pmf = 0.0
        self.value = 0.0  # the tail, or its complement when `complement`
        self.start = 0.0
        self.complement = False

    def at(self, k: int) -> float:
        """P(X >= k); near 1 it is carried as its complement P(X < k), which then shrinks."""
        if k <= self.certain_below:
            return 1.0
        if (
            self.k is None
            or self.pmf < _FULL_PRECISION
            or (self.complement == (k > self.k) and self.value < _SHRINK_LIMIT * self.start)
        ):
            return self._fresh(k)
        sign = -1.0 if self.complement else 1.0
        at, mu, pmf, value = self.k, self.mu, self.pmf, self.value
        while at > k:
            pmf *= at / mu
            at -= 1
            value += sign * pmf
        while at < k:
            value -= sign * pmf
            at += 1
            pmf *= mu / at
        self.k, self.pmf, self.value = at, pmf, value
        if value <= 0.0 or pmf < _FULL_PRECISION:
            return self._fresh(k)
        if self.complement:
            return 1.0 - value
        return value if value < 1.0 else 1.0

    def _fresh(self, k: int) -> float:
        if k < self.mu and poisson_logpmf(k, self.mu) < _LOG_FULL_PRECISION:
            # Below the mode the pmf rises with k, so P(X < k) < pmf(k) mu / (mu - k) is far
            # below an ulp of 1: what the sum would give, without summing it at every step.
            self.certain_below = max(self.certain_below, k)
            return 1.0
        tail = _tail_at_least(k, self.mu)
        self.k, self.complement = k, tail > _SUMMED_UP_TO
        self.value = poisson_cdf(k - 1, self.mu) if self.complement else tail
        self.pmf = math.exp(poisson_logpmf(k, self.mu))
        self.start = self.value
        return tail


def connection_limit(
    workers: int, factor: int, busy_erlangs: float, idle_connections_mean: float
) -> ConnectionLimit:
    """P_limit and its bound (derivations §4.3).

    `P_limit = C(c, a_b) + sum_{n<c} pi_n P(Y >= (1+F)(c-n))`, Y ~ Poisson(a_y);
    `bound = min_{n*} [P(N >= n*) + P(X >= c + F(c - n*))]`, X ~ Poisson(a_b + Lq + a_y),
    Lq = C a_b / (c - a_b). Cost O(c) Poisson tails at most.
    """
    c, f, a_b, a_y = workers, factor, busy_erlangs, idle_connections_mean
    if c < 1 or f < 1:
        raise ValueError(f"need workers >= 1 and factor >= 1, got {c}, {f}")
    if a_b >= c:
        return ConnectionLimit(1.0, 1.0, None, 1.0)
    pooled = erlang_c(c, a_b)
    lo, window = _request_level_window(c, a_b, pooled)
    hi = lo + len(window)  # pi_n = 0 for n outside [lo, hi)
    above = [0.0] * (len(window) + 1)  # above[n - lo] = P(N >= n, N < c) = sum of pi[n:]
    for i in range(len(window) - 1, -1, -1):
        above[i] = above[i + 1] + window[i]

    def pi(n: int) -> float:
        return window[n - lo] if lo <= n < hi else 0.0

    def mass_above(n: int) -> float:
        return above[(lo if n < lo else hi if n > hi else n) - lo]

    # Independence estimate: from the mode upward until the remaining mass is negligible, then
    # downward, where both factors shrink with every step.
    rising = _FallingTail(a_y)  # upward from the mode, (1 + F)(c - n) falls
    falling = _FallingTail(a_y)  # downward from it, the threshold rises

    def term(n: int) -> float:
        return pi(n) * falling.at((1 + f) * (c - n))

    mode = min(math.floor(a_b), c - 1)
    total = 0.0
    # Every tail factor is at most the one at the top of the window (its threshold is the
    # smallest), so the sum is at most (1 - C) times it. When that cannot change P_limit in
    # binary64 (far from the limit, where sizing searches spend most of their evaluations), the
    # O(sqrt(a_b)) walk below is skipped: it would add nothing but underflowed terms.
    top_tail = _tail_at_least((1 + f) * (c - min(c, hi) + 1), a_y)
    negligible = (1.0 - pooled) * top_tail <= _NEGLIGIBLE * pooled
    for n in range(mode, mode if negligible else min(c, hi)):
        total += pi(n) * rising.at((1 + f) * (c - n))
        if mass_above(n + 1) * top_tail <= _NEGLIGIBLE * total or pooled + total >= 1.0:
            break  # nothing left that binary64 can add (P_limit is at most 1)
    for n in range(mode - 1, mode - 1 if negligible else lo - 1, -1):
        step = term(n)
        total += step
        if step * (a_b / (a_b - n) + 1.0) <= _NEGLIGIBLE * total or pooled + total >= 1.0:
            break
    p_limit = min(1.0, pooled + total)

    # Dependence-free bound: the least of P(N >= n*) + P(X >= c + F(c - n*)) over n*. The first
    # term falls and the second rises with n*. Above the window P(N >= n*) is the constant C, so
    # there only n* = c and n* = hi can be the least; below, only the n* whose first term is
    # already smaller than the value at the top can beat it. Those are scanned upward, where the
    # threshold of the second term falls by F per step and its tail grows by a few terms.
    mean_x = a_b + pooled * a_b / (c - a_b) + a_y
    top = min(c, hi)

    def value_at(n_star: int, tail: float) -> float:
        return pooled + mass_above(n_star) + tail

    ceiling = value_at(top, _tail_at_least(c + f * (c - top), mean_x))
    # Smallest n* whose first term is below the value at the top (it falls as n* grows).
    low, high = 0, top
    while low < high:
        middle = (low + high) // 2
        if pooled + mass_above(middle) < ceiling:
            high = middle
        else:
            low = middle + 1
    x_tail = _FallingTail(mean_x)
    best, best_n = math.inf, c
    start = low
    if low < lo:
        # Below the window P(N >= n*) is the whole window's mass for every n*, and the second
        # term grows with n*: of those n*, only the smallest can be the least. Scanning them
        # one by one cost O(c) deep-tail evaluations when the load is far above the window.
        start = lo
        tail = _tail_at_least(c + f * (c - low), mean_x)
        if tail < ceiling:
            best, best_n = value_at(low, tail), low
    for n_star in range(start, top):
        tail = x_tail.at(c + f * (c - n_star))
        if tail >= min(best, ceiling):
            break  # the second term only grows with n*: nothing above beats the best any more
        value = value_at(n_star, tail)
        if value <= best:  # ties go to the larger n*, as a downward scan keeps the first
            best, best_n = value, n_star
    if ceiling <= best:
        best, best_n = ceiling, top
    elif best < math.inf:
        # The summed tails find the least n*; its value is taken afresh (near 1 the complement
        # carried through the scan is a few ulps per step off).
        best = value_at(best_n, _tail_at_least(c + f * (c - best_n), mean_x))
    if top < c:
        value = pooled + _tail_at_least(c, mean_x)  # n* = c: P(N >= c) = C
        if value <= best:
            best, best_n = value, c
    # The bound holds for the independent law too, so it is never below P_limit; near 1 the two
    # sums can round the other way by an ulp.
    bound = min(1.0, max(best, p_limit))
    return ConnectionLimit(p_limit, bound, best_n if best < 1.0 else None, pooled)


def _binomial_tail(at_least: int, trials: int, p: float) -> float:
    """P(B >= at_least) for B ~ Binomial(trials, p), summed from the side where it is small.

    Above the mean the terms from `at_least` up are summed, below it the complement's terms
    from `at_least - 1` down: both fall geometrically away from the mean, so the sum stops
    after O(sqrt(trials p (1 - p))) terms at full relative accuracy of the smaller side.
    """
    if at_least <= 0:
        return 1.0
    if at_least > trials:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    upper = at_least > trials * p
    j = at_least if upper else at_least - 1
    term = _binomial_point(j, trials, p)
    odds = p / (1.0 - p)
    total = 0.0
    while term > 0.0:
        total += term
        if term <= _NEGLIGIBLE * total:
            break
        if upper:
            if j == trials:
                break
            term *= (trials - j) / (j + 1) * odds
            j += 1
        else:
            if j == 0:
                break
            term *= j / ((trials - j + 1) * odds)
            j -= 1
    return min(1.0, total) if upper else max(0.0, 1.0 - total)


class ThresholdTails:
    """P(Binomial(k, p) >= m(k)) for k = first, first + 1, ..., with the threshold
    m(k) = min(top, ceil((capacity - k) / F)) (0 from k >= capacity on): how often k connections,
    each busy with probability p, hold at least m(k) busy workers.

    `children_at_limit` uses it for one child (capacity (1 + F) TPC, top TPC), `slot_wait` for
    the server (capacity its slots, top its workers). m(k) falls by at most one per step, so each
    step is O(1): with f = P(B_k = m - 1), `P(B_{k+1} >= m) = P(B_k >= m) + p f` and
    `P(B_{k+1} = m - 1) = f (k + 1)(1 - p)/(k + 2 - m)`, and when m falls, its new term is
    added. The sum only grows, so it keeps its relative accuracy; where it would start below
    1e-250 (a subnormal start lacks bits) each k is computed afresh (`_binomial_tail`) until it
    is above.
    """

    __slots__ = ("capacity", "factor", "first", "mass", "needed", "p", "pmf", "top", "values")

    def __init__(self, capacity: float, top: int, factor: int, p: float) -> None:
        self.capacity, self.top, self.factor, self.p = capacity, top, factor, p
        self.first = 0
        self.values: list[float] = []
        self.mass = 0.0  # P(B_k >= needed) at the last k computed
        self.pmf = 0.0  # P(B_k = needed - 1) there; 0 when the next k is computed afresh
        self.needed = 0

    def threshold(self, k: int) -> int:
        """m(k)."""
        if k >= self.capacity:
            return 0
        return min(self.top, math.ceil((self.capacity - k) / self.factor))

    def start(self, first: int) -> None:
        """Begin (again) at k = first."""
        self.first, self.values, self.pmf = first, [], 0.0

    def at(self, k: int) -> float:
        """P(B_k >= m(k)), k >= first."""
        while self.first + len(self.values) <= k:
            self.values.append(self._next(self.first + len(self.values)))
        return self.values[k - self.first]

    def walk(self, first: int, last: int) -> Iterator[tuple[int, float, float, int]]:
        """(k, P(B_k >= m(k)), P(B_k = m(k)), m(k)) for k = first ... last - 1, in order (`at`
        and the point probability at the threshold, without keeping the values; `_next`'s step
        inlined, the inner loop of `slot_wait_given_wait`)."""
        self.start(first)
        p = self.p
        odds = p / (1.0 - p) if p < 1.0 else math.inf
        capacity, top, factor = self.capacity, self.top, self.factor
        ceil = math.ceil
        for k in range(first, last):
            needed = 0 if k >= capacity else ceil((capacity - k) / factor)
            needed = top if top < needed else needed  # min(), without the call
            pmf, old = self.pmf, self.needed
            if pmf > 0.0 and 1 <= needed <= k and 0 <= old - needed <= 1 and p < 1.0:
                # `_next`'s step, inlined: this loop is the models' hottest.
                mass = self.mass + p * pmf
                pmf = pmf * k * (1.0 - p) / (k + 1 - old)
                if needed < old:
                    mass += pmf
                    pmf *= needed / (k - needed + 1) * (1.0 - p) / p
                mass = mass if mass < 1.0 else 1.0  # min(1.0, mass)
                self.mass, self.pmf, self.needed = mass, pmf, needed
                yield k, mass, pmf * (k - needed + 1) / needed * odds, needed
                continue
            mass = self._next(k)
            needed = self.needed
            if mass <= 0.0 or needed < 1 or needed > k:
                point = 0.0
            elif self.pmf > 0.0:
                point = self.pmf * (k - needed + 1) / needed * odds
            elif p >= 1.0:
                point = 1.0 if needed == k else 0.0
            else:
                point = _binomial_point(needed, k, p)
            yield k, mass, point, needed

    def _next(self, k: int) -> float:
        needed, p = self.threshold(k), self.p
        if needed <= 0 or p >= 1.0:
            self.needed, self.pmf, self.mass = needed, 0.0, 1.0 if needed <= k else 0.0
            return self.mass
        if needed > k or p <= 0.0:
            self.needed, self.pmf, self.mass = needed, 0.0, 0.0
            return 0.0
        if self.pmf > 0.0 and self.needed - needed in (0, 1):
            # From k - 1 to k at the old threshold, then the new threshold's term.
            mass = self.mass + p * self.pmf
            pmf = self.pmf * k * (1.0 - p) / (k + 1 - self.needed)
            if needed < self.needed:
                mass += pmf
                pmf *= needed / (k - needed + 1) * (1.0 - p) / p
            self.mass, self.pmf, self.needed = min(1.0, mass), pmf, needed
            return self.mass
        mass = _binomial_tail(needed, k, p)
        self.mass, self.needed, self.pmf = mass, needed, 0.0
        if mass > _FRESH_BELOW:
            self.pmf = _binomial_point(needed - 1, k, p)
        return mass


def _binomial_point(j: int, trials: int, p: float) -> float:
    """P(B = j) for B ~ Binomial(trials, p), 0 <= j <= trials, 0 < p < 1."""
    return math.exp(
        math.lgamma(trials + 1)
        - math.lgamma(j + 1)
        - math.lgamma(trials - j + 1)
        + j * math.log(p)
        + (trials - j) * math.log1p(-p)
    )


def children_at_limit(
    processes: int,
    threads_per_child: int,
    factor: int,
    busy_erlangs: float,
    idle_connections_mean: float,
) -> float:
    """P(no child can accept) child by child (derivations §4.3): every one of P children at
    its own limit at once, which the pooled `connection_limit` overstates.

    A child with b busy workers and k open connections is at its limit when
    `F b + k >= (1 + F) TPC` (b >= TPC included). The open connections X ~ Poisson(a_b + a_y)
    change only when one is accepted or closes, slowly; near the limits the listeners split
    them evenly, since a child at its limit takes no new one while the others fill up to theirs,
    so the children hold floor(X / P) or one more. Which of a child's k connections hold a
    worker changes on the time scale of a request: each does with probability a_b / (a_b + a_y),
    independently (colouring theorem) and independently of the other children, so
    `P = sum_x P(X = x) q(floor(x/P) + 1)^(x mod P) q(floor(x/P))^(P - x mod P)` with
    `q(k) = P(Binomial(k, a_b / (a_b + a_y)) >= min(TPC, ceil(((1 + F) TPC - k) / F)))`.
    For one child it is the independence estimate with Poisson busy workers. It rises with the
    load and the busy workers and falls with TPC and F; with more idle connections alone it can
    fall a little where they are few (the even split of mostly busy connections makes each
    child's busy workers less variable than they are), which no sizing search meets: a higher
    request rate raises both loads.
    Domain: P, TPC, F >= 1, loads >= 0.
    """
    p, tpc, f = processes, threads_per_child, factor
    x = busy_erlangs + idle_connections_mean
    if x <= 0.0:
        return 0.0
    shares = ThresholdTails((1 + f) * tpc, tpc, f, busy_erlangs / x)
    q = shares.at

    # A child with fewer than TPC connections is never at its limit: x >= P TPC is needed; one
    # with (1 + F) TPC or more always is, so from x = P (1 + F) TPC on every term is the
    # Poisson weight and their sum is the tail P(X >= P (1 + F) TPC). Below the mean by 12
    # standard deviations the weights are under 1e-31 of the mode's, and so are the terms
    # there against the mode's term (q only grows with k).
    capacity = (1 + f) * tpc
    spread = math.sqrt(x)
    first = max(p * tpc, math.floor(x - 12.0 * spread))
    if poisson_logpmf(first, x) < _LOG_FULL_PRECISION:
        return 0.0
    certain = poisson_sf(p * capacity - 1, x)
    if first >= p * capacity:
        return min(1.0, certain)
    # Which counts below that matter: the term at x = k P, t(k) = log P(X = kP) + P log q(k).
    # Below the mean both parts fall as k falls, so the largest term is at k >= x / P: from
    # there the scan goes down while t(k) is within 1e-20 of the largest (or of the tail), and
    # up until the weight alone (q <= 1) is 1e-20 below it. Between kP and (k + 1) P the log of
    # the terms is a line (log q, child by child) plus the concave log P(X = x), at most
    # P^2 / (8 x) above the chord: only the groups next to a k whose term is within 1e-20 of the
    # largest are summed, count by count (O(P) counts each, where every count would be
    # O(sqrt(x)) of them).
    reach = _LOG_TERM_REACH
    log_x = math.log(x)

    def log_terms(k: int) -> tuple[float, float]:
        # lgamma's form: its error, ~1e-16 k P log(k P), only moves the range by a hair.
        log_weight = k * p * log_x - x - math.lgamma(k * p + 1)
        closed_k = q(k)
        return log_weight, log_weight + p * math.log(closed_k) if closed_k > 0.0 else -math.inf

    lowest = first // p
    shares.start(lowest)
    middle = min(max(lowest, math.floor(x / p)), capacity - 1)
    best = math.log(certain) if certain > 0.0 else -math.inf
    logs: list[tuple[int, float]] = []
    k = middle
    while k < capacity:
        log_weight, log_term = log_terms(k)
        if k * p > x and log_weight < max(best + reach, _LOG_FULL_PRECISION):
            break  # terms below 1e-290 change no probability
        best = max(best, log_term)
        logs.append((k, log_term))
        k += 1
    k = middle - 1
    while k >= lowest:
        _, log_term = log_terms(k)
        if log_term < max(best + reach, _LOG_FULL_PRECISION):
            break
        logs.append((k, log_term))
        k -= 1
    logs.sort()
    kept = [j for j, log_term in logs if log_term >= max(best + reach, _LOG_FULL_PRECISION)]
    if not kept:
        return min(1.0, certain)
    count = max(first, (kept[0] - 1) * p)
    weight = math.exp(poisson_logpmf(count, x))
    total = certain
    for k in range(count // p, min(kept[-1] + 2, capacity)):
        # Group k: x = kP + e, e children with k + 1 connections and P - e with k, so the
        # product of the children's shares grows by q(k + 1) / q(k) from one x to the next.
        low, high = q(k), q(k + 1)
        extra = count - k * p
        ratio = high / low if low > 0.0 else 0.0
        product = low ** (p - extra) * high**extra
        direct = product < _FRESH_BELOW  # could underflow on the way: each term afresh
        group = 0.0
        for e in range(extra, p):
            if direct:
                product = low ** (p - e) * high**e
            group += weight * product
            product *= ratio
            count += 1
            weight *= x / count
        total += group
    return min(1.0, total)
