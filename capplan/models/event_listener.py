"""An event child's listener and its hysteresis: how often and how long a new connection waits
for a worker, with a single child (the chain below) and with several (`children_wait`).

Stage: event model, one process (docs/derivations.md §4.9; several children §4.12). Input:
ThreadsPerChild T, the new connections per second, the keep-alive requests per second, the
worker time S_w and the share g of requests that leave their connection idle. Output:
`ListenerWait`, P(a new connection waits for a worker), the mean wait, how often the child is
full, the keep-alive requests it drops and the share of its kill episodes that come in bursts
(§4.10); `ChildrenWait` for several children. `stale_requests`: the requests sent on the
connections a listener's kill closed before a worker shuts them (§4.5), for both event models.

NOTE: event.c's listener disables itself when it finds no idle worker for a waiting connection,
closes the child's idle keep-alive connections, and enables itself again only while
`connections < T + F x (idle workers - 1)` (connections_above_limit() counts one idle worker
less while disabled). With one worker idle that needs no idle keep-alive connection at all: the
request that freed the worker mostly left its connection idle (probability g), and the child
then waits for a second worker while connections queue, takes two at once and, with more
waiting, is full and disabled again at once. Erlang C, which has none of this, puts one child
of 4 at utilisation 0.8 full 0.60 of the time with a mean wait of 47 ms; the test simulator,
which follows event.c, 0.42 and 140 ms, and this chain 0.44 and 143 ms (docs/models.md).

The chain: the child's busy workers n while the listener is enabled and nothing waits (E_n,
n = 0..T), and, while it is disabled with q connections waiting, the child full (A_q) or with one
worker idle (B_q). Requests arrive at their rates whatever the state: a new connection enters
the queue when the child cannot take it; a keep-alive request takes an idle worker, or at a full
child is dropped and reconnects at once into the queue, which is also where the keep-alive
requests of connections an episode killed end up (later, but at the same rate). Moves, with
lambda = new + keep-alive requests per second and mu = 1/S_w:
  E_n -> E_{n+1} at lambda (n < T), E_n -> E_{n-1} at n mu;
  E_T -> A_1 at lambda (the listener meets a waiting connection and is disabled);
  A_q -> A_{q+1} at lambda; a worker frees at T mu: with probability 1 - g the connection
  closed, the listener is enabled and takes the next waiting one (A_{q-1} for q >= 2, E_T for
  q = 1, E_{T-1} for q = 0), else B_q;
  B_q -> B_{q+1} at the new connections' rate, B_q -> A_q at the keep-alive rate (a request on
  an idle connection takes the idle worker), and a second worker frees at (T - 1) mu: the
  listener is enabled and takes two (A_{q-2} for q >= 3, E_T, E_{T-1}, E_{T-2} for q = 2, 1, 0).
Without keep-alive (g = 0) B is never reached and the chain is M/M/T with its queue: Erlang C.
The queue is cut where the law left above it is below 1e-16 (its geometric decay, `_decay`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from capplan.queueing.erlang import erlang_c_real
from capplan.queueing.gth import stationary_gth

if TYPE_CHECKING:
    from capplan.mpm_settings import CommonSettings
    from capplan.profile import TrafficProfile

# The fewest queue levels solved, and the most (about 0.25 s): a queue whose law falls more
# slowly than that allows holds hundreds of connections on average and is reported unstable.
_FIRST_LEVELS = 64
_MOST_LEVELS = 16_384
# The law above the cut, relative to the whole, taken as nothing.
_TAIL = 1e-16


@dataclass(frozen=True, slots=True)
class ListenerWait:
    """A single child's wait for a worker (probabilities in [0, 1], rates per second).

    `p_wait` and `mean_wait_s` are over every connection the child accepts, the reconnections of
    the keep-alive requests it dropped (`drops_per_s`, each of which waits) included; `p_full`
    the time share with every worker busy; `levels` the queue levels solved and `tail` the law
    left at the last one; `stable` False when the queue does not settle (P(wait) 1, the mean
    wait infinite). `burst_share` is the share of the child's kill episodes that come in a
    burst (the listener enabled with two workers free and a third connection waiting: B_q,
    q >= 3, at (T - 1) mu), against those where a connection meets the enabled, full child
    (E_T at lambda); 0 when the queue does not settle.
    """

    p_wait: float
    mean_wait_s: float
    p_full: float
    drops_per_s: float
    levels: int
    tail: float
    stable: bool = True
    burst_share: float = 0.0


def idle_spell_shares(profile: TrafficProfile, common: CommonSettings) -> tuple[float, float]:
    """(1 - 1/m, q/m): the shares of requests after which the visit goes on (m requests per
    visit, the average for fixed visits too) and after which the client holds the socket (q the
    held share); (0, 0) with KeepAlive Off or a KeepAliveTimeout of 0."""
    if not common.keep_alive or common.keep_alive_timeout_s <= 0.0:
        return 0.0, 0.0
    m = max(1.0, profile.visits.requests_per_visit)
    return 1.0 - 1.0 / m, profile.visits.idle_hold_probability / m


def idle_after_request(profile: TrafficProfile, common: CommonSettings) -> float:
    """g, the share of requests after which the client keeps the connection open and idle: the
    sum of `idle_spell_shares`. The per-child chains take the same g (`event_chain.chain_traffic`).
    """
    visit, held = idle_spell_shares(profile, common)
    return visit + held


def stale_requests(
    killed_per_s: float, request_rate_per_s: float, worker_s: float, threads_per_child: int
) -> float:
    """Keep-alive requests sent on killed connections before httpd closes them, per second.

    NOTE: a killed connection stays open to its client until the child's first busy worker
    finishes (`deferred_closes`, F7a), after Exp(TPC/S_w). One that sends its next request in
    that time, at its rate `request_rate_per_s` (the hazard with which an idle connection's
    spell ends in a request), does so first with probability r/(r + TPC/S_w); the lingering
    close discards the request and the client sees it dropped, as it sees a request refused for
    want of a worker (derivations §4.5). Its visit goes on over a new connection, which the
    kill hazard already counts.
    """
    release = threads_per_child / worker_s
    if killed_per_s <= 0.0 or request_rate_per_s <= 0.0:
        return 0.0
    return killed_per_s * request_rate_per_s / (request_rate_per_s + release)


def _chain(
    threads: int,
    new_per_s: float,
    keepalive_per_s: float,
    *,
    mu: float,
    go_idle: float,
    levels: int,
) -> list[dict[int, float]]:
    """The rates of the module docstring's chain, states numbered E_0..E_T, then level by level
    A_q (and B_q after it when g > 0: without idle connections B is never reached)."""
    t = threads
    stride = 2 if go_idle > 0.0 else 1
    arrivals = new_per_s + keepalive_per_s
    rates: list[dict[int, float]] = [{} for _ in range(t + 1 + stride * levels)]

    def a(q: int) -> int:
        return t + 1 + stride * q

    def b(q: int) -> int:
        return t + 2 + 2 * q

    def add(source: int, target: int, rate: float) -> None:
        if rate > 0.0:
            row = rates[source]
            row[target] = row.get(target, 0.0) + rate

    for n in range(t):
        add(n, n + 1, arrivals)
        if n > 0:
            add(n, n - 1, n * mu)
    add(t, a(1), arrivals)
    add(t, t - 1, t * mu)
    for q in range(levels):
        if q + 1 < levels:
            add(a(q), a(q + 1), arrivals)
        after_one = a(q - 1) if q >= 2 else (t if q == 1 else t - 1)
        add(a(q), after_one, t * mu * (1.0 - go_idle))
        if stride == 2:
            add(a(q), b(q), t * mu * go_idle)
            if q + 1 < levels:
                add(b(q), b(q + 1), new_per_s)
            add(b(q), a(q), keepalive_per_s)
            add(b(q), a(q - 2) if q >= 3 else t - 2 + q, (t - 1) * mu)
    return rates


def _decay(t: int, new_per_s: float, keepalive_per_s: float, mu: float, go_idle: float) -> float:
    """eta, the ratio by which the law of the queue falls from one level to the next far up; 1
    or more when the queue does not settle.

    Far up, pi_q = x eta^q with x M(eta) = 0, M(eta) = U + eta L + eta^2 D1 + eta^3 D2 over the
    phases (A, B): U the moves up a level, L those within one (with the rates out on the
    diagonal), D1 and D2 those down one and two. det M(1) = 0 always; the queue settles when
    the phases' mean drift at eta = 1 is below 0, and eta is then the largest root of det M
    below 1.
    """
    lam = new_per_s + keepalive_per_s
    g = go_idle
    if g <= 0.0:  # M/M/T far up: one phase, up at lam, down at T mu
        return lam / (t * mu)
    a_to_b = t * mu * g
    b_to_a = keepalive_per_s + (t - 1) * mu
    share_a = b_to_a / (a_to_b + b_to_a)
    drift = share_a * (lam - t * mu * (1.0 - g)) + (1.0 - share_a) * (new_per_s - 2 * (t - 1) * mu)
    if drift >= 0.0:
        return 1.0

    def det(eta: float) -> float:
        aa = lam - eta * (lam + t * mu) + eta * eta * t * mu * (1.0 - g)
        ab = eta * a_to_b
        ba = eta * keepalive_per_s + eta**3 * (t - 1) * mu
        bb = new_per_s - eta * (new_per_s + b_to_a)
        return aa * bb - ab * ba

    # The decay is the largest root below 1 (det M is a quartic with a root at 1, and can have
    # two more in (0, 1)): det keeps one sign between it and 1, so step down from 1 until the
    # sign changes (1 - eta on a geometric grid from 1e-9 to 1/512, then steps of 1/512), then
    # bisect. A root closer to 1 than 1e-9 would need far more levels than `_MOST_LEVELS`.
    sign = det(1.0 - 1e-9) > 0.0
    grid = [1e-9 * 1.25**k for k in range(70) if 1e-9 * 1.25**k < 1.0 / 512]
    grid += [k / 512 for k in range(1, 513)]
    high = 1.0 - 1e-9
    for gap in grid:
        low = 1.0 - gap
        if (det(low) > 0.0) != sign:
            break
        high = low
    else:
        return 0.0  # no root below 1 but 0 itself: nothing ever waits beyond the first level
    for _ in range(100):
        middle = 0.5 * (low + high)
        if (det(middle) > 0.0) == sign:
            high = middle
        else:
            low = middle
    return 0.5 * (low + high)


def listener_wait(
    threads_per_child: int,
    new_per_s: float,
    keepalive_per_s: float,
    worker_s: float,
    go_idle: float,
) -> ListenerWait:
    """The chain of the module docstring, solved exactly (`stationary_gth`) up to its cut.

    The queue is cut where the law left above falls below 1e-16 (`_decay`: eta^levels); a queue
    that does not settle, or would need more than `_MOST_LEVELS` levels for that (eta above
    0.9977: a mean queue of hundreds of connections), is reported as not stable, with
    P(wait) 1 and an unbounded mean wait. With the hysteresis a child can fall behind with
    (new + keep-alive) S_w below T: while connections queue it keeps a worker idle.
    Domain: T >= 1, rates >= 0 with some new connections, worker_s > 0, 0 <= go_idle <= 1, and
    (new + keep-alive) S_w < T (ValueError otherwise). With one thread the chain takes g = 0:
    its B (no worker busy, the listener disabled) would be left only by the idle connection's
    own request or close, which it does not have.
    """
    t = threads_per_child
    arrivals = new_per_s + keepalive_per_s
    if t < 1 or worker_s <= 0.0 or new_per_s <= 0.0 or keepalive_per_s < 0.0:
        raise ValueError("need T >= 1, S_w > 0, new connections > 0 and keep-alive >= 0")
    if arrivals * worker_s >= t:
        raise ValueError("the child is saturated: its queue grows without bound")
    g = min(1.0, max(0.0, go_idle)) if t >= 2 else 0.0
    mu = 1.0 / worker_s
    eta = _decay(t, new_per_s, keepalive_per_s, mu, g)
    needed = math.inf if eta >= 1.0 else math.log(_TAIL) / math.log(max(eta, 1e-300))
    if needed > _MOST_LEVELS:
        return ListenerWait(1.0, math.inf, 1.0, keepalive_per_s, _MOST_LEVELS, 1.0, stable=False)
    levels = max(_FIRST_LEVELS, math.ceil(needed) + 8)
    stride = 2 if g > 0.0 else 1
    pi = stationary_gth(_chain(t, new_per_s, keepalive_per_s, mu=mu, go_idle=g, levels=levels))
    tail = math.fsum(pi[-stride:])
    full_disabled = math.fsum(pi[t + 1 :: stride])
    one_idle = math.fsum(pi[t + 2 :: 2]) if stride == 2 else 0.0
    queued = math.fsum(
        q * math.fsum(pi[t + 1 + stride * q : t + 1 + stride * (q + 1)]) for q in range(levels)
    )
    p_full = pi[t] + full_disabled
    drops = keepalive_per_s * p_full
    # A new connection (Poisson) waits unless it finds the listener enabled with a worker idle;
    # every dropped request's reconnection waits. Little's law over both gives the mean wait.
    waits_fresh = pi[t] + full_disabled + one_idle
    accepted = new_per_s + drops
    # Kill episodes: a connection meets the enabled, full child (E_T at lambda), or the listener,
    # enabled with two workers free, takes two and finds none for a third (B_q, q >= 3).
    regular = pi[t] * arrivals
    burst = math.fsum(pi[t + 8 :: 2]) * (t - 1) * mu if stride == 2 else 0.0  # B_3, B_4, ...
    return ListenerWait(
        p_wait=min(1.0, (new_per_s * waits_fresh + drops) / accepted),
        mean_wait_s=queued / accepted,
        p_full=min(1.0, p_full),
        drops_per_s=drops,
        levels=levels,
        tail=tail,
        burst_share=burst / (regular + burst) if regular + burst > 0.0 else 0.0,
    )


@dataclass(frozen=True, slots=True)
class ChildrenWait:
    """Several children's wait for a worker (derivations §4.12): `held_back` the share of time
    a child keeps one idle worker back while connections wait, `servers` the workers left for
    them, P TPC - P `held_back`, and Erlang C over those, `p_wait` with the mean wait over
    every new connection `mean_wait_s` (infinite, `stable` False, when the load reaches them)."""

    held_back: float
    servers: float
    p_wait: float
    mean_wait_s: float
    stable: bool


def held_back_share(
    threads_per_child: int,
    worker_s: float,
    go_idle: float,
    idle_request_per_s: float,
    idle_close_per_s: float,
) -> float:
    """x, the share of time a child whose listener is disabled for want of a worker holds one
    worker idle and back (derivations §4.12).

    While connections wait, a child is full (A) or has one worker idle and one idle keep-alive
    connection, which keeps its listener off (B, the hysteresis of the module docstring). A
    worker that frees leaves its connection idle with probability g: A -> B at T mu g (else the
    listener is enabled and takes a waiting connection: A again). B ends when the idle
    connection's request takes the idle worker (its rate r), when it closes (rate d: the
    listener is enabled and takes one) or when a second worker frees ((T - 1) mu: enabled, it
    takes two): x = T mu g / (T mu g + (T - 1) mu + r + d). 0 without keep-alive (g = 0).
    """
    t, mu = threads_per_child, 1.0 / worker_s
    into = t * mu * min(1.0, max(0.0, go_idle))
    if into <= 0.0:
        return 0.0
    return into / (into + (t - 1) * mu + idle_request_per_s + idle_close_per_s)


def children_wait(
    processes: int,
    threads_per_child: int,
    busy_erlangs: float,
    worker_s: float,
    held_back: float,
) -> ChildrenWait:
    """Erlang C over the workers the held-back children leave, `erlang_c_real(P (TPC - x),
    a_b)`, and M/M/c's mean wait over them, `C S_w / (P (TPC - x) - a_b)` (§4.12)."""
    servers = processes * (threads_per_child - held_back)
    if busy_erlangs >= servers:
        return ChildrenWait(held_back, servers, 1.0, math.inf, False)
    p_wait = erlang_c_real(servers, busy_erlangs)
    return ChildrenWait(
        held_back, servers, p_wait, p_wait * worker_s / (servers - busy_erlangs), True
    )
