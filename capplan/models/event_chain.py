"""event child by child: a finite Markov chain per process, coupled by a fixed point (§4.6).

Stage: event model behind `--event-model chain` (docs/models.md, "Child by child"). Input:
processes P, ThreadsPerChild T, the effective AsyncRequestWorkerFactor F and `ChainTraffic`.
Output: `ChainResult`, the steady state of one child and the rates of the whole server.

A child's state is (b, y, d): b busy workers, y idle keep-alive connections, d whether its
listener is disabled. It follows event.c's listener_thread():

* a child whose listener is enabled and that is not above its limit (`b < T` and
  `b + y < T + F (T - b)`, connections_above_limit()) accepts new connections;
* every new connection wakes every enabled listener: a child above its limit disables its
  listener, and a full child (b = T) also closes all its idle keep-alive connections
  (process_keepalive_queue(0), a kill episode); while connections wait in the accept queue, a
  child that accepts one is checked again at once, and so are the other children;
* a disabled listener is enabled again once `b + y < T + F (T - b - 1)` (the hysteresis of
  connections_above_limit() while listeners are disabled);
* a finished request leaves its connection idle (the visit goes on, or the client holds the
  socket) or closes it; an idle connection sends its next request or times out; a request that
  finds its child full is dropped (its client reconnects) and the child kills the rest.

Idle connections are exponential with the rates that give the mean idle time and the share that
ends in a request; the children are coupled through the accept rate of a ready child, set so
that the children together accept the new connections offered, and through the new-connection
rate, which includes the reconnections of killed, dropped and timed-out visits. When no accept
rate carries the offered connections the server is overloaded: the accept queue never empties.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from capplan.models.event_listener import idle_spell_shares, stale_requests
from capplan.mpm_settings import CommonSettings, EventSettings
from capplan.profile import TrafficProfile
from capplan.queueing.ctmc import Factors, stationary_near, survival_integral

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]

# Transition kinds; a state has at most one transition of each kind.
_ACCEPT, _ACCEPT_CHECK, _CHECK, _DONE_IDLE, _DONE_CLOSE, _REQUEST, _TIMEOUT, _UNREACHED = range(8)
_KINDS = 8
_MAX_STEPS = 200
_TOLERANCE = 1e-8
# The accept-rate search can stall a little short of _TOLERANCE (the secants on a and on P(wait)
# undo each other's last digits): once every residual is below this and the worst has not
# halved in _STALLED solves, the point is taken.
_STALL_TOLERANCE = 1e-6
_STALLED = 10
# An accept rate this many times the request rate leaves a ready state at once (overload test).
_INSTANT = 1e3
# Largest chain solved (TPC 128 with F 2 has 66,822 states, about 0.4 s a factorization);
# larger servers keep the closed-form model (docs/derivations.md §4.6).
MAX_STATES = 70_000


@dataclass(frozen=True, slots=True)
class ChainTraffic:
    """What one child sees, in requests and connections (rates per second, times in seconds).

    `requests_per_s` λ for the whole server, `worker_s` S_w a request's worker time,
    `go_idle` the probability that a finished request leaves its connection idle,
    `idle_request_rate` θ and `idle_close_rate` τ of one idle connection (mean idle time
    1/(θ + τ), a share θ/(θ + τ) ends in a request), `close_reconnects` the share of idle
    closes (timeouts) after which the visit reconnects, `killed_reconnects` the share of killed
    idle connections whose visit goes on, `visits_per_s` the visits' first connections.
    """

    requests_per_s: float
    worker_s: float
    go_idle: float
    idle_request_rate: float
    idle_close_rate: float
    close_reconnects: float
    killed_reconnects: float
    visits_per_s: float


@dataclass(frozen=True, slots=True)
class ChainResult:
    """The coupled steady state; per-child means and whole-server rates.

    `busy_mean` and `idle_mean` per child; `saturation` B_p = P(b = T); `ready` P(a child can
    accept); `closed` P(a child is above its limit, hysteresis aside); `connections_per_s` the
    connections accepted by the server; `offered_connections_per_s` the new connections
    offered (visits and reconnections; above the accepted ones when overloaded);
    `kill_episodes_per_s`, `keepalive_drops_per_s` and
    `killed_per_s` (idle connections closed by kills) over all children; `overloaded` when the
    accept queue never empties; `states` the chain's size; `steps` the solves used;
    `child_rates` (a ready child's accept rate, the check rate, the share of accepts checked
    again at once) at the fixed point, which with the traffic give a child's generator.
    """

    busy_mean: float
    idle_mean: float
    saturation: float
    ready: float
    closed: float
    connections_per_s: float
    offered_connections_per_s: float
    kill_episodes_per_s: float
    keepalive_drops_per_s: float
    killed_per_s: float
    overloaded: bool
    states: int
    steps: int
    child_rates: tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class _Structure:
    """The chain's states and transitions, independent of the rates."""

    size: int
    busy: IntArray
    idle: IntArray
    ready: npt.NDArray[np.bool_]
    closed: npt.NDArray[np.bool_]
    full: npt.NDArray[np.bool_]
    source: IntArray  # per transition
    target: IntArray
    kind: IntArray
    weight: FloatArray  # rate = weight x the kind's rate
    kill: FloatArray  # 1 where the transition is a kill episode
    killed: FloatArray  # idle connections it closes
    drop: FloatArray  # 1 where it drops a keep-alive request


def idle_cap(threads_per_child: int, factor: int, no_limit_idle_mean: float) -> int:
    """The largest idle count kept: the slot limit, or the no-limit Poisson tail's 1e-15 point.

    A child's idle connections are fewer than with no limit and no kills (Poisson with the
    no-limit mean, as an infinite-server system); beyond mean + 9 sqrt(mean) + 40 that law has
    less than 1e-15 of its mass.
    """
    limit = (1 + factor) * threads_per_child
    tail = no_limit_idle_mean + 9.0 * math.sqrt(no_limit_idle_mean) + 40.0
    return max(0, min(limit, math.ceil(tail)))


def chain_cap(traffic: ChainTraffic, processes: int, threads_per_child: int, factor: int) -> int:
    """The idle cut-off for this traffic: `idle_cap` at the no-limit mean, 0 without
    keep-alive."""
    if traffic.go_idle <= 0.0:
        return 0
    return idle_cap(threads_per_child, factor, no_limit_idle(traffic, processes))


def chain_states(threads_per_child: int, factor: int, cap: int) -> int:
    """The number of states of the chain (both listener flags of every (b, y))."""
    return 2 * (threads_per_child + 1) * (cap + 1)


@lru_cache(maxsize=16)
def _structure(tpc: int, factor: int, cap: int) -> _Structure:
    import numpy as np

    ny = cap + 1
    b, y, d = (
        a.ravel()
        for a in np.meshgrid(np.arange(tpc + 1), np.arange(ny), np.arange(2), indexing="ij")
    )
    size = b.size

    def index(bb: IntArray, yy: IntArray, dd: IntArray) -> IntArray:
        return (bb * ny + yy) * 2 + dd

    def above(bb: IntArray, yy: IntArray, dd: IntArray) -> npt.NDArray[np.bool_]:
        idle_workers = tpc - bb
        return (idle_workers <= 0) | (bb + yy >= tpc + (idle_workers - dd) * factor)

    def settle(bb: IntArray, yy: IntArray, dd: IntArray) -> IntArray:
        """should_enable_listensocks(): a disabled listener below the hysteresis is enabled."""
        enabled = (dd == 1) & ~above(bb, yy, np.ones_like(dd))
        return index(bb, yy, np.where(enabled, 0, dd))

    def checked(bb: IntArray, yy: IntArray) -> tuple[IntArray, FloatArray, FloatArray]:
        """An enabled listener checked at (bb, yy): its next state, kill flag, idle killed."""
        over = above(bb, yy, np.zeros_like(bb))
        full = bb == tpc
        yy2 = np.where(full, 0, yy)
        target = index(bb, np.where(over, yy2, yy), np.where(over, 1, 0))
        # httpd logs (and an operator sees) an episode only when it closes something.
        kill = (over & full & (yy > 0)).astype(float)
        return target, kill, kill * yy

    parts: list[tuple[IntArray, IntArray, int, FloatArray, FloatArray, FloatArray, FloatArray]] = []
    states = np.arange(size)
    zero = np.zeros(size)

    def add(  # noqa: PLR0917 (one transition family: its mask, target, kind and weights)
        mask: npt.NDArray[np.bool_],
        target: IntArray,
        kind: int,
        weight: FloatArray,
        kill: FloatArray = zero,
        killed: FloatArray = zero,
        drop: FloatArray = zero,
    ) -> None:
        parts.append(
            (states[mask], target[mask], kind, weight[mask], kill[mask], killed[mask], drop[mask])
        )

    ones = np.ones(size)
    is_above = above(b, y, d)
    ready = (d == 0) & ~is_above
    full = b == tpc
    # A ready child accepts; while connections wait it is checked again at once.
    add(ready, index(np.minimum(b + 1, tpc), y, d), _ACCEPT, ones)
    t, k, kd = checked(np.minimum(b + 1, tpc), y)
    add(ready, t, _ACCEPT_CHECK, ones, k, kd)
    # An enabled child above its limit is disabled by the next check (and kills when full).
    t, k, kd = checked(b, y)
    add((d == 0) & is_above, t, _CHECK, ones, k, kd)
    # A request ends: the connection goes idle or closes.
    served = b > 0
    # (At the idle cut-off, far out in the tail, the connection closes instead.)
    add(
        served, settle(np.maximum(b - 1, 0), np.minimum(y + 1, cap), d), _DONE_IDLE, b.astype(float)
    )
    add(served, settle(np.maximum(b - 1, 0), y, d), _DONE_CLOSE, b.astype(float))
    # An idle connection sends a request: a worker takes it, or a full child drops it and kills.
    has_idle = y > 0
    yf = y.astype(float)
    add(has_idle & ~full, index(np.minimum(b + 1, tpc), np.maximum(y - 1, 0), d), _REQUEST, yf)
    others = (y > 1).astype(float)  # idle connections left to kill besides the dropped one
    add(has_idle & full, settle(b, np.zeros_like(y), d), _REQUEST, yf, others, yf - 1.0, ones)
    add(has_idle, settle(b, np.maximum(y - 1, 0), d), _TIMEOUT, yf)
    # A disabled listener below the hysteresis is never reached (it is enabled on the way in);
    # those states lead out so that the chain keeps a single closed class.
    add((d == 1) & ~above(b, y, d), index(b, y, np.zeros_like(d)), _UNREACHED, ones)

    def cat(i: int) -> FloatArray:
        return np.concatenate([np.asarray(p[i], dtype=float) for p in parts])

    closed_now = (b == tpc) | (b + y >= tpc + (tpc - b) * factor)
    return _Structure(
        size=size,
        busy=b,
        idle=y,
        ready=ready,
        closed=closed_now,
        full=full,
        source=np.concatenate([p[0] for p in parts]),
        target=np.concatenate([p[1] for p in parts]),
        kind=np.concatenate([np.full(p[0].size, p[2]) for p in parts]),
        weight=cat(3),
        kill=cat(4),
        killed=cat(5),
        drop=cat(6),
    )


@dataclass(frozen=True, slots=True)
class _Solve:
    ready: float
    closed: float
    saturation: float
    busy: float
    idle: float
    kills: float  # per child, per second
    killed: float
    drops: float
    reconnects: float
    mode: int  # the most likely state, pinned by the next solve
    rates: tuple[float, float, float]  # what it was solved at (`_solve`'s `rates`)


def _solve(
    st: _Structure,
    traffic: ChainTraffic,
    rates: tuple[float, float, float],
    pin: int,
    factors: Factors,
) -> _Solve:
    """One stationary solve at (accept rate of a ready child, check rate, share of rechecks),
    from the LU kept in `factors`."""
    rate = _transition_rates(st, traffic, rates)
    pi, mode = stationary_near(st.size, st.source, st.target, rate, pin, factors=factors)
    flow = pi[st.source] * rate
    kills = float(flow @ st.kill)
    killed = float(flow @ st.killed)
    drops = float(flow @ st.drop)
    idle = float(pi @ st.idle)
    timeouts_reconnecting = idle * traffic.idle_close_rate * traffic.close_reconnects
    return _Solve(
        ready=float(pi[st.ready].sum()),
        closed=float(pi[st.closed].sum()),
        saturation=float(pi[st.full].sum()),
        busy=float(pi @ st.busy),
        idle=idle,
        kills=kills,
        killed=killed,
        drops=drops,
        reconnects=timeouts_reconnecting + drops + killed * traffic.killed_reconnects,
        mode=mode,
        rates=rates,
    )


def _transition_rates(
    st: _Structure, traffic: ChainTraffic, rates: tuple[float, float, float]
) -> FloatArray:
    """Each transition's rate at (accept rate of a ready child, check rate, share of
    rechecks)."""
    import numpy as np

    accept_rate, check_rate, recheck = rates
    kind_rates = np.zeros(_KINDS)
    kind_rates[_ACCEPT] = accept_rate * (1.0 - recheck)
    kind_rates[_ACCEPT_CHECK] = accept_rate * recheck
    kind_rates[_CHECK] = check_rate
    kind_rates[[_DONE_IDLE, _DONE_CLOSE, _REQUEST, _TIMEOUT]] = connection_rates(traffic)
    kind_rates[_UNREACHED] = 1.0
    rate: FloatArray = st.weight * kind_rates[st.kind]
    return rate


def first_pin(
    busy: IntArray, idle: IntArray, ready: npt.NDArray[np.bool_], traffic: ChainTraffic, p: int
) -> int:
    """A likely state to pin before any solve: the ready state nearest the no-limit means of
    busy workers and idle connections (per state: its `busy` and `idle` counts, `ready`)."""
    import numpy as np

    busy_mean = min(traffic.requests_per_s * traffic.worker_s / p, float(busy.max()) - 1.0)
    distance = np.abs(busy - busy_mean) + np.abs(idle - no_limit_idle(traffic, p))
    return int(np.argmin(np.where(ready, distance, np.inf)))


def solve_chain(
    processes: int, threads_per_child: int, factor: int, traffic: ChainTraffic, cap: int
) -> ChainResult:
    """The children's steady state: the accept rate of a ready child and the new-connection rate
    Λ found together (docs/derivations.md §4.6).

    Λ = visits + reconnections; a ready child accepts at rate a, and the children carry Λ when
    P a ready = Λ. A share w of the accepts happens while connections wait (each followed by a
    check), w = P(wait)^2 with P(wait) = (1 - ready)^P, and the other children's accepts from the
    queue check a child too: checks at Λ (1 + P(wait) (P - 1)/P). If even an instant accept rate
    carries fewer than Λ, the server is overloaded and the result is that of the full queue.
    Otherwise a is the root of h(a) = log(P a ready) - log Λ, found by a secant kept inside a
    bracket, with P(wait) and the check rate carried along from each solve, until every residual
    is below 1e-8, or below 1e-6 when it has stopped halving for ten solves. ArithmeticError
    when either search has not settled after `_MAX_STEPS` solves.
    """
    p = processes
    st = _structure(threads_per_child, factor, cap)
    visits = traffic.visits_per_s
    instant = _INSTANT * max(traffic.requests_per_s, 1.0 / traffic.worker_s)
    pin = first_pin(st.busy, st.idle, st.ready, traffic, p)
    factors = Factors()
    steps = 0

    # Overload: with the queue never empty, every accept is followed by a check.
    demand = visits
    top = _solve(st, traffic, (instant, demand * (2.0 - 1.0 / p), 1.0), pin, factors)
    steps += 1
    for _ in range(_MAX_STEPS):
        new_demand = visits + p * top.reconnects
        if abs(new_demand - demand) <= _TOLERANCE * new_demand:
            break
        demand = new_demand
        top = _solve(st, traffic, (instant, demand * (2.0 - 1.0 / p), 1.0), top.mode, factors)
        steps += 1
    else:
        raise ArithmeticError(f"the event chain's overload test did not settle in {steps} solves")

    def overloaded(at: _Solve, offered: float) -> ChainResult:
        """The full queue's state: the children take what an instant accept rate lets them."""
        carried = p * instant * at.ready
        return _result(
            at,
            processes=p,
            connections=carried,
            offered=offered,
            overloaded=True,
            states=st.size,
            steps=steps,
        )

    if p * instant * top.ready <= demand:
        return overloaded(top, demand)

    # The bracket: at a = visits/P the children carry at most the visits (h <= 0); at the
    # instant rate they carry more than the demand (h > 0, as just found).
    low, high = math.log(visits / p), math.log(instant)
    lo, hi = low, high
    x = lo
    previous: tuple[float, float] | None = None
    demand = visits
    waiting = 0.0
    last_wait: tuple[float, float] | None = None
    sol = top
    best, since_best = math.inf, 0
    for _ in range(_MAX_STEPS):
        checks = demand * (1.0 + waiting * (p - 1) / p)
        sol = _solve(st, traffic, (math.exp(x), checks, waiting * waiting), sol.mode, factors)
        steps += 1
        new_demand = visits + p * sol.reconnects
        h = math.log(max(p * math.exp(x) * sol.ready, 1e-300)) - math.log(new_demand)
        new_waiting = (1.0 - sol.ready) ** p
        worst = max(abs(h), abs(new_demand - demand) / new_demand, abs(new_waiting - waiting))
        if worst <= _TOLERANCE:
            break
        if x >= high and h < 0.0:
            # Even the instant accept rate carries less than the demand at the waiting share
            # found since the overload test (which took every accept as checked): overloaded.
            return overloaded(sol, new_demand)
        if worst <= 0.5 * best:
            best, since_best = worst, 0
        else:
            since_best += 1
            if worst <= _STALL_TOLERANCE and since_best >= _STALLED:
                break
        demand = new_demand
        # P(wait) is a fixed point of its own: a secant on its residual, kept within [0, 1]
        # (a plain or damped substitution creeps or cycles near overload).
        residual = new_waiting - waiting
        step_w = residual
        if last_wait is not None and residual != last_wait[1]:
            step_w = -residual * (waiting - last_wait[0]) / (residual - last_wait[1])
        last_wait = (waiting, residual)
        candidate = waiting + step_w
        waiting = candidate if 0.0 <= candidate <= 1.0 else waiting + 0.5 * residual
        if h < 0.0:
            lo = x
        else:
            hi = x
        # The bracket holds for the waiting share and demand it was found with; when the
        # substitution leaves it, they have moved the root, and the bracket starts afresh.
        substitute = min(max(math.log(new_demand / (p * max(sol.ready, 1e-300))), low), high)
        if not lo <= substitute <= hi:
            lo, hi = low, high
        x, previous = _next_point(x, h, previous, (lo, hi), substitute), (x, h)
    else:
        raise ArithmeticError(f"the event chain's fixed point did not settle in {steps} solves")
    return _result(
        sol,
        processes=p,
        connections=demand,
        offered=demand,
        overloaded=False,
        states=st.size,
        steps=steps,
    )


def _next_point(
    x: float,
    h: float,
    previous: tuple[float, float] | None,
    bracket: tuple[float, float],
    substitute: float,
) -> float:
    """The next log accept rate: the secant through the last two points when it stays inside
    the bracket, else the substitution log(Λ/(P ready)) (the caller keeps it in range)."""
    lo, hi = bracket
    if previous is not None and previous[1] != h:
        secant = x - h * (x - previous[0]) / (h - previous[1])
        if lo < secant < hi:
            return secant
    return substitute


def connection_rates(traffic: ChainTraffic) -> tuple[float, float, float, float]:
    """Per busy worker, a request ending with its connection idle and with it closed; per
    idle connection, a request and a close."""
    mu = 1.0 / traffic.worker_s
    return (
        mu * traffic.go_idle,
        mu * (1.0 - traffic.go_idle),
        traffic.idle_request_rate,
        traffic.idle_close_rate,
    )


def stale_requests_per_s(
    killed_per_s: float, traffic: ChainTraffic, threads_per_child: int
) -> float:
    """Requests sent on killed keep-alive connections before httpd closes them (§4.6).

    A kill does not close a connection at once: `shutdown_connection()` puts it on the child's
    `defer_linger_chain`, which a worker empties when it finishes its job (`worker_thread()`).
    The child has no idle worker when it kills, so the connection stays open to its client until
    the first of the T busy workers finishes, after Exp(T/S_w). A killed connection sends its
    next request at rate θ, first with probability θ/(θ + T/S_w); the lingering close discards
    that request and the client sees it dropped, as it does a request dropped for want of a
    worker (`keepalive_drops_per_s`).
    """
    return stale_requests(
        killed_per_s, traffic.idle_request_rate, traffic.worker_s, threads_per_child
    )


def no_limit_idle(traffic: ChainTraffic, processes: int) -> float:
    """Idle connections per child with no limit and no kills: an infinite-server system."""
    if traffic.go_idle <= 0.0:
        return 0.0
    entries = traffic.requests_per_s * traffic.go_idle / processes
    return entries / (traffic.idle_request_rate + traffic.idle_close_rate)


def _result(
    sol: _Solve,
    *,
    processes: int,
    connections: float,
    offered: float,
    overloaded: bool,
    states: int,
    steps: int,
) -> ChainResult:
    p = processes
    return ChainResult(
        busy_mean=sol.busy,
        idle_mean=sol.idle,
        saturation=sol.saturation,
        ready=sol.ready,
        closed=sol.closed,
        connections_per_s=connections,
        offered_connections_per_s=offered,
        kill_episodes_per_s=p * sol.kills,
        keepalive_drops_per_s=p * sol.drops,
        killed_per_s=p * sol.killed,
        overloaded=overloaded,
        states=states,
        steps=steps,
        child_rates=sol.rates,
    )


def chain_traffic(profile: TrafficProfile, common: CommonSettings) -> ChainTraffic:
    """The chain's rates for a profile under these KeepAlive settings (docs/derivations.md §4.6).

    After a request the visit goes on with probability 1 - 1/m (m requests per visit, the
    average over the visit for fixed visits too) and the client then thinks Exp(Z); it sends
    the next request on the same connection if Z < KeepAliveTimeout T (probability
    r = 1 - e^{-T/Z}), else the connection times out and the visit reconnects. After the last
    request the client holds the socket idle with probability q until T closes it. So a request
    leaves its connection idle with probability g = (1 - 1/m) + q/m, an idle period lasts
    E = ((1 - 1/m) Z r + (q/m) T)/g on average, and theta = (1 - 1/m) r/(g E),
    tau = ((1 - 1/m)(1 - r) + q/m)/(g E). MaxKeepAliveRequests is not modelled (the chain is
    for visits well below it).
    """
    traffic = profile.traffic
    visits = profile.visits
    rate = traffic.requests_per_second
    m = max(1.0, visits.requests_per_visit)
    more, hold = idle_spell_shares(profile, common)
    timeout = common.keep_alive_timeout_s if common.keep_alive else 0.0
    think = visits.think_time_s
    if timeout <= 0.0 or (more == 0.0 and hold == 0.0):
        # Every connection closes after its request: one request per connection.
        return ChainTraffic(rate, traffic.worker_time_s, 0.0, 0.0, 0.0, 0.0, 0.0, rate)
    if think <= 0.0:
        raise ValueError("the event chain needs a think time above 0 between requests")
    reuse = -math.expm1(-timeout / think)
    go_idle = more + hold
    continuing = more * think * reuse
    held = hold * timeout
    mean_idle = (continuing + held) / go_idle
    closes = more * (1.0 - reuse) + hold
    return ChainTraffic(
        requests_per_s=rate,
        worker_s=traffic.worker_time_s,
        go_idle=go_idle,
        idle_request_rate=more * reuse / (go_idle * mean_idle),
        idle_close_rate=closes / (go_idle * mean_idle),
        close_reconnects=more * (1.0 - reuse) / closes if closes > 0.0 else 0.0,
        killed_reconnects=more / go_idle,
        visits_per_s=rate / m,
    )


def _sized(settings: EventSettings, profile: TrafficProfile) -> tuple[ChainTraffic, int]:
    """The chain's traffic and idle cap for these settings; ValueError beyond `MAX_STATES`."""
    traffic = chain_traffic(profile, settings.common)
    p, tpc, f = settings.processes, settings.threads_per_child, settings.worker_factor
    cap = chain_cap(traffic, p, tpc, f)
    states = chain_states(tpc, f, cap)
    if states > MAX_STATES:
        raise ValueError(f"the event chain would have {states} states (at most {MAX_STATES})")
    return traffic, cap


def evaluate_chain(settings: EventSettings, profile: TrafficProfile) -> ChainResult:
    """The chain for these event settings and this profile; ValueError beyond `MAX_STATES`."""
    traffic, cap = _sized(settings, profile)
    p, tpc, f = settings.processes, settings.threads_per_child, settings.worker_factor
    return solve_chain(p, tpc, f, traffic, cap)


@dataclass(frozen=True, slots=True)
class HeldLife:
    """How long a held socket lives in a child of the chain (`held_socket_life`).

    `life_s` E[min(its child's next kill episode, T)] from the chain's joint law of busy workers
    and idle connections; `one_hazard_s` (1 - e^(-h T))/h, what it would live if every idle
    connection were killed at the chain's mean hazard h (its idle connections killed a second
    over those it holds); `chain` the chain's steady state.
    """

    life_s: float
    one_hazard_s: float
    chain: ChainResult


def held_socket_life(settings: EventSettings, profile: TrafficProfile) -> HeldLife:
    """A held socket's life in the per-child chain (docs/derivations.md §4.13).

    A held socket (idle after its visit's last request) is closed by the KeepAliveTimeout T or,
    first, by its child's next kill episode. It goes idle at a request's end, so it starts in
    the law of the states a finished request leaves idle connections in (the stationary flow of
    those transitions), and from there the child moves as the chain does, except that the
    socket itself neither sends a request nor times out early: the idle connections' requests
    and timeouts come from the y - 1 others. It dies at the first transition that empties the
    pool (a check of a full child, or another connection's request meeting one), and lives
    E[min(τ, T)] (`survival_integral`). With no idle connections held (no keep-alive, or no
    held sockets) it is T. ValueError beyond `MAX_STATES`.
    """
    import numpy as np

    traffic, cap = _sized(settings, profile)
    p, tpc, f = settings.processes, settings.threads_per_child, settings.worker_factor
    result = solve_chain(p, tpc, f, traffic, cap)
    timeout = settings.common.keep_alive_timeout_s if settings.common.keep_alive else 0.0
    killed = result.killed_per_s / p
    one_hazard = timeout
    if killed > 0.0 and result.idle_mean > 0.0:
        hazard = killed / result.idle_mean
        one_hazard = -math.expm1(-hazard * timeout) / hazard
    if traffic.go_idle <= 0.0 or timeout <= 0.0:
        return HeldLife(timeout, one_hazard, result)
    st = _structure(tpc, f, cap)
    rate = _transition_rates(st, traffic, result.child_rates)
    pin = first_pin(st.busy, st.idle, st.ready, traffic, p)
    pi, _ = stationary_near(st.size, st.source, st.target, rate, pin)
    y = st.idle[st.source].astype(float)
    others = (st.kind == _REQUEST) | (st.kind == _TIMEOUT)
    tagged = np.where(
        others & (y > 0.0), rate * np.maximum(y - 1.0, 0.0) / np.maximum(y, 1.0), rate
    )
    ending = (y >= 1.0) & (st.idle[st.target] == 0) & (tagged > 0.0)
    born = st.kind == _DONE_IDLE
    start = np.bincount(
        st.target[born], weights=pi[st.source[born]] * rate[born], minlength=st.size
    )
    if start.sum() <= 0.0:
        return HeldLife(timeout, one_hazard, result)
    life = survival_integral(
        st.size,
        st.source,
        st.target,
        tagged,
        start / start.sum(),
        ending=ending,
        horizon=timeout,
    )
    return HeldLife(life, one_hazard, result)
