"""event MPM model: workers held only while requests run; connection slots per process (§4).

Stage: model. Input: `EventSettings` (effective) and a `TrafficProfile`. Output: `MpmMetrics` with
an `EventDetail`. Two coupled resources:

* workers (c = P * TPC): each process serves the requests of its pinned connections, admitting
  fewer as its workers fill while idle connections take its slots (`admitted_law`, §4.2); its
  saturation B_p drops keep-alive requests (F7) and closes all its idle keep-alive connections
  (F8), which shortens keep-alive and adds connections (churn): the least fixed point of §4.4,
  at the load the children carry (the requests of the connections their slots hold);
* connection slots: a process accepts while `conns - lingering < TPC + F * idle` (F5, F6); the
  probability that no process can accept is P_limit (§4.3, `capplan.models.slot_limit`; with
  several processes, every one at its own limit), and the wait of a new connection for a slot or
  a worker is that of a delay system whose slots a finishing request or a closing connection
  frees (`capplan.models.slot_wait`, §4.3a).
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from capplan.models.event_listener import (
    ChildrenWait,
    children_wait,
    held_back_share,
    idle_after_request,
    idle_spell_shares,
    listener_wait,
    stale_requests,
)
from capplan.models.memory import threaded_memory
from capplan.models.pooled import clamp_probability, clamped_holding_time, holding_inputs
from capplan.models.slot_limit import children_at_limit, connection_limit
from capplan.models.slot_wait import serving_places, slot_wait, with_worker_wait
from capplan.models.types import EventDetail, MpmMetrics, Scoreboard
from capplan.mpm_names import Mpm
from capplan.mpm_settings import CommonSettings, EventSettings
from capplan.profile import TrafficProfile
from capplan.queueing import (
    HoldingTime,
    blocking_estimate,
    erlang_b,
    erlang_c,
    poisson_cdf,
    poisson_logpmf,
    poisson_quantile,
)

if TYPE_CHECKING:
    from collections.abc import Callable

_FIXED_POINT_RTOL = 1e-12
_FIXED_POINT_MAX_STEPS = 10_000
_BRACKET_MAX_STEPS = 200
_THETA_RTOL = 1e-12
_NO_IDLE = 1e-15  # idle connections per child below which none are held
_THETA_MAX_STEPS = 200
# An overloaded server's carried rate is found to this relative width, and kept for this many
# (settings, traffic) pairs: a bisection on the load asks for the same one at every step.
_CARRIED_RTOL = 1e-3
_CARRIED_HALVINGS = 200  # a model that settles at no rate above 2^-200 of its workers' carries 0
_CARRIED_CACHE = 512
# Evaluations kept (`_evaluate`): a sizing search evaluates the size it picks again when it
# writes the settings and when it starts the sustainable-rate search from the profile's rate.
_EVALUATE_CACHE = 64
_RESCALE = 1e200  # the reset pool's downward recursion is scaled down past this
# The largest refilled pool (idle connections per child) whose law with resets is computed,
# about 500 times the slots of a child at httpd's default ThreadLimit (64) and
# AsyncRequestWorkerFactor (2); beyond it the pool is taken as Poisson (a downward run of this
# length takes some 20 ms).
_RESET_POOL_MOST = 100_000.0
# Kill episodes per idle lifetime below which the pool is taken as Poisson: they move its law by
# about this much times log(pool), far below any digit shown, and the kill fixed point's
# second step then finds its inputs unchanged where kills are this rare.
_NO_RESETS = 1e-13
# Gauss-Legendre points for the age since a child's last kill episode (`refilled_share`): 16
# agree with an adaptive integral to 1e-3 relative up to e T = 5,000 (the tests).
_QUADRATURE_NODES = 16
# Secant steps for one child's share closed per episode at a hazard (about three quadratures a
# step of the kill map on the validation's single-child cases).
_SHARE_MAX_STEPS = 200
# Episodes per idle lifetime below which one child's bursts are not looked for: they would move
# the kill hazard by a factor of at most about 2, and every figure by about this much.
_BURSTS_NEGLIGIBLE = 1e-9
# A chain's figures for this many children or more, or for children it takes as independent,
# each unable to accept this share of the time or more, get a note (`evaluate_by_chain`).
_MANY_CHILDREN = 8
_INDEPENDENT_NOTED = 0.01
# The refilled pool's pmf is summed directly up to this mean (e^-lambda stays normal).
_PMF_LINEAR_MOST = 700.0


@dataclass(frozen=True, slots=True)
class KillFixedPoint:
    """The §4.4 least fixed point of the kill hazard and the rates around it (all per second).

    `kill_hazard_per_s` h; `holding` the slot holding time at h (L = 0, full service time);
    `connections_per_s` λ_req/E[R](h) and `connections_per_s_without_kills` λ_req/E[R](0);
    `kill_episodes_per_s` and `keepalive_drops_per_s` (requests refused for want of a worker)
    over all processes; `episode_entries_per_s` nu = P TPC B_p / S_w; `carried_share` gamma, the
    share of the wanted open connections the slots hold (1 without a slot limit);
    `idle_request_rate_per_s` the rate at which an idle keep-alive connection sends its next
    request without kills, (E[R] - 1)/E[I] at h = 0; `steps` the iterations used;
    `closed_share` s, the share of a child's mean idle connections one episode closes, and
    `burst_share` b, the share of one child's episodes that come in its listener's bursts (0
    with several children).
    """

    kill_hazard_per_s: float
    holding: HoldingTime
    connections_per_s: float
    connections_per_s_without_kills: float
    process_saturation: float
    episode_entries_per_s: float
    kill_episodes_per_s: float
    keepalive_drops_per_s: float
    carried_share: float
    steps: int
    idle_request_rate_per_s: float = 0.0
    closed_share: float = 1.0
    burst_share: float = 0.0


def process_saturation(processes: int, threads_per_child: int, busy_erlangs: float) -> float:
    """B_p, the time fraction a process has every thread on a request, without a slot limit:
    the kill fixed point's form when it is given no AsyncRequestWorkerFactor (the event goldens);
    `evaluate` takes `admitted_law` (§4.2).

    With several processes a connection that finds its process full goes to another one (new
    connections) or is closed (keep-alive requests): a loss system, Erlang B(TPC, a_b/P). With
    a single process there is nowhere else to go: new connections wait in the accept queue and a
    dropped keep-alive request comes back as one of them, so the child is a delay system and
    saturated Erlang C(TPC, a_b) of the time (1 at or beyond a_b = TPC). Measured on a real
    httpd with one child of 4 threads: 0.29 at a_b = 2.65 and 0.49 at 3.32, against Erlang B
    0.17 and 0.24 and Erlang C 0.37 and 0.65. The rate of entries into "full",
    nu = P TPC B_p / S_w, then counts the departures a waiting connection refills at once.
    """
    if processes == 1:
        return erlang_c(threads_per_child, busy_erlangs)
    return erlang_b(threads_per_child, busy_erlangs / processes)


def admitted_law(
    processes: int,
    threads_per_child: int,
    factor: int,
    *,
    busy_per_child: float,
    idle_per_child: float,
    new_share: float,
    log_theta: float = 0.0,
    resets: float = 0.0,
) -> tuple[float, float]:
    """(B_p, log theta) of a child whose slot rule holds admission back (§4.2); the search for
    theta starts at `log_theta` (the previous one, in the kill fixed point's iteration).

    N, the child's busy workers, is a birth-death chain with deaths N/S_w. Its births are the
    requests of its idle keep-alive connections and of the new connections it accepts, both
    fewer as N rises: it accepts only while its idle connections Y are below
    cap(N) = (1 + F)(TPC - N) (F5), and it holds about cap(N) + 2F of them (each keep-alive
    request taken since the rule last let a connection in lowered the cap by 1 + F and the idle
    connections by one; two such requests is what fits the simulator, docs/derivations.md
    §4.2). With Y ~ Poisson(`idle_per_child`) the connections it would hold without a limit,
    and q = `new_share` the requests that open a connection, the birth rate at N is
    theta a (q P(Y < cap(N)) + (1 - q) E[min(Y, cap(N) + 2F)]/E[Y]),
    a = `busy_per_child`. With kill episodes, `resets` = beta > 0, the kills per child in a
    connection's idle lifetime: every episode empties the pool, and Y has `reset_pool_above`'s
    law of the same mean instead of Poisson's. A request held back is not lost: it waits, or
    another child takes it, so theta is the one that makes the child carry a busy workers on
    average (for one child at theta = 1 without a limit, Erlang C(TPC, a) with its queue of
    ratio a/TPC; for several, Erlang B at the offered load that carries a). B_p is the chain's
    share at TPC (with the queue for one child): 1 once a >= TPC.
    """
    p, tpc, f, a = processes, threads_per_child, factor, busy_per_child
    if a <= 0.0:
        return 0.0, log_theta
    if a >= tpc:
        return 1.0, log_theta
    y, q = idle_per_child, min(1.0, max(0.0, new_share))
    # P(Y <= k) and E[min(Y, m)] = sum_{k<m} P(Y > k) up to the most idle connections a child
    # holds (at N = 0), or up to where P(Y > k) < 1e-30 (beyond, both stay as they are there).
    # With resets the pool spreads up to its refilled mean y (1 + beta); a pool too large for
    # `reset_pool_above` to run down from is taken as Poisson.
    refilled = y * (1.0 + max(0.0, resets))
    beta = resets if y > _NO_IDLE and refilled <= _RESET_POOL_MOST else 0.0
    spread = refilled if beta > 0.0 else y
    top = min((1 + f) * tpc + 2 * f, math.floor(spread + 12.0 * math.sqrt(spread) + 30.0))
    below = [1.0] * (top + 1)
    if beta > 0.0:
        below = [1.0 - t for t in reset_pool_above(y, beta, top)]
    elif y > _NO_IDLE:
        pmf = [0.0] * (top + 1)
        start = min(top, math.floor(y))
        pmf[start] = math.exp(poisson_logpmf(start, y))
        for k in range(start, top):
            pmf[k + 1] = pmf[k] * y / (k + 1)
        for k in range(start, 0, -1):
            pmf[k - 1] = pmf[k] * k / y
        running = 0.0
        for k in range(top + 1):
            running += pmf[k]
            below[k] = min(1.0, running)
    held = [0.0] * (top + 1)  # held[m] = E[min(Y, m)]
    for k in range(top):
        held[k + 1] = held[k] + (1.0 - below[k])
    log_weight = [0.0] * (tpc + 1)
    log_a = math.log(a)
    for n in range(tpc):
        cap = (1 + f) * (tpc - n)
        if y <= _NO_IDLE or cap - 1 >= top:
            # Y is then 0 but for a share ~y that changes no birth rate in binary64.
            births = 1.0
        else:
            births = q * below[cap - 1] + (1.0 - q) * held[min(top, cap + 2 * f)] / y
        # A child whose slots are all but certainly full still admits as its idle connections
        # time out: births too rare for binary64 stay the smallest normal rate, not 0.
        births = max(births, sys.float_info.min)
        log_weight[n + 1] = log_weight[n] + log_a + math.log(births) - math.log(n + 1)
    if p == 1:
        log_weight[tpc] -= math.log1p(-a / tpc)  # the accept queue behind a full child

    def moments(t: float) -> tuple[float, float, float]:
        logs = [t * n + w for n, w in enumerate(log_weight)]
        peak = max(logs)
        total = first = second = 0.0
        for n, v in enumerate(logs):
            w = math.exp(v - peak)
            total += w
            first += n * w
            second += n * n * w
        mean = first / total
        return mean, max(second / total - mean * mean, 0.0), math.exp(logs[tpc] - peak) / total

    # The mean rises with t = log theta (its derivative is the variance): Newton's method,
    # kept inside the bracket of t already known to be low or high.
    # Until both sides are known a step is at most `reach`, which doubles each time: a start far
    # from the root (a warm start from very different inputs, where N's law is all at one end
    # and its variance 0) is left in O(log distance) steps.
    low, high, t = -math.inf, math.inf, log_theta
    reach = 4.0
    mean, variance, top_share = moments(t)
    for _ in range(_THETA_MAX_STEPS):
        if abs(mean - a) <= _THETA_RTOL * a:
            break
        if mean < a:
            low = t
        else:
            high = t
        step = (a - mean) / variance if variance > 0.0 else math.copysign(math.inf, a - mean)
        if math.isfinite(low + high):
            t_new = t + step
            if not low < t_new < high:
                t_new = 0.5 * (low + high)
        else:
            t_new = t + max(-reach, min(reach, step))
            reach *= 2.0
        t = t_new
        mean, variance, top_share = moments(t)
    return top_share, t


def reset_pool_above(mean: float, resets: float, top: int) -> list[float]:
    """P(Y > k) for k = 0 ... `top`: a child's idle pool Y of this mean when every kill episode
    empties it, `resets` = beta episodes per idle lifetime of a connection (§4.2).

    Connections join the pool at rate lam and each stays an exponential lifetime (the time
    unit) unless an episode (rate beta) closes them all: M/M/inf with catastrophes. Its law is
    Poisson(lam (1 - U)) mixed over U ~ Beta(beta, 1) (the time since the last episode), of mean
    lam/(1 + beta); lam = `mean` (1 + beta) keeps the mean. Across the cut between k and k + 1,
    lam P(Y = k) = (k + 1) P(Y = k + 1) + beta P(Y > k), so with T_k = P(Y > k),
    T_{k-1} = T_k + ((k + 1)(T_k - T_{k+1}) + beta T_k)/lam. The tail is the recursion's
    minimal solution, which a downward run keeps: it starts at T = (1, 0) beyond
    lam + 12 sqrt(lam) + 40 (where the mixture, below Poisson(lam), has less than 1e-30 left),
    is rescaled before it overflows, and is divided by T_{-1} = 1 at the end; it matches the
    mixture's integral to about 1e-13 relative. 1 - T is P(Y <= k); beta = 0 is Poisson.
    """
    lam = mean * (1.0 + resets)
    start = max(top, math.ceil(lam + 12.0 * math.sqrt(lam) + 40.0))
    # tail[k + 1] holds T_k, tail[0] T_{-1}.
    tail = [0.0] * (start + 2)
    tail[start] = 1.0
    for k in range(start - 1, -1, -1):
        here, next_ = tail[k + 1], tail[k + 2]
        tail[k] = here + ((k + 1) * (here - next_) + resets * here) / lam
        if tail[k] > _RESCALE:
            for j in range(k, start + 1):
                tail[j] /= _RESCALE
    norm = tail[0]
    return [min(1.0, tail[k + 1] / norm) for k in range(top + 1)]


def idle_connections(profile: TrafficProfile, connections_per_s: float, ht: HoldingTime) -> float:
    """a_y = λ_conn E[idle] + λ (S - S_w): open connections without a worker, in Erlangs.

    Idle keep-alive plus asynchronous write completion; lingering closes hold no slot (F5).
    """
    traffic = profile.traffic
    idle_ka = connections_per_s * ht.mean_idle_s
    return idle_ka + traffic.requests_per_second * (traffic.service_time_s - traffic.worker_time_s)


def killed_share(idle_per_child: float, factor: int) -> float:
    """E[Y | Y <= 1 + F] / E[Y] for Y ~ Poisson(`idle_per_child`): the share of a child's mean
    idle keep-alive connections that one kill episode closes (§4.4).

    An episode comes when the child's last worker is taken; while it had one idle worker the
    slot rule (F5) let it hold TPC + F connections, TPC - 1 of them busy, so at most 1 + F idle.
    The idle connections of a child are Poisson (the colouring theorem, §4.3), truncated there:
    E[Y | Y <= m] = mu P(Y <= m - 1) / P(Y <= m), so the share is 1 - P(Y = m) / P(Y <= m).
    Up to mu = m that is the pmf over the cdf (the cdf is at least about a half there); above,
    sum_{k<m} w_k / sum_{k<=m} w_k with w_m = 1, w_k = w_{k+1} (k + 1) / mu, which only
    shrink, summed until the rest, below a geometric tail, cannot change the sum. 1 without
    idle connections.
    """
    mu = idle_per_child
    if mu <= 0.0:
        return 1.0
    top = 1 + factor
    if mu <= top:
        return 1.0 - math.exp(poisson_logpmf(top, mu)) / poisson_cdf(top, mu)
    weight, below = 1.0, 0.0
    for k in range(top - 1, -1, -1):
        weight *= (k + 1) / mu
        below += weight
        ratio = k / mu  # the next factor; they fall, so the rest is below a geometric tail
        if weight * ratio <= 1e-17 * (1.0 - ratio) * below:
            break
    return below / (below + 1.0)


@dataclass(frozen=True, slots=True)
class PoolRefill:
    """How a child's idle pool refills from empty after a kill episode (§4.4): idle spells
    start after `visit_share` of the requests (a think time Exp(`think_s`), cut at the
    KeepAliveTimeout `timeout_s`) and after `held_share` of them (a held socket, open for the
    timeout), the two parts of `idle_after_request`'s g."""

    visit_share: float
    think_s: float
    held_share: float
    timeout_s: float

    @classmethod
    def of(cls, profile: TrafficProfile, common: CommonSettings) -> PoolRefill:
        visit, held = idle_spell_shares(profile, common)
        return cls(visit, profile.visits.think_time_s, held, common.keep_alive_timeout_s)

    @property
    def go_idle(self) -> float:
        """g, the share of requests that leave their connection idle."""
        return self.visit_share + self.held_share

    def mean_at(self, age_s: float) -> float:
        """m(t) per request a second: v z (1 - e^(-min(t, T)/z)) + q min(t, T), the pool M/G/inf
        holds at an age t since it was emptied (`age_s` at most the timeout T)."""
        z = self.think_s
        visit = self.visit_share * z * -math.expm1(-age_s / z) if z > 0.0 else 0.0
        return visit + self.held_share * age_s


def refilled_share(
    idle_per_child: float,
    factor: int,
    episodes_per_s: float,
    refill: PoolRefill,
    *,
    nodes: int = _QUADRATURE_NODES,
) -> float:
    """The share of a child's mean idle connections `idle_per_child` that a regular kill episode
    closes when every episode empties the pool and it refills until the next (§4.4).

    At an age t since the child's last episode its pool is Poisson of mean m(t)
    (`PoolRefill.mean_at`). Episodes come at `episodes_per_s` per child, taken as Poisson, so
    an episode meets the age t ~ Exp(e); m is scaled to the fixed point's mean pool. As in
    `killed_share` the episode closes E[Y | Y <= 1 + F], now under that mixture of Poisson laws:
    E_t[m_t P(Y_t <= F)] / E_t[P(Y_t <= 1 + F)] over the mean (m_t the scaled m(t), Y_t its
    Poisson pool). The age is integrated by `nodes`-point Gauss-Legendre in u = 1 - e^(-e t) on
    [0, 1 - e^(-e T)] (uniform under the law), with the rest, t >= T, where the pool is full, as
    one point. Without episodes (or with e T below 1e-15) this is `killed_share`.
    """
    mu = idle_per_child
    if mu <= 0.0:
        return 1.0
    e, big_t = episodes_per_s, refill.timeout_s
    young = -math.expm1(-e * big_t) if e > 0.0 and big_t > 0.0 else 0.0
    if young < 1e-15:
        return killed_share(mu, factor)
    points = [(1.0 - young, refill.mean_at(big_t))]
    points.extend(
        (0.5 * young * w, refill.mean_at(-math.log1p(-0.5 * young * (x + 1.0)) / e))
        for x, w in _gauss_legendre(nodes)
    )
    full = math.fsum(w * m for w, m in points)
    if full <= 0.0:
        return killed_share(mu, factor)
    scale = mu / full
    top = 1 + factor
    below = closed = 0.0
    if max(m for _, m in points) * scale <= _PMF_LINEAR_MOST:
        # weight x P(Y_t = k) by the pmf's recursion from e^(-lambda), which stays normal here.
        for w, m in points:
            lam = m * scale
            term = w * math.exp(-lam)
            for k in range(top + 1):
                if k:
                    term *= lam / k
                below += term
                closed += k * term
    else:
        # A pool far above 1 + F underflows P(Y <= 1 + F) at every age: the same sums in logs,
        # relative to their largest term.
        terms = [
            (k, math.log(w) + poisson_logpmf(k, m * scale))
            for w, m in points
            if w > 0.0  # the full pool's point has none when e T is large
            for k in range(top + 1)
        ]
        peak = max(v for _, v in terms)
        for k, v in terms:
            term = math.exp(v - peak)
            below += term
            closed += k * term
    return closed / below / mu if below > 0.0 else 1.0


def one_child_share(
    idle_per_child: float,
    factor: int,
    hazard_per_s: float,
    refill: PoolRefill,
    *,
    bursts: float,
    start: float,
) -> float:
    """s, the share of one child's mean idle connections an episode closes at the kill hazard
    h = `hazard_per_s` (§4.4): s = (1 - b) `refilled_share`(e) + b min(1, (1 + g)/mu), the
    regular episodes' refilled pool and the bursts' 1 + g, b = `bursts`, at e = h/s episodes a
    second. Found by the secant method on s -> that - s, from `start` and its image."""
    mu = idle_per_child
    burst = min(1.0, (1.0 + refill.go_idle) / mu)

    def gap(closed: float) -> float:
        regular = refilled_share(mu, factor, hazard_per_s / closed, refill)
        return (1.0 - bursts) * regular + bursts * burst - closed

    x0 = start
    g0 = gap(x0)
    if abs(g0) <= _FIXED_POINT_RTOL * x0:
        return x0
    x1 = x0 + g0
    for _ in range(_SHARE_MAX_STEPS):
        g1 = gap(x1)
        if abs(g1) <= _FIXED_POINT_RTOL * x1 or g1 == g0:
            break
        x0, x1, g0 = x1, x1 - g1 * (x1 - x0) / (g1 - g0), g1
        x1 = min(max(x1, 1e-300), 1.0)
    return x1


@functools.cache
def _gauss_legendre(n: int) -> tuple[tuple[float, float], ...]:
    """Gauss-Legendre nodes and weights on [-1, 1], by Newton's method on P_n (to 1e-15)."""
    pairs = []
    for i in range(1, n + 1):
        x = math.cos(math.pi * (i - 0.25) / (n + 0.5))
        for _ in range(100):
            p_prev, p_here = 1.0, x
            for k in range(2, n + 1):
                p_prev, p_here = p_here, ((2 * k - 1) * x * p_here - (k - 1) * p_prev) / k
            slope = n * (x * p_here - p_prev) / (x * x - 1.0)
            step = p_here / slope
            x -= step
            if abs(step) <= 1e-15:
                break
        p_prev, p_here = 1.0, x
        for k in range(2, n + 1):
            p_prev, p_here = p_here, ((2 * k - 1) * x * p_here - (k - 1) * p_prev) / k
        slope = n * (x * p_here - p_prev) / (x * x - 1.0)
        pairs.append((x, 2.0 / ((1.0 - x * x) * slope * slope)))
    return tuple(pairs)


def deferred_closes(killed_per_s: float, worker_s: float, threads_per_child: int) -> float:
    """Killed keep-alive connections waiting for a worker to close them, on average.

    NOTE: event.c shutdown_connection() does not close a killed connection: it defers the
    lingering close to the child's next free worker (defer_lingering_close()), so the client sees
    the close, and the kernel counts the socket as open, until then. A child kills with every
    worker busy; with exponential service the first of its TPC workers frees after S_w/TPC, so by
    Little's law `killed_per_s` S_w / TPC connections wait (F7a, §4.5).
    """
    return killed_per_s * worker_s / threads_per_child


def kill_fixed_point(
    profile: TrafficProfile,
    common: CommonSettings,
    processes: int,
    threads_per_child: int,
    *,
    factor: int | None = None,
) -> KillFixedPoint:
    """Iterate h -> kill_episodes(λ_conn(h)) s(h)/P from h = 0 to the least fixed point (§4.2,
    §4.4), s the `killed_share` of the idle connections a child holds that an episode closes
    (1 when `factor` is None): of λ_conn(h) E[idle](h)/P, at most (K' - min(a_b, P TPC))/P.
    A single child's regular episodes close the `refilled_share` of its pool instead, at the
    episodes h/s a second, and its listener's bursts 1 + g each: the map is iterated to its
    fixed point without bursts, their share b is taken from the listener's chain there
    (`listener_wait`), and the map with s = (1 - b) s_regular + b min(1, (1 + g)/mu) is iterated
    again from 0.

    gamma(h) = min(1, K'/x(h)), the share of the open connections x = a_b + a_y the slots
    hold, K' = `serving_places` with the effective AsyncRequestWorkerFactor `factor` (1 when
    `factor` is None, the fixed point without a slot limit, or when a_b >= P TPC: every child
    is then saturated whatever it holds), a_p = gamma λ S_w / P,
    B_p = `admitted_law` at a_p, the idle connections λ_conn E[idle](h)/P and the resets
    beta = h E[idle](0)/s, the episodes per child in a connection's idle lifetime
    (`process_saturation`, Erlang B(TPC, a_p) or C for one process, when `factor` is None),
    nu = P TPC B_p / S_w, d = TPC / S_w,
    lk_p = (λ - λ_conn)/P, kills = nu (lk_p + λ_conn)/(lk_p + λ_conn + d),
    drops = nu lk_p/(lk_p + λ_conn + d). Kills shorten H, so x falls, gamma and B_p rise, and
    the idle connections per child fall, so s rises: where the map rises, iterating from 0
    climbs to its least fixed point (relative tolerance 1e-12). The map can fall (with beta,
    the emptied pool lets more in right after an episode and the refilled one less later; and
    where idle connections fill a child's slots at every busy count, B_p falls as they thin): at
    the first step where it falls below h, the fixed point between the last rising step and this
    one is found by `_fixed_point_between` (§4.4).
    """
    rate = profile.traffic.requests_per_second
    worker_s = profile.traffic.worker_time_s
    p, tpc = processes, threads_per_child
    a_b = rate * worker_s
    exit_rate = tpc / worker_s

    # A hazard this small changes no gap moment in binary64 (its effect is about h (T + Z));
    # passing it on would only underflow h^2 in the engine's final-idle moments.
    negligible_h = 1e-17 / max(common.keep_alive_timeout_s + profile.visits.think_time_s, 1e-9)

    def holding(h: float) -> tuple[HoldingTime, float]:
        hazard = h if h > negligible_h else 0.0
        ht = clamped_holding_time(
            holding_inputs(profile, common, linger_s=0.0, kill_rate_per_s=hazard)
        )
        return ht, rate / ht.requests_per_conn

    places = 0.0 if factor is None else serving_places(p, tpc, factor, a_b)

    def carried(ht: HoldingTime, conn_rate: float) -> float:
        if factor is None or a_b >= p * tpc:
            return 1.0
        wanted = a_b + idle_connections(profile, conn_rate, ht)
        return 1.0 if wanted <= places else places / wanted

    def at(conn_rate: float, entries: float) -> tuple[float, float]:
        keepalive_rate = (rate - conn_rate) / p
        denominator = keepalive_rate + conn_rate + exit_rate
        kills = entries * (keepalive_rate + conn_rate) / denominator
        drops = entries * keepalive_rate / denominator
        return kills, drops

    # The idle connections a child can hold: its places less its busy workers (none when the
    # children are saturated whatever they hold).
    holdable = max(0.0, (places - min(a_b, p * tpc)) / p)

    # The admission law's scale at the last step, where the next one starts, and its inputs and
    # result (a hazard too small to change the holding time leaves them as they were).
    log_theta = 0.0
    last: tuple[float, float, float, float, float] | None = None

    def saturated(ht: HoldingTime, conn_rate: float, share: float, resets: float) -> float:
        nonlocal log_theta, last
        if factor is None:
            return process_saturation(p, tpc, share * a_b)
        idle = conn_rate * ht.mean_idle_s / p
        if resets < _NO_RESETS:
            resets = 0.0
        if last is not None and last[:4] == (share, idle, conn_rate, resets):
            return last[4]
        law = admitted_law(
            p,
            tpc,
            factor,
            busy_per_child=share * a_b / p,
            idle_per_child=idle,
            new_share=conn_rate / rate,
            log_theta=log_theta,
            resets=resets,
        )
        saturation, log_theta = law
        last = (share, idle, conn_rate, resets, saturation)
        return saturation

    base_ht, without_kills = holding(0.0)
    # One child's pool refills between its frequent episodes (§4.4); several children's are
    # taken at their mean.
    refill = PoolRefill.of(profile, common) if factor is not None and p == 1 else None
    bursts = 0.0  # b, the share of episodes in bursts, each closing 1 + g (§4.10)
    last_closed = 1.0  # s at the last step, where the next one's search starts

    def episode_share(idle: float, h: float) -> float:
        """s at hazard h for a child holding `idle` idle connections on average."""
        nonlocal last_closed
        assert factor is not None
        if refill is None or idle <= _NO_IDLE or h <= 0.0:
            return killed_share(idle, factor)
        last_closed = one_child_share(idle, factor, h, refill, bursts=bursts, start=last_closed)
        return last_closed

    # Kills only shorten H, so x is largest at h = 0: when the slots hold every connection
    # there (the usual case, far from the limit), they do at every h.
    limited = carried(base_ht, without_kills) < 1.0

    def at_hazard(h: float) -> _KillStep:
        """Everything at hazard h, and the hazard its kills make (the map's value)."""
        ht, conn_rate = holding(h)
        share = carried(ht, conn_rate) if limited else 1.0
        # Each episode closes the idle connections of one child: the share s of what it holds
        # when the slot rule caps them at the episode (all of them without a factor).
        closed = 1.0
        if factor is not None:
            closed = episode_share(min(conn_rate * ht.mean_idle_s / p, holdable), h)
        # Episodes per child in a connection's idle lifetime without kills, how often the pool
        # is emptied before it refills: h is the episodes per child times s.
        resets = h / closed * base_ht.mean_idle_s
        saturation = saturated(ht, conn_rate, share, resets)
        entries = p * tpc * saturation / worker_s
        kills, drops = at(conn_rate, entries)
        return _KillStep(
            h, ht, conn_rate, share, saturation, entries, kills, drops, kills / p * closed, closed
        )

    def solve() -> tuple[_KillStep, int]:
        step = at_hazard(0.0)
        rising = step  # the last step whose map rose above it
        steps = 0
        while steps < _FIXED_POINT_MAX_STEPS:
            steps += 1
            h, h_new = step.hazard, step.next_hazard
            if abs(h_new - h) <= _FIXED_POINT_RTOL * max(h_new, h):
                break
            if h_new < h:
                # The map fell: a fixed point lies between the last step where it rose and this.
                step, more = _fixed_point_between(at_hazard, rising, step)
                steps += more
                break
            rising = step
            step = at_hazard(h_new)
        return step, steps

    step, steps = solve()
    episodes = step.hazard / step.closed * base_ht.mean_idle_s  # per child and idle lifetime
    listened = step.connections_per_s > 0.0 and tpc > 1 and a_b < tpc
    if refill is not None and listened and episodes >= _BURSTS_NEGLIGIBLE:
        # One child's listener bursts (§4.9, §4.10), from its chain at this fixed point; the
        # fixed point is then found again with them.
        keepalive_rate = max(0.0, rate - step.connections_per_s)
        listener = listener_wait(
            tpc, step.connections_per_s, keepalive_rate, worker_s, refill.go_idle
        )
        bursts = listener.burst_share if listener.stable else 0.0
        if bursts > 0.0:
            more_step, more = solve()
            step, steps = more_step, steps + more
    return KillFixedPoint(
        kill_hazard_per_s=step.hazard,
        holding=step.holding,
        connections_per_s=step.connections_per_s,
        connections_per_s_without_kills=without_kills,
        process_saturation=step.saturation,
        episode_entries_per_s=step.entries,
        kill_episodes_per_s=step.kills,
        keepalive_drops_per_s=step.drops,
        carried_share=step.share,
        steps=steps,
        idle_request_rate_per_s=(
            (base_ht.requests_per_conn - 1.0) / base_ht.mean_idle_s
            if base_ht.mean_idle_s > 0.0
            else 0.0
        ),
        closed_share=step.closed,
        burst_share=bursts,
    )


@dataclass(frozen=True, slots=True)
class _KillStep:
    """One evaluation of the kill map at `hazard`: the rates there and `next_hazard`, the map's
    value (the hazard its kill episodes make)."""

    hazard: float
    holding: HoldingTime
    connections_per_s: float
    share: float
    saturation: float
    entries: float
    kills: float
    drops: float
    next_hazard: float
    closed: float


def _fixed_point_between(
    at_hazard: Callable[[float], _KillStep], rising: _KillStep, falling: _KillStep
) -> tuple[_KillStep, int]:
    """The fixed point of the kill map between a step where it rose and one where it fell
    (§4.4), by the Illinois method on g(h) = map(h) - h (regula falsi, the stale end's value
    halved), to `_FIXED_POINT_RTOL`; with the evaluations spent. If it has not settled in
    `_BRACKET_MAX_STEPS` evaluations the last stands (at most 7 were needed in 3,000 random
    settings)."""
    lo, g_lo = rising.hazard, rising.next_hazard - rising.hazard
    hi, g_hi = falling.hazard, falling.next_hazard - falling.hazard
    step = falling
    side = 0
    for spent in range(1, _BRACKET_MAX_STEPS + 1):
        x = hi - g_hi * (hi - lo) / (g_hi - g_lo)
        if not lo < x < hi:
            x = 0.5 * (lo + hi)
        step = at_hazard(x)
        g = step.next_hazard - x
        if abs(g) <= _FIXED_POINT_RTOL * x or hi - lo <= _FIXED_POINT_RTOL * hi:
            return step, spent
        if g > 0.0:
            lo, g_lo = x, g
            if side > 0:
                g_hi *= 0.5
            side = 1
        else:
            hi, g_hi = x, g
            if side < 0:
                g_lo *= 0.5
            side = -1
    return step, _BRACKET_MAX_STEPS


def children_worker_wait(
    profile: TrafficProfile,
    common: CommonSettings,
    holding: HoldingTime,
    processes: int,
    threads_per_child: int,
) -> ChildrenWait:
    """Several children's wait for a worker with the held-back workers of §4.12.

    A held-back child's one idle connection sends its next request at r = (E[R] - 1)/E[I] and
    closes at d = (g E[R] - (E[R] - 1))/E[I] (E[R] requests and g E[R] idle spells a
    connection, E[I] its idle time, `holding` at the kill fixed point): the spells end in a
    request E[R] - 1 times and in a close the rest.
    """
    traffic = profile.traffic
    requests = holding.requests_per_conn
    go_idle = idle_after_request(profile, common)
    idle_s = holding.mean_idle_s
    closes = max(0.0, go_idle * requests - (requests - 1.0))
    held = 0.0
    if idle_s > 0.0:
        held = held_back_share(
            threads_per_child,
            traffic.worker_time_s,
            go_idle,
            (requests - 1.0) / idle_s,
            closes / idle_s,
        )
    a_b = traffic.requests_per_second * traffic.worker_time_s
    return children_wait(processes, threads_per_child, a_b, traffic.worker_time_s, held)


def evaluate(
    settings: EventSettings, profile: TrafficProfile, *, carried: bool = True
) -> MpmMetrics:
    """The event steady state: per-process saturation, kill churn, the connection limit, memory.

    `p_wait`, `mean_wait_s`, `wait_p99_s` and `p_block` are a new connection's wait in the
    accept queue for a worker or a connection slot, whichever it meets (`slot_wait`);
    `p_wait_request` adds the keep-alive requests dropped by saturated processes.

    An overloaded server (`stable` False) serves only what it can carry: the busy workers, the
    idle and open connections, the connection rate, the kills and memory are those at
    `carried_rate_per_s`, the largest rate at which the model is stable, while the offered load,
    the waits (every new connection waits, without end), P_limit and the places at the offered
    load stay the offered rate's; the share of requests that wait is that of the requests it
    serves. P(block) is the share of connection attempts the full accept queue drops such that
    the connections lost after every attempt are what it does not carry,
    `dropped_attempt_share` (docs/derivations.md §4.14). `carried` False leaves them all at the
    offered rate.
    """
    offered = _evaluate(settings, profile)
    if offered.stable or not carried:
        return offered
    rate = profile.traffic.requests_per_second
    carried_rate = min(rate, carried_rate_per_s(settings, _at_rate(profile, 1.0)))
    assert offered.event is not None
    if carried_rate <= 0.0:
        return replace(offered, event=replace(offered.event, carried_requests_per_s=0.0))
    state = _evaluate(settings, _at_rate(profile, carried_rate))
    assert state.event is not None
    detail = replace(
        state.event,
        busy_erlangs=offered.event.busy_erlangs,
        p_connection_limit=offered.event.p_connection_limit,
        p_connection_limit_bound=offered.event.p_connection_limit_bound,
        pooled_wait_probability=offered.event.pooled_wait_probability,
        slot_capacity=offered.event.slot_capacity,
        wait_for_worker_probability=offered.event.wait_for_worker_probability,
        wait_for_slot_probability=offered.event.wait_for_slot_probability,
        carried_requests_per_s=carried_rate,
    )
    p_block = dropped_attempt_share(carried_rate / rate, profile.visits.connect_attempts)
    # Of the requests it serves, every new connection's first waits, and every one refused for
    # want of a worker (a stale one goes on as the first of the killed visit's new connection).
    refused = state.event.keepalive_drops_per_s - state.event.stale_requests_per_s
    waiting = state.connections_per_s + refused
    return replace(
        offered,
        p_wait_request=clamp_probability(waiting / carried_rate),
        p_block=p_block,
        p_block_conservative=max(offered.p_block_conservative, p_block),
        busy_workers_mean=state.busy_workers_mean,
        idle_keepalive_mean=state.idle_keepalive_mean,
        connections_per_s=state.connections_per_s,
        scoreboard=state.scoreboard,
        requests_per_connection=state.requests_per_connection,
        holding_time_s=state.holding_time_s,
        holding_time_scv=state.holding_time_scv,
        open_connections_mean=state.open_connections_mean,
        open_connections_p99=state.open_connections_p99,
        memory=state.memory,
        event=detail,
    )


def dropped_attempt_share(carried_share: float, attempts: int) -> float:
    """P(block) of an overloaded server: the probability p that a connection attempt finds the
    accept queue full, when only connections whose `attempts` SYNs were all dropped are lost.

    The server admits what it carries, so p^attempts = 1 - `carried_share` (the share of the
    offered requests it serves), p = (1 - carried_share)^(1 / attempts) (§4.14). 0 when it
    carries everything; domain: 0 <= carried_share, attempts >= 1.
    """
    lost = 1.0 - min(1.0, carried_share)
    return clamp_probability(lost ** (1.0 / attempts)) if lost > 0.0 else 0.0


def _at_rate(profile: TrafficProfile, rate_per_s: float) -> TrafficProfile:
    return replace(profile, traffic=replace(profile.traffic, requests_per_second=rate_per_s))


@functools.lru_cache(maxsize=_CARRIED_CACHE)
def carried_rate_per_s(settings: EventSettings, shape: TrafficProfile) -> float:
    """The largest request rate at which event's model of `settings` is stable under the traffic
    of `shape` (whose own rate is not used): what an overloaded server carries (§4.14).

    Stability only gets harder as the rate grows (more busy workers, more open connections for
    the same places), so doubling or halving to a bracket, then a bisection, finds it to a
    relative width of `_CARRIED_RTOL` (the stable end is returned; 0 if it settles at no rate
    tried). It does not depend on the offered rate, so the rates a bisection on the load tries
    share one search.
    """
    worker_s = shape.traffic.worker_time_s
    if worker_s <= 0.0:
        return math.inf

    def stable(rate: float) -> bool:
        return _evaluate(settings, _at_rate(shape, rate)).stable

    # Start where the open connections of one request a second, scaled, fill every place
    # (1 + F) c (kills only thin them), below the rate that keeps every worker busy; double or
    # halve from there to a bracket. Rates far beyond the boundary are never tried (their idle
    # connections run to millions, slow to sum).
    most = settings.workers / worker_s
    unit = _evaluate(settings, _at_rate(shape, 1.0)).open_connections_mean
    places = (1 + settings.worker_factor) * settings.workers
    start = min(most, places / unit) if unit > 0.0 else most
    if stable(start):
        lo, hi = start, min(most, 2.0 * start)
        while hi < most and stable(hi):  # at `most` every worker is busy: never stable
            lo, hi = hi, min(most, 2.0 * hi)
    else:
        hi, lo = start, start / 2.0
        for _ in range(_CARRIED_HALVINGS):
            if stable(lo):
                break
            hi, lo = lo, lo / 2.0
        else:
            return 0.0
    while hi - lo > _CARRIED_RTOL * hi:
        mid = 0.5 * (lo + hi)
        if stable(mid):
            lo = mid
        else:
            hi = mid
    return lo


@functools.lru_cache(maxsize=_EVALUATE_CACHE)
def _evaluate(settings: EventSettings, profile: TrafficProfile) -> MpmMetrics:
    """`evaluate` at the offered rate, overloaded or not (a pure function of its frozen
    arguments, the last few kept)."""
    common = settings.common
    traffic = profile.traffic
    rate = traffic.requests_per_second
    p, tpc, f = settings.processes, settings.threads_per_child, settings.worker_factor
    c = settings.workers
    q = common.accept_queue_capacity
    worker_s = traffic.worker_time_s
    a_b = rate * worker_s

    fixed = kill_fixed_point(profile, common, p, tpc, factor=f)
    ht = fixed.holding
    conn_rate = fixed.connections_per_s + fixed.keepalive_drops_per_s  # drops reconnect (§4.4)
    idle_ka = fixed.connections_per_s * ht.mean_idle_s
    a_y = idle_connections(profile, fixed.connections_per_s, ht)
    limit = connection_limit(c, f, a_b, a_y)
    p_limit = limit.p_limit
    if p > 1:
        # Several children: each at its own limit at once, which the pooled sum overstates
        # (two children of 8, F = 2, utilisation 0.5, simulated: 0.116; pooled 0.193, child
        # by child 0.118). It is the same event, so the dependence-free bound holds for it too.
        p_limit = min(children_at_limit(p, tpc, f, a_b, a_y), limit.p_limit_bound)
    open_mean = a_b + a_y
    killed = fixed.kill_hazard_per_s * idle_ka
    deferred = deferred_closes(killed, worker_s, tpc)
    # What clients see dropped: the keep-alive requests a full child refuses, and those sent on
    # killed connections before a worker closed them (§4.5).
    stale = stale_requests(killed, fixed.idle_request_rate_per_s, worker_s, tpc)
    open_p99 = poisson_quantile(0.99, open_mean + deferred)
    slot_capacity = c + f * max(0.0, c - a_b)
    holding_s = open_mean / conn_rate if conn_rate > 0.0 else ht.mean_s
    wait = slot_wait(
        p,
        tpc,
        f,
        busy_erlangs=a_b,
        open_connections_mean=open_mean,
        holding_s=max(holding_s, 1e-300),
        worker_s=worker_s,
        accept_queue=q,
    )
    if p == 1 and tpc > 1 and a_b < c and wait.stable and fixed.connections_per_s > 0.0:
        # A single child's wait for a worker: its listener's hysteresis holds new connections
        # back while a worker is idle, and the keep-alive requests it drops while full
        # reconnect into its queue (one child of 4 at utilisation 0.8, simulated: full 0.42
        # of the time, P(wait) 0.87, 140 ms; Erlang C: 0.60, 47 ms). §4.9, `event_listener`.
        listener = listener_wait(
            tpc,
            fixed.connections_per_s,
            max(0.0, rate - fixed.connections_per_s),
            worker_s,
            idle_after_request(profile, common),
        )
        wait = with_worker_wait(wait, listener.p_wait, listener.mean_wait_s)
    elif (p > 1 or tpc == 1) and a_b < c and wait.stable and ht.mean_idle_s > 0.0:
        # Several children: a child whose listener is disabled for want of a worker keeps one
        # worker back while it holds an idle connection, so the waiting connections have fewer
        # workers than P TPC (three children of 4 at utilisation 0.7, simulated: P(wait) 0.38;
        # Erlang C over all 12 workers 0.18, over the 10.7 left 0.35). §4.12. So does a single
        # child of one thread, whose only worker the listener chain cannot hold back (§4.9).
        children = children_worker_wait(profile, common, ht, p, tpc)
        # The slot rule's hysteresis term already holds a held-back child (at its limit with
        # one worker idle): of the pooled wait's slot part only what it adds is kept.
        worker = children.p_wait
        slot_part = max(0.0, wait.p_wait - worker)
        p_slot = slot_part / (1.0 - worker) if worker < 1.0 else 0.0
        wait = with_worker_wait(replace(wait, p_slot=p_slot), worker, children.mean_wait_s)
    stable = a_b < c and open_mean < slot_capacity and wait.stable
    # Accept-queue blocking with the slots as servers: an order of magnitude only (§4.5).
    slots = max(1, math.floor(slot_capacity))
    slot_scv = ht.scv if ht.mean_s > 0 else 1.0
    blocking = blocking_estimate(slots, min(open_mean, 1e300), q, slot_scv)
    lingering = fixed.connections_per_s * profile.visits.linger_s
    busy = min(float(c), a_b)
    p_wait = wait.p_wait
    inf = math.inf
    detail = EventDetail(
        worker_factor=f,
        busy_erlangs=a_b,
        idle_connections_mean=a_y,
        process_saturation=fixed.process_saturation,
        kill_episodes_per_s=fixed.kill_episodes_per_s,
        keepalive_drops_per_s=fixed.keepalive_drops_per_s + stale,
        kill_hazard_per_s=fixed.kill_hazard_per_s,
        connections_per_s_without_kills=fixed.connections_per_s_without_kills,
        churn_per_s=max(0.0, conn_rate - fixed.connections_per_s_without_kills),
        p_connection_limit=p_limit,
        p_connection_limit_bound=limit.p_limit_bound,
        pooled_wait_probability=limit.pooled_c,
        slot_capacity=slot_capacity,
        lingering_mean=lingering,
        wait_for_worker_probability=wait.p_worker,
        wait_for_slot_probability=(1.0 - wait.p_worker) * wait.p_slot,
        deferred_closes_mean=deferred,
        carried_requests_per_s=rate,
        stale_requests_per_s=stale,
    )
    return MpmMetrics(
        mpm=Mpm.event,
        settings=settings,
        profile=profile,
        workers=c,
        processes=p,
        threads_per_child=tpc,
        server_limit=settings.server_limit,
        max_concurrent_requests=c,
        max_connections=(1 + f) * c,
        idle_keepalive_capacity=(1 + f) * c,
        accept_queue=q,
        offered_load_erlangs=a_b,
        utilization=a_b / c,
        busy_workers_mean=busy,
        idle_keepalive_mean=idle_ka,
        connections_per_s=conn_rate,
        p_wait=p_wait,
        p_wait_request=clamp_probability((conn_rate * p_wait + fixed.keepalive_drops_per_s) / rate),
        mean_wait_s=wait.mean_wait_s if stable else inf,
        mean_wait_given_wait_s=wait.mean_wait_given_wait_s if stable else inf,
        wait_p99_s=wait.wait_quantile_s(0.99) if stable else inf,
        p_block=clamp_probability(wait.p_block),
        p_block_conservative=clamp_probability(max(blocking.p_block_cons, wait.p_block)),
        stable=stable,
        scoreboard=Scoreboard(busy, idle_ka, lingering),
        # What httpd counts, requests over connections accepted: a refused keep-alive request
        # is served on the connection its client opens next (§4.5).
        requests_per_connection=rate / conn_rate if conn_rate > 0.0 else ht.requests_per_conn,
        holding_time_s=ht.mean_s,
        holding_time_scv=ht.scv,
        open_connections_mean=open_mean,
        open_connections_p99=open_p99,
        memory=threaded_memory(settings, profile, busy, open_p99),
        event=detail,
    )


def evaluate_by_chain(settings: EventSettings, profile: TrafficProfile) -> MpmMetrics:
    """`evaluate`, with the connection level from the per-child chain and the accept queue the
    children share (`capplan.models.event_backlog`, docs/derivations.md §4.6-4.7).

    The chain gives the busy workers, idle and open connections, the connection rate (so E[R]),
    B_p, kill episodes, keep-alive drops as clients see them (`stale_requests_per_s` added), the
    idle connections killed (as the hazard h), and a new connection's wait: P(wait) split into a
    wait for a worker (the child full) and for a connection slot, its mean and p99, P_limit
    (= P(wait): no child can accept) and P(block) (the closed form's where the chain's queue is
    cut short of the accept queue; where the chain does not settle, `dropped_attempt_share` at
    the rate its busy workers carry). Memory is the closed form's at the chain's busy workers and
    the Poisson p99 of its open connections. It takes about a second where `evaluate` takes a
    millisecond. Where the chain cannot be built (beyond its state budget, a think time of 0) or
    does not settle, the closed form stands and `EventDetail.model_note` says why; where it
    follows many children that are often at their limits as nearly independent, the note says
    that its P(wait) is too low.
    """
    from capplan.models.event_backlog import evaluate_backlog
    from capplan.models.event_chain import chain_traffic, stale_requests_per_s

    try:
        chain = evaluate_backlog(settings, profile)
    except (ValueError, ArithmeticError) as exc:
        kept = evaluate(settings, profile)
        assert kept.event is not None
        note = f"the chain could not be used: {exc}"
        return replace(kept, event=replace(kept.event, model_note=note))
    # The chain finds its own state, overloaded or not: the closed form's offered figures are
    # the base (its carried ones stand above, where the chain cannot be used).
    closed = evaluate(settings, profile, carried=False)
    detail = closed.event
    assert detail is not None
    p = settings.processes
    rate = profile.traffic.requests_per_second
    traffic = chain_traffic(profile, settings.common)
    # What clients see dropped: requests refused for want of a worker, and requests sent on
    # killed connections before a worker closed them.
    stale = stale_requests_per_s(chain.killed_per_s, traffic, settings.threads_per_child)
    drops = chain.keepalive_drops_per_s + stale
    busy = min(float(settings.workers), p * chain.busy_mean)
    idle = p * chain.idle_mean
    conn = chain.connections_per_s
    stable = not chain.saturated and closed.offered_load_erlangs < settings.workers
    open_mean = busy + idle
    deferred = deferred_closes(chain.killed_per_s, traffic.worker_s, settings.threads_per_child)
    open_p99 = poisson_quantile(0.99, open_mean + deferred)
    p_wait = clamp_probability(chain.p_wait)
    worker_wait = clamp_probability(chain.p_wait_worker)
    # A queue cut short of the accept queue's places (less than 1e-4 of the time at the cut)
    # bounds P(block) from above only: the closed form's figure stands there.
    cut = chain.queue_places < settings.common.accept_queue_capacity
    p_block = closed.p_block if cut else clamp_probability(chain.p_block)
    # An overloaded chain carries its busy workers' requests; the retried SYNs (§4.14) drop the
    # rest of the offered ones.
    carried_rate = min(rate, busy / traffic.worker_s) if traffic.worker_s > 0.0 else rate
    if not stable:
        p_block = dropped_attempt_share(carried_rate / rate, profile.visits.connect_attempts)
    inf = math.inf
    note = ""
    # Several children, often unable to accept, whose filling up together the chain does not
    # follow (derivations §4.8): beyond the reduced chain's state budget they are taken as
    # independent, and from about 8 children on the reduced chain finds them nearly so where
    # the test simulator does not (children of 25 held near their limits: 0.15 against 0.35 at
    # 12 children, 0.07 against 0.29 at 16; 14 children of 64 under seasonal-peak's traffic,
    # each unable to accept 0.14 of the time: 1e-8 against 0.0013 +- 0.0005 over 12 runs of
    # 400 s, where the closed form gives 0.0028).
    apart = chain.none_ready_given_one is None or p >= _MANY_CHILDREN
    if stable and p > 1 and apart and 1.0 - chain.ready >= _INDEPENDENT_NOTED:
        note = (
            f"each of the {p} children is unable to accept {1.0 - chain.ready:.2g} of the time, "
            "and the chain finds this many all unable at once far less often than they "
            "are, so its P(wait) is too low; the closed form's is the safer figure"
        )
    return replace(
        closed,
        busy_workers_mean=busy,
        idle_keepalive_mean=idle,
        connections_per_s=conn,
        requests_per_connection=rate / conn if conn > 0.0 else closed.requests_per_connection,
        open_connections_mean=open_mean,
        open_connections_p99=open_p99,
        p_wait=p_wait,
        p_wait_request=clamp_probability((conn * p_wait + drops) / rate),
        mean_wait_s=chain.mean_wait_s if stable else inf,
        mean_wait_given_wait_s=chain.mean_wait_when_waiting_s if stable else inf,
        wait_p99_s=chain.wait_p99_s if stable else inf,
        p_block=p_block,
        p_block_conservative=max(p_block, closed.p_block_conservative),
        stable=stable,
        scoreboard=Scoreboard(busy, idle, closed.scoreboard.closing),
        memory=threaded_memory(settings, profile, busy, open_p99),
        event=replace(
            detail,
            process_saturation=chain.saturation,
            kill_episodes_per_s=chain.kill_episodes_per_s,
            keepalive_drops_per_s=drops,
            kill_hazard_per_s=chain.killed_per_s / idle if idle > 0.0 else 0.0,
            idle_connections_mean=idle,
            # PASTA: a new connection finds no child able to accept as often as it waits.
            p_connection_limit=p_wait,
            wait_for_worker_probability=worker_wait,
            wait_for_slot_probability=max(0.0, p_wait - worker_wait),
            deferred_closes_mean=deferred,
            carried_requests_per_s=rate if stable else carried_rate,
            stale_requests_per_s=stale,
            model="chain",
            model_note=note,
        ),
    )
