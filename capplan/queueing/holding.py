"""Keep-alive connection holding time H: how long one connection occupies a prefork/worker worker.

Stage: queueing engine (input side). Input: `HoldingInputs` (per-request service time, the visit
shape, think time, KeepAliveTimeout, MaxKeepAliveRequests, the client's idle-hold probability,
lingering close, and an optional kill hazard for event's "kill'em all"). Output: `HoldingTime`
(E[R] requests per connection, connections per request, E[H], E[H^2], SCV, mean idle time).

Model (derivations §2, assumptions H1-H8): a visit issues N requests sequentially. After a response
the next request comes after an Exp(Z) think gap; the server keeps the connection while the gap is
at most T (the effective KeepAliveTimeout), and closes after the k-th request on a connection
(k = MaxKeepAliveRequests + 1, see `requests_per_connection_cap`). After the visit's last request
the client keeps the socket open with probability q (the server idles T). Each close adds L.
With a kill hazard h a gap ends at min(gap, T, Exp(h)) (derivations §4.4).

Geometric N uses the closed forms (§2.2) and the backward recursion for E[H^2] (§2.5, with an O(1)
closed form of that affine recursion for very large k); fixed N and mixtures use the exact
forward DP over the position on the connection (§2.4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import assert_never

from capplan.queueing.erlang import check_load

__all__ = [
    "FixedVisits",
    "GapMoments",
    "GeometricVisits",
    "HoldingInputs",
    "HoldingTime",
    "MixedVisits",
    "VisitShape",
    "gap_moments",
    "holding_time",
    "mean_holding_insensitive",
    "requests_per_connection_cap",
]

# Backward recursion steps run one by one up to this many; beyond it the closed form is used.
_RECURSION_MAX_STEPS = 100_000


def requests_per_connection_cap(
    keepalive: bool, max_keepalive_requests: int, keepalive_timeout_s: float
) -> float:
    """k, the most requests one connection carries: K+1, inf for K = 0, 1 without keep-alive.

    # NOTE: ap_set_keepalive() (modules/http/http_protocol.c) grants keep-alive while
    # `keep_alive_max - keepalives > 0` and only then counts it, so requests 1..K are kept alive
    # and request K+1 gets `Connection: close`; it also requires keep_alive_timeout > 0.
    """
    if isinstance(max_keepalive_requests, bool) or not isinstance(max_keepalive_requests, int):
        raise TypeError(f"MaxKeepAliveRequests must be an integer, got {max_keepalive_requests!r}")
    if max_keepalive_requests < 0:
        raise ValueError(f"MaxKeepAliveRequests must be >= 0, got {max_keepalive_requests}")
    if not keepalive or keepalive_timeout_s <= 0.0:
        return 1.0
    if max_keepalive_requests == 0:
        return math.inf
    return float(max_keepalive_requests + 1)


@dataclass(frozen=True, slots=True)
class GeometricVisits:
    """N geometric on {1, 2, ...} with mean `mean_requests` >= 1 (memoryless visits)."""

    mean_requests: float

    def __post_init__(self) -> None:
        m = check_load(self.mean_requests, "requests per visit")
        if m < 1.0:
            raise ValueError(f"requests per visit must be >= 1, got {m!r}")


@dataclass(frozen=True, slots=True)
class FixedVisits:
    """Every visit issues exactly `requests` >= 1 requests."""

    requests: int

    def __post_init__(self) -> None:
        if isinstance(self.requests, bool) or not isinstance(self.requests, int):
            raise TypeError(f"requests per visit must be an integer, got {self.requests!r}")
        if self.requests < 1:
            raise ValueError(f"requests per visit must be >= 1, got {self.requests}")


@dataclass(frozen=True, slots=True)
class MixedVisits:
    """P(N = n) proportional to `weight` for each `(n, weight)`; n >= 1 distinct, weights > 0."""

    weights: tuple[tuple[int, float], ...]

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("a visit mixture needs at least one (requests, weight) pair")
        seen: set[int] = set()
        for n, w in self.weights:
            FixedVisits(n)
            if check_load(w, "mixture weight") <= 0.0:
                raise ValueError(f"mixture weights must be > 0, got {w!r}")
            if n in seen:
                raise ValueError(f"requests per visit {n} appears twice in the mixture")
            seen.add(n)

    @property
    def mean_requests(self) -> float:
        total = math.fsum(w for _, w in self.weights)
        return math.fsum(n * w for n, w in self.weights) / total


VisitShape = GeometricVisits | FixedVisits | MixedVisits


@dataclass(frozen=True, slots=True)
class HoldingInputs:
    """Inputs of the holding-time model; times in seconds.

    `service_s` S and `service_scv` cS2 (E[S^2] = (1 + cS2) S^2); `think_s` Z, the mean think
    gap (exponential); `keepalive_timeout_s` T; `max_keepalive_requests` K (0 = unlimited);
    `keepalive` False for `KeepAlive Off`; `idle_hold_probability` q; `linger_s` L;
    `kill_rate_per_s` h, the hazard of the server closing an idle connection (event, §4.4).
    """

    service_s: float
    visits: VisitShape
    think_s: float
    keepalive_timeout_s: float
    max_keepalive_requests: int = 100
    keepalive: bool = True
    service_scv: float = 1.0
    idle_hold_probability: float = 1.0
    linger_s: float = 0.0
    kill_rate_per_s: float = 0.0

    def __post_init__(self) -> None:
        check_load(self.service_s, "service time")
        check_load(self.service_scv, "service-time SCV")
        check_load(self.think_s, "think time")
        check_load(self.keepalive_timeout_s, "KeepAliveTimeout")
        check_load(self.linger_s, "linger time")
        check_load(self.kill_rate_per_s, "kill rate")
        if not 0.0 <= self.idle_hold_probability <= 1.0:
            raise ValueError(
                f"idle-hold probability must be in [0, 1], got {self.idle_hold_probability!r}"
            )
        requests_per_connection_cap(
            self.keepalive, self.max_keepalive_requests, self.keepalive_timeout_s
        )

    @property
    def cap(self) -> float:
        """k: requests per connection at most (F1)."""
        return requests_per_connection_cap(
            self.keepalive, self.max_keepalive_requests, self.keepalive_timeout_s
        )

    @property
    def service_second_moment_s2(self) -> float:
        return (1.0 + self.service_scv) * self.service_s * self.service_s


@dataclass(frozen=True, slots=True)
class HoldingTime:
    """Holding time of one connection (steady state, per connection).

    `requests_per_conn` E[R]; `conn_per_req` 1/E[R]; `mean_s` E[H]; `second_moment_s2` E[H^2];
    `scv` E[H^2]/E[H]^2 - 1; `mean_idle_s` E[I], the idle keep-alive time (H minus service and
    linger).
    """

    requests_per_conn: float
    conn_per_req: float
    mean_s: float
    second_moment_s2: float
    scv: float
    mean_idle_s: float


@dataclass(frozen=True, slots=True)
class GapMoments:
    """Moments of one keep-alive gap D = min(think gap, T, Exp(h)) after an uncapped request.

    `p_reuse` P(the next request arrives first); `mean_s` E[D], `second_s2` E[D^2];
    `reuse_mean_s` E[D; reuse], `reuse_second_s2` E[D^2; reuse]; `final_mean_s` theta and
    `final_second_s2` theta2, the moments of the final idle time after the visit's last request.
    """

    p_reuse: float
    mean_s: float
    second_s2: float
    reuse_mean_s: float
    reuse_second_s2: float
    final_mean_s: float
    final_second_s2: float


def _gammainc_int(n: int, x: float) -> float:
    """Regularised lower incomplete gamma P(n, x) = 1 - e^-x sum_{i<n} x^i/i!, n = 2 or 3.

    Series for small x (no cancellation), closed form otherwise.
    """
    if x == 0.0:
        return 0.0
    if x < 1.0:
        # e^-x sum_{i>=n} x^i / i!
        term = x**n / math.factorial(n)
        total = 0.0
        i = n
        while term > 1e-18 * total:
            total += term
            i += 1
            term *= x / i
        return math.exp(-x) * total
    if x > 2000.0 + 10.0 * n:
        # e^-x x^(n-1) is below 1e-800 there; x^i alone would overflow for x > 1e154.
        return 1.0
    return 1.0 - math.exp(-x) * sum(x**i / math.factorial(i) for i in range(n))


def gap_moments(inputs: HoldingInputs) -> GapMoments:
    """Gap and final-idle moments (derivations §2.5, generalised with the kill hazard of §4.4).

    With rate lam = 1/Z + h and x = lam T: P(end before T) = 1 - e^-x, p = (1/Z)/lam (1 - e^-x),
    E[D] = (1 - e^-x)/lam, E[D^2] = 2 P(2, x)/lam^2, E[D; reuse] = (1/(Z lam)) P(2, x)/lam,
    E[D^2; reuse] = (1/(Z lam)) 2 P(3, x)/lam^2; theta = q E[min(T, Exp(h))] (q T for h = 0).
    For h = 0 these are e1 = Z P(2, T/Z) and e2 = 2 Z^2 P(3, T/Z) of §2.5.
    """
    t = inputs.keepalive_timeout_s
    z = inputs.think_s
    h = inputs.kill_rate_per_s
    q = inputs.idle_hold_probability
    if inputs.cap == 1.0:
        return GapMoments(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    if h == 0.0:
        theta, theta2 = q * t, q * t * t
    elif h * t < 1e-9:
        # E[min(T, Exp(h))] = T (1 - hT/2 + ...), E[min^2] = T^2 (1 - 2hT/3 + ...): the closed
        # forms below divide by h and h^2, which underflow for such a small hazard.
        theta = q * t * (1.0 - h * t / 2.0)
        theta2 = q * t * t * (1.0 - 2.0 * h * t / 3.0)
    else:
        theta = q * -math.expm1(-h * t) / h
        theta2 = q * 2.0 * _gammainc_int(2, h * t) / (h * h)
    if z == 0.0:  # the next request is immediate: every gap is reused and takes no time
        return GapMoments(1.0, 0.0, 0.0, 0.0, 0.0, theta, theta2)
    lam = 1.0 / z + h
    x = lam * t
    share = 1.0 / (1.0 + h * z)  # (1/Z)/lam: the request wins the race
    ended = -math.expm1(-x)
    p2 = _gammainc_int(2, x)
    return GapMoments(
        p_reuse=share * ended,
        mean_s=ended / lam,
        second_s2=2.0 * p2 / (lam * lam),
        reuse_mean_s=share * p2 / lam,
        reuse_second_s2=share * 2.0 * _gammainc_int(3, x) / (lam * lam),
        final_mean_s=theta,
        final_second_s2=theta2,
    )


def holding_time(inputs: HoldingInputs) -> HoldingTime:
    """E[R], E[H], E[H^2] and the SCV of the connection holding time (derivations §2.2-2.5)."""
    match inputs.visits:
        case GeometricVisits(mean_requests=m):
            return _geometric(inputs, m)
        case FixedVisits(requests=n):
            return _forward_dp(inputs, ((n, 1.0),))
        case MixedVisits(weights=weights):
            return _forward_dp(inputs, weights)
        case _:
            assert_never(inputs.visits)


def _result(inputs: HoldingInputs, requests_per_conn: float, h1: float, s1: float) -> HoldingTime:
    """Add the lingering close L to (h1, s1) = (E[H - L], E[(H - L)^2]) and derive the rest."""
    linger = inputs.linger_s
    mean = h1 + linger
    second = s1 + 2.0 * linger * h1 + linger * linger
    return HoldingTime(
        requests_per_conn=requests_per_conn,
        conn_per_req=1.0 / requests_per_conn,
        mean_s=mean,
        second_moment_s2=second,
        # Both are differences of nearly equal sums; rounding may leave -1e-16 where the exact
        # value is 0 (a constant holding time, or no idle time at all).
        # Divided twice: mean * mean underflows to 0 for a mean below 1e-154 s.
        scv=max(0.0, second / mean / mean - 1.0) if mean > 0.0 else 0.0,
        mean_idle_s=max(0.0, h1 - inputs.service_s * requests_per_conn),
    )


def _geometric(inputs: HoldingInputs, m: float) -> HoldingTime:
    """Geometric N: closed forms for E[R] and E[I], backward recursion for E[H^2] (§2.2, §2.5).

    Every connection is statistically identical (the rest of a geometric visit is geometric), so
    position j on the connection is the only state: h_j = S + y1(h_{j+1}), s_j likewise.
    """
    k = inputs.cap
    g = gap_moments(inputs)
    s, s2 = inputs.service_s, inputs.service_second_moment_s2
    r = 1.0 - 1.0 / m
    alpha = r * g.p_reuse
    # Affine recursion h_j = A + alpha h_{j+1}, s_j = b0 + b1 h_{j+1} + alpha s_{j+1}.
    idle_after = (1.0 - r) * g.final_mean_s + r * g.mean_s  # expected idle after a request
    coef_a = s + idle_after
    b0 = s2 + 2.0 * s * idle_after + (1.0 - r) * g.final_second_s2 + r * g.second_s2
    b1 = 2.0 * r * (s * g.p_reuse + g.reuse_mean_s)
    if math.isinf(k):
        h1 = coef_a / (1.0 - alpha)
        s1 = (b0 + b1 * h1) / (1.0 - alpha)
        return _result(inputs, 1.0 / (1.0 - alpha), h1, s1)
    steps = int(k) - 1  # from position k down to 1
    recurse = _affine_steps if steps <= _RECURSION_MAX_STEPS else _affine_closed_form
    h1, s1 = recurse(AffineMoments(coef_a, b0, b1, alpha, s, s2), steps)
    # E[R] = (1 - alpha^k)/(1 - alpha); expm1/log keep it exact for alpha near 1.
    return _result(inputs, _geometric_sum(alpha, int(k)), h1, s1)


@dataclass(frozen=True, slots=True)
class AffineMoments:
    """The recursion h_j = a + alpha h_{j+1}, s_j = b0 + b1 h_{j+1} + alpha s_{j+1}.

    Started at position k with (h_k, s_k) = (S, E[S^2]).
    """

    a: float
    b0: float
    b1: float
    alpha: float
    h_last: float
    s_last: float


def _affine_steps(rec: AffineMoments, steps: int) -> tuple[float, float]:
    """(h_1, s_1) after `steps` = k - 1 steps of the backward recursion, one at a time."""
    h, sec = rec.h_last, rec.s_last
    for _ in range(steps):
        h, sec = rec.a + rec.alpha * h, rec.b0 + rec.b1 * h + rec.alpha * sec
    return h, sec


def _affine_closed_form(rec: AffineMoments, steps: int) -> tuple[float, float]:
    """(h_1, s_1) after d = `steps` steps in O(1), for 0 <= alpha < 1.

    h(d) = h* + g alpha^d with h* = a/(1-alpha), g = S - h*; then
    s(d) = s* + b1 g d alpha^(d-1) + (E[S^2] - s*) alpha^d with s* = (b0 + b1 h*)/(1-alpha)
    (the resonant term d alpha^(d-1) comes from forcing by h's own alpha^d).
    """
    h_star = rec.a / (1.0 - rec.alpha)
    s_star = (rec.b0 + rec.b1 * h_star) / (1.0 - rec.alpha)
    gap = rec.h_last - h_star
    alpha_d = rec.alpha**steps
    h1 = h_star + gap * alpha_d
    s1 = s_star + rec.b1 * gap * steps * rec.alpha ** (steps - 1) + (rec.s_last - s_star) * alpha_d
    return h1, s1


def _geometric_sum(alpha: float, n: int) -> float:
    """sum_{i=0..n-1} alpha^i = (1 - alpha^n)/(1 - alpha), 0 <= alpha < 1, n >= 1."""
    if alpha == 0.0:
        return 1.0
    return -math.expm1(n * math.log(alpha)) / (1.0 - alpha)


def mean_holding_insensitive(inputs: HoldingInputs, mean_requests: float) -> tuple[float, float]:
    """(E[R], E[H]) for any distribution of N with mean m when the cap never binds (k > max N).

    Each of the N-1 gaps breaks the connection independently (Wald, derivations §2.3):
    E[R] = m / (1 + (m-1)(1-p)), E[H] = [m S + (m-1) E[D] + theta] / (1 + (m-1)(1-p)) + L.
    """
    m = check_load(mean_requests, "requests per visit")
    g = gap_moments(inputs)
    connections = 1.0 + (m - 1.0) * (1.0 - g.p_reuse)
    per_visit = m * inputs.service_s + (m - 1.0) * g.mean_s + g.final_mean_s
    return m / connections, per_visit / connections + inputs.linger_s


def _forward_dp(inputs: HoldingInputs, weights: tuple[tuple[int, float], ...]) -> HoldingTime:
    """Exact renewal-reward moments for N fixed or a finite mixture (derivations §2.4).

    The state after request i is j, the number of requests served on the current connection,
    with probability mass P_j and partial moments M1_j = E[A; j], M2_j = E[A^2; j] of the time A
    accumulated on that connection. A visit reaching request i ends there with probability
    P(N = i)/P(N >= i). Cost O(max N * min(max N, k)); when k > max N the cap never binds and the
    single state j < k suffices, so the cost is O(max N).
    """
    k = inputs.cap
    g = gap_moments(inputs)
    s, s2 = inputs.service_s, inputs.service_second_moment_s2
    p = g.p_reuse
    by_n: dict[int, float] = {}
    for n, w in weights:
        by_n[n] = by_n.get(n, 0.0) + w
    total_w = math.fsum(by_n.values())
    n_max = max(by_n)
    capped = k <= n_max
    width = int(k) if capped else 1
    # Per-visit totals over closed connections: count, sum of H, sum of H^2 (before linger).
    closes = 0.0
    sum_h1 = 0.0
    sum_h2 = 0.0
    mass = [0.0] * width
    m1 = [0.0] * width
    m2 = [0.0] * width
    mass[0], m1[0], m2[0] = 1.0, s, s2
    tail = 1.0  # P(N >= i)
    mean_n = math.fsum(n * w for n, w in by_n.items()) / total_w
    for i in range(1, n_max + 1):
        end = by_n.get(i, 0.0) / total_w
        stop = end / tail if tail > 0.0 else 1.0
        tail -= end
        new_mass = [0.0] * width
        new_m1 = [0.0] * width
        new_m2 = [0.0] * width
        opened = 0.0  # mass of connections opened for request i+1
        for j in range(width):
            pj, a1, a2 = mass[j], m1[j], m2[j]
            if pj == 0.0:
                continue
            at_cap = capped and j == width - 1
            if at_cap:  # the k-th request: the server closes at once
                closes += pj
                sum_h1 += a1
                sum_h2 += a2
                opened += pj * (1.0 - stop)
                continue
            # The visit ends here: the final idle theta, then close.
            fin_p, fin1, fin2 = pj * stop, a1 * stop, a2 * stop
            closes += fin_p
            sum_h1 += fin1 + fin_p * g.final_mean_s
            sum_h2 += fin2 + 2.0 * fin1 * g.final_mean_s + fin_p * g.final_second_s2
            # The visit goes on: a gap, reused (next request on this connection) or not.
            cp, c1, c2 = pj - fin_p, a1 - fin1, a2 - fin2
            if cp == 0.0:
                continue
            broke_p = cp * (1.0 - p)
            broke_d1 = cp * (g.mean_s - g.reuse_mean_s)  # E[D; no reuse] mass
            broke_d2 = cp * (g.second_s2 - g.reuse_second_s2)
            closes += broke_p
            sum_h1 += c1 * (1.0 - p) + broke_d1
            sum_h2 += c2 * (1.0 - p) + 2.0 * c1 * (g.mean_s - g.reuse_mean_s) + broke_d2
            opened += broke_p
            keep_p = cp * p
            target = j + 1 if capped else 0
            d1 = cp * g.reuse_mean_s
            new_mass[target] += keep_p
            new_m1[target] += c1 * p + d1 + keep_p * s
            new_m2[target] += (
                c2 * p
                + cp * g.reuse_second_s2
                + keep_p * s2
                + 2.0 * c1 * g.reuse_mean_s
                + 2.0 * c1 * p * s
                + 2.0 * d1 * s
            )
        if i < n_max:
            new_mass[0] += opened
            new_m1[0] += opened * s
            new_m2[0] += opened * s2
        mass, m1, m2 = new_mass, new_m1, new_m2
    h1 = sum_h1 / closes
    return _result(inputs, mean_n / closes, h1, sum_h2 / closes)
