"""A discrete-event simulator of httpd's event MPM, child by child (tests only, not the model).

Input: `SimConfig` (children, threads, AsyncRequestWorkerFactor, traffic as the model reads a
profile). Output: `SimResult`, batch-means estimates with 95 % confidence intervals of what
`capplan.models.event` predicts. It follows event.c's `listener_thread()` rather than the model's
equations:

* visits arrive as a Poisson stream and send a geometric number of requests (mean m) over one
  keep-alive connection, thinking an exponential Z between a response and the next request; a
  gap longer than KeepAliveTimeout T finds the connection closed and the visit reconnects; after
  the last request the client holds the socket open with probability q until T closes it;
* new connections wait in one accept queue (min(ListenBacklog, somaxconn) + 1 places; a SYN
  that finds it full is sent again 1 s later) shared by every child's listener;
* a child's listener accepts while it has an idle worker and `connections < TPC + F × idle`
  (`connections_above_limit()`), and then hands the connection's first request to a worker;
  otherwise it disables its listening socket, and re-enables it once `connections < TPC +
  F × (idle − 1)` (the `listeners_disabled()` hysteresis; `hysteresis` False re-enables it
  at `TPC + F × idle`, to see what the hysteresis does). Every enabled listener wakes for a
  new connection (the children poll one socket); one child that can accept takes it, any of
  them alike or (`accept_order` "recent") the one whose listener was enabled last;
* a keep-alive request that finds its child with no idle worker is closed (its client
  reconnects at once), and a listener iteration that found no idle worker (for such a request,
  or for a connection waiting on an enabled listening socket) closes all of its child's idle
  keep-alive connections (`process_keepalive_queue(0)`, "kill'em all");
* optionally (`count_lag`), a connection taken from the queue is not yet counted when the same
  listener checks its limit for the next one, as when httpd's worker has not started on it;
* a killed connection is closed by the child's next free worker (`defer_linger_chain`): a
  request its client sends before then counts as dropped in `client_drops_per_s`, and until then
  it is open to the kernel (`deferred_closes`) but no longer counted against the limit;
* optionally (`linger_race`), the clients of the connections that worker closes answer before
  it is done: one that does finds no idle worker (the worker drains the whole chain before it
  counts itself idle, `worker_thread()`), and the child kills its idle connections again;
* optionally (`answer_delay_s`), each connection's last word, its client's EOF or its answer to
  the server's close, reaches the listener that long after the close and, if the child has no
  idle worker then, makes it kill its idle connections; a connection its client closes stays
  open and idle until then;
* service holds a worker for the whole request (worker_share 1), lingering close is not held;
* optionally (`one_idle_class`), idle connections follow the chains' law instead: one
  exponential class that ends in a request or a close in the visits' shares.

`SimResult.p_wait_visits` is P(wait) of the connections visits open alone, a Poisson stream, apart
from the reconnections after drops, kills and timeouts.

Bounded by simulated time and by a number of events; seeded, so a run is reproducible.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from dataclasses import dataclass

from capplan.models.event_chain import ChainTraffic, chain_traffic
from capplan.mpm_settings import CommonSettings
from capplan.profile import Traffic, TrafficProfile, Visits

# Two-sided 95 % Student t quantiles by degrees of freedom (batch counts of 10 to 40).
_T975 = {9: 2.262, 14: 2.145, 19: 2.093, 24: 2.064, 29: 2.045, 39: 2.023}
_SYN_RETRY_S = 1.0

(
    _ARRIVAL,
    _CONNECT,
    _SERVICE_END,
    _KA_REQUEST,
    _KA_TIMEOUT,
    _BATCH_END,
    _DEFERRED_CLOSE,
    _ANSWER,
    _CLIENT_CLOSE,
) = range(9)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What is simulated: httpd's settings and the traffic (times in seconds)."""

    processes: int
    threads_per_child: int
    factor: int
    requests_per_s: float
    service_s: float
    service_scv: float
    requests_per_visit: float
    think_s: float
    keepalive_timeout_s: float
    idle_hold_probability: float
    accept_queue: int = 512
    # Held sockets closed after an exponential time of mean KeepAliveTimeout instead of exactly
    # KeepAliveTimeout (what the chains assume; to see what the assumption costs).
    exponential_hold: bool = False
    # The probability that a connection a listener accepted is not yet counted when the same
    # listener checks its limit again for the next waiting one: httpd counts a connection when
    # its worker starts on it (process_socket()), the listener reserves the worker at once.
    count_lag: float = 0.0
    # One idle class, as the chains have it: a connection goes idle with the probability the
    # visits give, stays an exponential time of the mean idle time, and then sends a request or
    # is closed in the share the visits give (thinking and held sockets no longer apart).
    one_idle_class: bool = False
    # Which ready child takes a waiting connection: "random" (any of them alike), or "recent"
    # (the one whose listener was enabled last). Linux wakes a listening socket's epoll waiters
    # from the most recently registered, and a child registers its listener again when it
    # enables it; which woken listener then accepts first is up to the scheduler.
    accept_order: str = "random"
    # A new connection whose wait in the accept queue is longer than this counts in
    # `SimResult.p_wait_above` (the validation runs count waits above 5 ms, or above twice the
    # load generator's lag).
    wait_threshold_s: float = 0.005
    # False: a disabled listener is enabled again as soon as the child is below its limit, not
    # one idle worker's F below it (httpd always has the hysteresis; this shows what it does).
    hysteresis: bool = True
    # The chance that a closed connection's client answers the server's close (its FIN makes
    # the lingering socket readable) while the worker that frees first is still closing the
    # next of the connections a kill or a timeout left to it. event.c worker_thread() drains
    # defer_linger_chain before it counts itself idle, so that readable socket finds no idle
    # worker when the child's other workers are busy: listener_thread() closes it and kills the
    # child's idle connections again, among them the one the worker's own request just left
    # idle, and the listener is enabled again at once. A worker closing n of them gives
    # n - 1 chances. On this two-core bench httpd reads as about 0.35 with its clients
    # answering at once or 5 ms late, 0.12 at 30 ms with as many kills coming later
    # (docs/derivations.md §4.11).
    linger_race: float = 0.0
    # The last word of every connection (None: left out). The end of a connection makes its
    # socket readable once more: the client's EOF when it closes an idle connection, its FIN
    # answering the server's close (a timeout, a kill, a drop, after the worker that closes it
    # has shut it down). This many seconds after the close, the child's listener needs a worker
    # for it (a keep-alive or lingering socket in the pollset); without an idle one it closes
    # the socket and kills the child's idle connections (listener_thread(): get_worker() then
    # shutdown_connection(), workers_were_busy, process_keepalive_queue(0)). A connection its
    # client closes after the visit's last request stays open and idle until its EOF arrives.
    answer_delay_s: float | None = None
    # Also keep, child by child, the time at each count of busy workers and the idle keep-alive
    # connections then (`SimResult.idle_by_busy`): one pass over the children per event.
    track_pool: bool = False


@dataclass(frozen=True, slots=True)
class Estimate:
    """A batch-means mean and the half-width of its 95 % confidence interval."""

    mean: float
    half_width: float

    def holds(self, value: float, slack: float = 0.0) -> bool:
        """`value` lies in the interval widened by `slack` (absolute)."""
        return abs(value - self.mean) <= self.half_width + slack


@dataclass(frozen=True, slots=True)
class SimResult:
    """Steady-state estimates over the batches (rates per second, means over time)."""

    p_wait: Estimate  # P(a new connection is not accepted at once)
    # The same for the connections visits open, a Poisson stream; reconnections (after a drop, a
    # kill or a timeout) come when their child is more often full.
    p_wait_visits: Estimate
    p_wait_above: Estimate  # P(a new connection waits longer than `wait_threshold_s`)
    p_limit: Estimate  # time share no child can accept (F5 without hysteresis)
    child_closed: Estimate  # time share a child cannot accept (F5 without hysteresis)
    process_saturation: Estimate  # time share a child has no idle worker
    kill_episodes_per_s: Estimate
    # Episodes in a burst: the listener, disabled for want of a worker and enabled again,
    # accepted at that instant and then found no worker for the next waiting connection
    # (derivations §4.10).
    kill_bursts_per_s: Estimate
    killed_in_bursts_per_s: Estimate  # idle keep-alive connections those episodes close
    # Kills by a lingering close that found no idle worker (`SimConfig.linger_race`), episodes
    # or not.
    linger_races_per_s: Estimate
    # Answers (`SimConfig.answer_delay_s`) that found their child with no idle worker, a second.
    answer_kills_per_s: Estimate
    listener_disabled: Estimate  # time share a child's listener is disabled
    all_disabled: Estimate  # time share every child's listener is disabled
    # Idle workers while every listener is disabled, on average per batch (0 for a batch without
    # such a time): the workers held back by the hysteresis, or by a slot limit.
    held_idle_workers: Estimate
    listener_enables_per_s: Estimate  # per child
    # The share of the re-enables at which the child had one idle worker (no idle keep-alive
    # connection then, with the hysteresis), against two or more.
    enables_one_idle: Estimate
    keepalive_drops_per_s: Estimate
    killed_per_s: Estimate  # idle keep-alive connections the episodes close
    # How long the connections an episode closes had been idle, on average per batch (0 for a
    # batch without one): short when episodes close mostly connections that just went idle.
    killed_idle_age_s: Estimate
    connections_per_s: Estimate  # connections accepted
    busy_workers: Estimate
    idle_keepalive: Estimate
    open_connections: Estimate
    # Killed connections not closed yet: shutdown_connection() defers their close to the child's
    # next free worker, so they stay ESTABLISHED (what a kernel count of open connections sees)
    # while they no longer count against the slot limit (lingering, F5).
    deferred_closes: Estimate
    # Root mean square of the gap between the first two children's open connections (0 for one
    # child): how evenly the listeners share the new connections.
    open_gap_rms: Estimate
    p_block: Estimate  # share of SYNs that found the accept queue full
    mean_wait_s: Estimate  # mean time from the SYN's entry into the queue to the accept
    # Requests clients see dropped: those refused for want of a worker, and those sent on a
    # killed connection before the child's first free worker closed it (defer_linger_chain)
    client_drops_per_s: Estimate
    # Held sockets (idle after the visit's last request; none with `one_idle_class`): the mean
    # held, how long one stays idle (Little's law: the held connection-seconds over the spells),
    # and those the episodes close, a second.
    idle_held: Estimate
    held_life_s: Estimate
    killed_held_per_s: Estimate
    # The gaps between one child's kill episodes (those that close something): their mean, and
    # their squared coefficient of variation (1 for Poisson episodes). An idle connection that
    # starts at a random time waits (1 + SCV)/2 mean gaps for its child's next episode.
    episode_gap_s: Estimate
    episode_gap_scv: Estimate
    batches: int
    events: int
    # With `track_pool`, for n = 0 ... TPC busy workers: the share of a child's time at n, and
    # its mean idle keep-alive connections while at n (0 for a batch that never was).
    busy_share: tuple[Estimate, ...] = ()
    idle_by_busy: tuple[Estimate, ...] = ()
    # With `track_pool`, for k = 0 ... `QUEUE_LEVELS`: the share of a child's time that it is
    # full with at least k connections waiting in the accept queue the children share.
    full_queue_at_least: tuple[Estimate, ...] = ()


# Queue lengths behind a full child kept apart by `track_pool` (longer ones count as this).
QUEUE_LEVELS = 4


class _Conn:
    __slots__ = (
        "child",
        "fresh",
        "held",
        "idle_since",
        "left",
        "next_request",
        "queued_at",
        "version",
    )

    def __init__(self, left: int, queued_at: float, *, fresh: bool = True) -> None:
        self.child = -1
        self.fresh = fresh  # opened by a visit, not a reconnection
        self.left = left  # requests the visit still sends, this one included
        self.next_request = 0.0
        self.queued_at = queued_at
        self.idle_since = 0.0
        self.held = False  # idle after the visit's last request (the client holds the socket)
        self.version = 0


class _Batch:
    """Integrals over time and counts over one batch."""

    __slots__ = (
        "accepted",
        "accepted_fresh",
        "all_disabled",
        "all_disabled_idle",
        "answer_kills",
        "attempts",
        "blocked",
        "burst_killed",
        "bursts",
        "busy",
        "closed",
        "deferred",
        "disabled",
        "drops",
        "enables",
        "enables_one_idle",
        "episode_gap",
        "episode_gap2",
        "episode_gaps",
        "full",
        "gap2",
        "held_starts",
        "idle",
        "idle_held",
        "killed",
        "killed_age",
        "killed_held",
        "kills",
        "limit",
        "open",
        "pool_idle",
        "pool_time",
        "queue_full",
        "races",
        "stale",
        "wait",
        "waited",
        "waited_fresh",
        "waited_long",
    )

    def __init__(self) -> None:
        self.busy = self.closed = self.full = self.idle = self.limit = self.open = 0.0
        self.deferred = 0.0
        self.disabled = 0.0  # children with their listener disabled, over time
        self.all_disabled = self.all_disabled_idle = 0.0  # every listener disabled: time, idle
        self.enables = self.enables_one_idle = 0
        self.gap2 = 0.0  # the squared gap between the first two children's open connections
        self.accepted = self.attempts = self.blocked = self.drops = self.kills = self.waited = 0
        self.bursts = self.burst_killed = self.races = self.answer_kills = 0
        self.stale = self.accepted_fresh = self.waited_fresh = self.killed = 0
        self.waited_long = 0
        self.wait = self.killed_age = 0.0
        # Held sockets (idle after the visit's last request): idle connection-seconds, spells
        # started, and those an episode closed; and the gaps between one child's episodes
        # (count, sum, sum of squares), for the pool's split by class (derivations §4.13).
        self.idle_held = 0.0
        self.held_starts = self.killed_held = self.episode_gaps = 0
        self.episode_gap = self.episode_gap2 = 0.0
        self.pool_time: list[float] = []  # by busy workers, child-seconds (`track_pool`)
        self.pool_idle: list[float] = []  # idle keep-alive connection-seconds, likewise
        # child-seconds full with k waiting connections, k = 0 ... QUEUE_LEVELS (`track_pool`)
        self.queue_full: list[float] = []


def profile_of(config: SimConfig) -> TrafficProfile:
    """The simulated traffic as a capplan profile (the clients' round trip, `answer_delay_s`,
    as its linger)."""
    return TrafficProfile(
        "simulated",
        Traffic(config.requests_per_s, config.service_s, config.service_scv, 1.0),
        Visits(
            config.requests_per_visit,
            "geometric",
            config.think_s,
            config.idle_hold_probability,
            config.answer_delay_s or 0.0,
        ),
    )


def _chains_idle_law(config: SimConfig) -> ChainTraffic:
    """The chains' one-class idle law for the simulated traffic and KeepAliveTimeout."""
    common = CommonSettings(keep_alive_timeout_s=config.keepalive_timeout_s)
    return chain_traffic(profile_of(config), common)


class _Server:
    def __init__(self, config: SimConfig, rng: random.Random) -> None:
        self.c = config
        self.rng = rng
        self.idle_law = _chains_idle_law(config) if config.one_idle_class else None
        p = config.processes
        self.busy = [0] * p
        self.conns = [0] * p
        self.idle: list[dict[_Conn, None]] = [{} for _ in range(p)]
        # Connections in service, by child, and when their request ends.
        self.serving: list[dict[_Conn, float]] = [{} for _ in range(p)]
        self.disabled = [False] * p
        # When each child's listener was last enabled (`accept_order` "recent").
        self.enabled_at = [float(i) * 1e-9 for i in range(p)]
        self.accepted_at = [-1.0] * p  # when each child last accepted a connection
        self.last_episode = [-1.0] * p  # when each child last killed (-1: not yet)
        # Whether each child's listener was last disabled for want of a worker (not its slots);
        # set after the kill that such a disable makes, so that kill sees the disable before.
        self.disabled_full = [False] * p
        # Connections the server closed that wait for the child's next free worker (kills, and
        # timeouts while every worker is busy): `linger_race`.
        self.linger_chain = [0] * p
        self.queue: list[_Conn] = []
        self.queue_head = 0
        self.events: list[tuple[float, int, int, _Conn | None, int]] = []
        self.seq = 0
        self.now = 0.0
        self.last = 0.0
        self.batch = _Batch()
        # Running totals for the time integrals.
        self.busy_total = 0
        self.workers = p * config.threads_per_child
        self.idle_total = 0
        self.held_total = 0  # idle connections held after their visit's last request
        self.open_total = 0
        self.deferred_total = 0  # killed connections waiting for a worker to close them
        self.disabled_total = 0  # children whose listener is disabled
        self.full_children = 0
        self.closed_children = 0  # children that cannot accept (F5, without hysteresis)
        self._closed = [False] * p
        self._full = [False] * p
        # Connections accepted at this instant and not yet counted (`count_lag`), by child.
        self.uncounted = [0] * p
        self.uncounted_at = -1.0
        for i in range(p):
            self._touch(i)

    # -- bookkeeping ------------------------------------------------------------------------

    def schedule(self, at: float, kind: int, conn: _Conn | None = None, version: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, conn, version))

    def advance(self, to: float) -> None:
        dt = to - self.last
        if dt > 0.0:
            b = self.batch
            b.busy += dt * self.busy_total
            b.idle += dt * self.idle_total
            b.idle_held += dt * self.held_total
            b.open += dt * self.open_total
            b.disabled += dt * self.disabled_total
            if self.disabled_total == self.c.processes:
                b.all_disabled += dt
                b.all_disabled_idle += dt * (self.workers - self.busy_total)
            b.deferred += dt * self.deferred_total
            if self.c.track_pool:
                if not b.pool_time:
                    b.pool_time = [0.0] * (self.c.threads_per_child + 1)
                    b.pool_idle = [0.0] * (self.c.threads_per_child + 1)
                    b.queue_full = [0.0] * (QUEUE_LEVELS + 1)
                waiting = min(len(self.queue) - self.queue_head, QUEUE_LEVELS)
                for i, n in enumerate(self.busy):
                    b.pool_time[n] += dt
                    b.pool_idle[n] += dt * len(self.idle[i])
                    if n >= self.c.threads_per_child:
                        b.queue_full[waiting] += dt
            b.full += dt * self.full_children
            b.closed += dt * self.closed_children
            if self.closed_children == self.c.processes:
                b.limit += dt
            if self.c.processes > 1:
                gap = self.conns[0] - self.conns[1]
                b.gap2 += dt * gap * gap
        self.last = to
        self.now = to

    def _touch(self, i: int) -> None:
        tpc = self.c.threads_per_child
        n = self.busy[i]
        full = n >= tpc
        closed = full or self.conns[i] >= tpc + (tpc - n) * self.c.factor
        if full != self._full[i]:
            self._full[i] = full
            self.full_children += 1 if full else -1
        if closed != self._closed[i]:
            self._closed[i] = closed
            self.closed_children += 1 if closed else -1

    def _above_limit(self, i: int) -> bool:
        """connections_above_limit(): no idle worker, or too many connections for the idle."""
        tpc = self.c.threads_per_child
        idle_workers = tpc - self.busy[i]
        if idle_workers <= 0:
            return True
        held_back = 1 if self.disabled[i] and self.c.hysteresis else 0
        allowed = tpc + (idle_workers - held_back) * self.c.factor
        uncounted = self.uncounted[i] if self.uncounted_at == self.now else 0
        return self.conns[i] - uncounted >= allowed

    # -- clients ----------------------------------------------------------------------------

    def service_time(self) -> float:
        s, scv = self.c.service_s, self.c.service_scv
        if scv <= 0.0:
            return s
        shape = 1.0 / scv
        return self.rng.gammavariate(shape, s / shape)

    def visit_length(self) -> int:
        r = 1.0 - 1.0 / self.c.requests_per_visit
        if r <= 0.0:
            return 1
        return 1 + int(math.log(1.0 - self.rng.random()) / math.log(r))

    def connect(self, left: int, *, fresh: bool = True) -> None:
        conn = _Conn(left, self.now, fresh=fresh)
        self.batch.attempts += 1
        if len(self.queue) - self.queue_head > self.c.accept_queue:
            self.batch.blocked += 1
            self.schedule(self.now + _SYN_RETRY_S, _CONNECT, conn)
            return
        self.queue.append(conn)
        self.wake_listeners()

    def close(self, conn: _Conn) -> None:
        """The server closes `conn`; a visit with requests left reconnects when it sends one."""
        i = conn.child
        conn.version += 1
        self.idle[i].pop(conn, None)
        self.conns[i] -= 1
        self.open_total -= 1
        self._touch(i)
        if conn.left > 0:
            retry = _Conn(conn.left, 0.0, fresh=False)
            self.schedule(max(self.now, conn.next_request), _CONNECT, retry)

    # -- listeners --------------------------------------------------------------------------

    def kill_all(self, i: int, *, closed_now: bool = False) -> None:
        """process_keepalive_queue(0): close every idle keep-alive connection of child i (an
        episode, which httpd logs, when there is one to close)."""
        idle = self.idle[i]
        if idle:
            self.batch.kills += 1
            if self.accepted_at[i] == self.now and self.disabled_full[i]:
                self.batch.bursts += 1
                self.batch.burst_killed += len(idle)
            self.batch.killed += len(idle)
            self.batch.killed_age += sum(self.now - conn.idle_since for conn in idle)
            held = sum(1 for conn in idle if conn.held)
            self.batch.killed_held += held
            self.held_total -= held
            if self.last_episode[i] >= 0.0:
                gap = self.now - self.last_episode[i]
                self.batch.episode_gaps += 1
                self.batch.episode_gap += gap
                self.batch.episode_gap2 += gap * gap
            self.last_episode[i] = self.now
        # shutdown_connection() defers the close to the child's next free worker; a client that
        # sends its next request before then has it discarded.
        release = self.now if closed_now else min(self.serving[i].values(), default=self.now)
        self.batch.stale += sum(1 for conn in idle if conn.left > 0 and conn.next_request < release)
        for _ in idle:
            self.answer(i, release)
        if idle and release > self.now:
            self.deferred_total += len(idle)
            self.schedule(release, _DEFERRED_CLOSE, None, len(idle))
            self.linger_chain[i] += len(idle)
        self.idle_total -= len(idle)
        for conn in list(idle):
            self.close(conn)
        idle.clear()
        self._touch(i)

    def _check_listener(self, i: int) -> bool:
        """Child i's listener finds the listening socket readable: True if it can accept."""
        if self.disabled[i]:
            return False
        if self.busy[i] >= self.c.threads_per_child:
            self.disabled[i] = True  # workers_were_busy: disable, then kill'em all
            self.disabled_total += 1
            self.kill_all(i)
            self.disabled_full[i] = True
            return False
        if self._above_limit(i):
            self.disabled[i] = True
            self.disabled_total += 1
            self.disabled_full[i] = False
            return False
        return True

    def wake_listeners(self) -> None:
        """A connection is waiting: every enabled listener wakes; one that can accept takes it."""
        while self.queue_head < len(self.queue):
            ready = [i for i in range(self.c.processes) if self._check_listener(i)]
            if not ready:
                return
            if self.c.accept_order == "recent":
                self.accept(max(ready, key=lambda i: self.enabled_at[i]))
            else:
                self.accept(ready[self.rng.randrange(len(ready))])

    def accept(self, i: int) -> None:
        conn = self.queue[self.queue_head]
        self.queue_head += 1
        if self.queue_head > 1024 and self.queue_head * 2 > len(self.queue):
            del self.queue[: self.queue_head]
            self.queue_head = 0
        waited = self.now > conn.queued_at
        if waited:
            self.batch.waited += 1
            self.batch.wait += self.now - conn.queued_at
            if self.now - conn.queued_at > self.c.wait_threshold_s:
                self.batch.waited_long += 1
        if conn.fresh:
            self.batch.accepted_fresh += 1
            self.batch.waited_fresh += waited
        if self.c.count_lag > 0.0:
            if self.uncounted_at != self.now:
                self.uncounted, self.uncounted_at = [0] * self.c.processes, self.now
            if self.rng.random() < self.c.count_lag:
                self.uncounted[i] += 1
        self.batch.accepted += 1
        self.accepted_at[i] = self.now
        conn.child = i
        self.conns[i] += 1
        self.open_total += 1
        self.start_request(conn)

    def start_request(self, conn: _Conn) -> None:
        i = conn.child
        self.busy[i] += 1
        self.busy_total += 1
        self._touch(i)
        end = self.now + self.service_time()
        self.serving[i][conn] = end
        self.schedule(end, _SERVICE_END, conn, conn.version)

    def maybe_enable(self, i: int) -> None:
        """A worker went idle or a connection closed: should_enable_listensocks()."""
        self._touch(i)
        if self.disabled[i] and not self._above_limit(i):
            self.disabled[i] = False
            self.disabled_total -= 1
            self.batch.enables += 1
            self.batch.enables_one_idle += self.busy[i] == self.c.threads_per_child - 1
            self.enabled_at[i] = self.now
            if self.queue_head < len(self.queue):
                self.wake_listeners()

    # -- events -----------------------------------------------------------------------------

    def _one_class_end(self, conn: _Conn) -> None:
        """`one_idle_class`: after a request, idle for an exponential time with the chains'
        rates (`chain_traffic`), then a request, or a close after which the visit may
        reconnect."""
        law = self.idle_law
        assert law is not None
        if self.rng.random() >= law.go_idle:
            conn.left = 0
            self.close(conn)
            return
        speed = law.idle_request_rate + law.idle_close_rate
        end = self.now + self.rng.expovariate(speed)
        self._go_idle(conn)
        if self.rng.random() < law.idle_request_rate / speed:
            conn.left, conn.next_request = 1, end
            self.schedule(end, _KA_REQUEST, conn, conn.version)
            return
        # Closed at the end: the visit goes on (a think longer than the timeout) in this share.
        think = self.c.think_s
        conn.left = 1 if self.rng.random() < law.close_reconnects else 0
        conn.next_request = end + (self.rng.expovariate(1.0 / think) if think > 0.0 else 0.0)
        self.schedule(end, _KA_TIMEOUT, conn, conn.version)

    def on_service_end(self, conn: _Conn) -> None:
        i = conn.child
        del self.serving[i][conn]
        self.busy[i] -= 1
        self.busy_total -= 1
        if self.c.one_idle_class:
            self._one_class_end(conn)
            self.drain_linger_chain(i)
            self.maybe_enable(i)
            return
        conn.left -= 1
        timeout = self.c.keepalive_timeout_s
        if conn.left > 0:
            think = self.rng.expovariate(1.0 / self.c.think_s) if self.c.think_s > 0 else 0.0
            conn.next_request = self.now + think
            if think <= timeout:
                self._go_idle(conn)
                self.schedule(self.now + think, _KA_REQUEST, conn, conn.version)
            else:
                self._go_idle(conn)
                self.schedule(self.now + timeout, _KA_TIMEOUT, conn, conn.version)
        elif timeout > 0.0 and self.rng.random() < self.c.idle_hold_probability:
            self._go_idle(conn)
            if self.c.exponential_hold:
                timeout = self.rng.expovariate(1.0 / timeout)
            self.schedule(self.now + timeout, _KA_TIMEOUT, conn, conn.version)
        elif timeout > 0.0 and self.c.answer_delay_s:
            # The client closes the connection it is done with; until its close arrives the
            # connection is idle to the server (unless the timeout comes first).
            self._go_idle(conn, closing=True)
            delay = self.c.answer_delay_s
            if delay < timeout:
                self.schedule(self.now + delay, _CLIENT_CLOSE, conn, conn.version)
            else:
                self.schedule(self.now + timeout, _KA_TIMEOUT, conn, conn.version)
        else:
            self.close(conn)
            self.answer(i, self.now)
        self.drain_linger_chain(i)
        self.maybe_enable(i)

    def drain_linger_chain(self, i: int) -> None:
        """The worker that just freed closes the connections left to it (`linger_race`)."""
        left = self.linger_chain[i]
        if not left:
            return
        self.linger_chain[i] = 0
        race = self.c.linger_race
        if race <= 0.0 or self.busy[i] < self.c.threads_per_child - 1:
            return  # no race, or another worker is idle to take a readable one
        # Each but the last one closed can turn readable while the worker closes the rest.
        if self.rng.random() < 1.0 - (1.0 - race) ** (left - 1):
            self.batch.races += 1
            # The worker closes what this kill adds too before it counts itself idle.
            self.kill_all(i, closed_now=True)

    def answer(self, i: int, closed_at: float) -> None:
        """Child i closed a connection (or its client did) at `closed_at`: its last word comes
        `answer_delay_s` later (`SimConfig.answer_delay_s`)."""
        delay = self.c.answer_delay_s
        if delay is not None:
            self.schedule(closed_at + delay, _ANSWER, None, i)

    def on_answer(self, i: int) -> None:
        """A closed connection's socket turns readable: a worker takes it, or none is idle."""
        if self.busy[i] >= self.c.threads_per_child:
            self.batch.answer_kills += 1
            self.kill_all(i)

    def on_client_close(self, conn: _Conn) -> None:
        """The close of a client done with its idle connection arrives: a worker takes the
        readable socket, or none is idle and the child kills its idle connections."""
        i = conn.child
        del self.idle[i][conn]
        self.idle_total -= 1
        self.close(conn)
        self.on_answer(i)
        self.maybe_enable(i)

    def _go_idle(self, conn: _Conn, *, closing: bool = False) -> None:
        conn.idle_since = self.now
        # With the chains' one class the visit's remaining requests are drawn after this; a
        # connection whose client's close is on its way is not held.
        conn.held = conn.left == 0 and not self.c.one_idle_class and not closing
        if conn.held:
            self.held_total += 1
            self.batch.held_starts += 1
        self.idle[conn.child][conn] = None
        self.idle_total += 1

    def on_keepalive_request(self, conn: _Conn) -> None:
        i = conn.child
        del self.idle[i][conn]
        self.idle_total -= 1
        if self.busy[i] < self.c.threads_per_child:
            self.start_request(conn)
            return
        # NOTE: event.c listener_thread(): no idle worker for a readable keep-alive connection
        # closes it (the client resends on a new one), and the iteration then kills the rest.
        self.batch.drops += 1
        conn.next_request = self.now
        self.linger_chain[i] += 1  # shutdown_connection(), as a kill's
        self.answer(i, min(self.serving[i].values(), default=self.now))
        self.close(conn)
        self.kill_all(i)
        self.maybe_enable(i)

    def on_keepalive_timeout(self, conn: _Conn) -> None:
        i = conn.child
        self.idle_total -= 1
        if conn.held:
            self.held_total -= 1
        if self.busy[i] >= self.c.threads_per_child:
            self.linger_chain[i] += 1  # shutdown_connection() waits for a worker too
            self.answer(i, min(self.serving[i].values(), default=self.now))
        else:
            self.answer(i, self.now)
        self.close(conn)
        self.maybe_enable(i)


def simulate(
    config: SimConfig,
    *,
    seed: int,
    warmup_s: float,
    batch_s: float,
    batches: int = 20,
    max_events: int = 400_000,
) -> SimResult:
    """Run the server for `warmup_s` plus `batches` × `batch_s` simulated seconds.

    Stops early after `max_events` events; only the batches completed by then count (at least
    10 are needed for an interval, else ValueError).
    """
    rng = random.Random(seed)
    server = _Server(config, rng)
    visit_rate = config.requests_per_s / config.requests_per_visit
    server.schedule(rng.expovariate(visit_rate), _ARRIVAL)
    server.schedule(warmup_s, _BATCH_END)
    done: list[tuple[_Batch, float]] = []
    events = 0
    while server.events and events < max_events and len(done) < batches:
        at, _, kind, conn, version = heapq.heappop(server.events)
        server.advance(at)
        events += 1
        if kind == _ARRIVAL:
            server.schedule(at + rng.expovariate(visit_rate), _ARRIVAL)
            server.connect(server.visit_length())
        elif kind == _BATCH_END:
            if at > warmup_s:
                done.append((server.batch, batch_s))
            server.batch = _Batch()
            server.schedule(at + batch_s, _BATCH_END)
        elif kind == _DEFERRED_CLOSE:
            server.deferred_total -= version  # (the count closed rides in `version`)
        elif kind == _ANSWER:
            server.on_answer(version)  # (the child rides in `version`)
        elif conn is None or conn.version != version:
            continue  # a timer of a connection that was closed since
        elif kind == _CONNECT:
            server.connect(conn.left, fresh=conn.fresh)
        elif kind == _SERVICE_END:
            server.on_service_end(conn)
        elif kind == _KA_REQUEST:
            server.on_keepalive_request(conn)
        elif kind == _KA_TIMEOUT:
            server.on_keepalive_timeout(conn)
        elif kind == _CLIENT_CLOSE:
            server.on_client_close(conn)
    return _summarise(done, config.processes, events)


def simulate_events(
    config: SimConfig, events: int, *, seed: int = 1, batches: int = 20, budget: int = 3
) -> SimResult:
    """`simulate` for about `events` events in all (three per request) over `batches` batches,
    after a warm-up of two batches; stopped at `budget` times that many (where connections pile
    up, events outrun requests)."""
    batch_s = events / (batches * 3.0 * config.requests_per_s)
    return simulate(
        config,
        seed=seed,
        warmup_s=2.0 * batch_s,
        batch_s=batch_s,
        batches=batches,
        max_events=budget * events,
    )


def _estimate(values: list[float]) -> Estimate:
    k = len(values)
    t = _T975[max(d for d in _T975 if d <= k - 1)]  # conservative for counts between the rows
    return Estimate(statistics.fmean(values), t * statistics.stdev(values) / math.sqrt(k))


def _gap_scv(b: _Batch, span: float) -> float:
    """The squared coefficient of variation of one batch's gaps between a child's episodes."""
    if b.episode_gaps < 2:
        return 0.0
    mean = b.episode_gap / b.episode_gaps
    return max(0.0, b.episode_gap2 / b.episode_gaps / (mean * mean) - 1.0)


def _summarise(done: list[tuple[_Batch, float]], processes: int, events: int) -> SimResult:
    if len(done) < 10:
        raise ValueError(f"only {len(done)} batches in the event budget (need 10)")

    def per(get: object) -> Estimate:
        assert callable(get)
        return _estimate([float(get(b, span)) for b, span in done])

    levels = min(len(b.pool_time) for b, _ in done)  # 0 without `track_pool`

    return SimResult(
        p_wait=per(lambda b, s: b.waited / b.accepted if b.accepted else 0.0),
        p_wait_visits=per(
            lambda b, s: b.waited_fresh / b.accepted_fresh if b.accepted_fresh else 0.0
        ),
        p_wait_above=per(lambda b, s: b.waited_long / b.accepted if b.accepted else 0.0),
        p_limit=per(lambda b, s: b.limit / s),
        child_closed=per(lambda b, s: b.closed / s / processes),
        process_saturation=per(lambda b, s: b.full / s / processes),
        kill_episodes_per_s=per(lambda b, s: b.kills / s),
        kill_bursts_per_s=per(lambda b, s: b.bursts / s),
        killed_in_bursts_per_s=per(lambda b, s: b.burst_killed / s),
        linger_races_per_s=per(lambda b, s: b.races / s),
        answer_kills_per_s=per(lambda b, s: b.answer_kills / s),
        listener_disabled=per(lambda b, s: b.disabled / s / processes),
        all_disabled=per(lambda b, s: b.all_disabled / s),
        held_idle_workers=per(
            lambda b, s: b.all_disabled_idle / b.all_disabled if b.all_disabled else 0.0
        ),
        listener_enables_per_s=per(lambda b, s: b.enables / s / processes),
        enables_one_idle=per(lambda b, s: b.enables_one_idle / b.enables if b.enables else 0.0),
        keepalive_drops_per_s=per(lambda b, s: b.drops / s),
        killed_per_s=per(lambda b, s: b.killed / s),
        killed_idle_age_s=per(lambda b, s: b.killed_age / b.killed if b.killed else 0.0),
        connections_per_s=per(lambda b, s: b.accepted / s),
        busy_workers=per(lambda b, s: b.busy / s),
        idle_keepalive=per(lambda b, s: b.idle / s),
        open_connections=per(lambda b, s: b.open / s),
        deferred_closes=per(lambda b, s: b.deferred / s),
        open_gap_rms=per(lambda b, s: math.sqrt(b.gap2 / s)),
        p_block=per(lambda b, s: b.blocked / b.attempts if b.attempts else 0.0),
        mean_wait_s=per(lambda b, s: b.wait / b.accepted if b.accepted else 0.0),
        client_drops_per_s=per(lambda b, s: (b.drops + b.stale) / s),
        idle_held=per(lambda b, s: b.idle_held / s),
        held_life_s=per(lambda b, s: b.idle_held / b.held_starts if b.held_starts else 0.0),
        killed_held_per_s=per(lambda b, s: b.killed_held / s),
        episode_gap_s=per(lambda b, s: b.episode_gap / b.episode_gaps if b.episode_gaps else 0.0),
        episode_gap_scv=per(_gap_scv),
        batches=len(done),
        events=events,
        busy_share=tuple(
            per(lambda b, s, n=n: b.pool_time[n] / (s * processes)) for n in range(levels)
        ),
        idle_by_busy=tuple(
            per(lambda b, s, n=n: b.pool_idle[n] / b.pool_time[n] if b.pool_time[n] else 0.0)
            for n in range(levels)
        ),
        full_queue_at_least=tuple(
            per(lambda b, s, k=k: sum(b.queue_full[k:]) / (s * processes))
            for k in range(QUEUE_LEVELS + 1)
        )
        if levels
        else (),
    )
