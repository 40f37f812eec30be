"""event child by child with the shared accept queue: the wait for a connection slot (§4.7).

Stage: event model behind `--event-model chain` (docs/models.md, "Child by child"). Input:
processes P, ThreadsPerChild T, the effective AsyncRequestWorkerFactor F, `ChainTraffic` and the
accept queue's capacity. Output: `BacklogResult`: the steady state of one child, and P(wait),
the mean and p99 of the wait and P(block) of a new connection.

The chain of `event_chain` with one more coordinate, q, the connections waiting in the accept
queue, which every child shares. While q > 0 no child is ready: a child that becomes ready takes
connections from the queue at once, each followed by a check (an accept and, above the limit, a
disabled listener, and a kill when the child is full), so the states with q > 0 and an enabled
listener are left at once. A new connection goes to the tagged child when it is ready (rate a),
to another child when one of the P - 1 others is ready, or waits. The others are a mean field:
each is ready with the tagged child's probability of being ready while q = 0, and while q > 0
each takes waiting connections at the rate the tagged child takes them. P(wait) is then exact
for one child; for several it keeps the correlation the shared queue causes (while connections
wait, no child is ready) and drops the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from capplan.models.event_chain import (
    MAX_STATES,
    ChainResult,
    ChainTraffic,
    chain_cap,
    chain_states,
    chain_traffic,
    connection_rates,
    first_pin,
    solve_chain,
)
from capplan.models.event_together import none_ready_given_one, readiness_by_open
from capplan.mpm_settings import EventSettings
from capplan.profile import TrafficProfile
from capplan.queueing.ctmc import (
    Factors,
    law_after_exponential_time,
    passage_quantile,
    stationary_near,
)
from capplan.queueing.roots import hybrid_root

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]
    BoolArray = npt.NDArray[np.bool_]

# Transition kinds.
(
    _ACCEPT,
    _ELSEWHERE,
    _WAIT_FIRST,
    _WAIT_MORE,
    _DONE_IDLE,
    _DONE_CLOSE,
    _REQUEST,
    _TIMEOUT,
    _DRAIN,
    _UNREACHED,
) = range(10)
_KINDS = 10
# The queue is cut where this little of the time is spent at the cut (P(wait) moves by about
# as much)...
_QUEUE_TAIL = 1e-4
# ...starting from this many places and doubling.
_FIRST_QUEUE = 2
# (More places than any accept queue holds: the cut is then the capacity or the state budget.)
_ALL_PLACES = 1 << 30
_LOG_RATE_CAP = 40.0
# The children's filling up together is corrected for until P(no other ready | one is not)
# moves by less than this share (P(wait) then moves by about as much), at most so many times.
_TOGETHER_SETTLED = 0.01
_TOGETHER_ROUNDS = 6
# Values of P(no other ready | one is not) this close together give the same P(wait) to about
# as much (it scales the share of new connections that meet no ready child): far below any
# target.
_TOGETHER_NEGLIGIBLE = 1e-9
# ν is read off the time with connections waiting where that time is well above this share,
# and off how fast a child that cannot accept becomes ready where it is well below.
_QUEUE_USED = 1e-6
# Reconnections after drops and kills below this share of the new connections change P(wait) by
# less than that: their timing is not worked out.
_RECONNECTS_NEGLIGIBLE = 1e-9
# The largest residual of a solution (log rates, probabilities, relative rates).
_SETTLED = 1e-7


@dataclass(frozen=True, slots=True)
class BacklogResult:
    """The steady state with the accept queue; per-child means and whole-server rates.

    As `ChainResult`, plus: `p_wait` P(a new connection is not accepted at once), `mean_wait_s`
    its mean wait over all accepted connections (Little's law on the queue), `wait_p99_s` the
    99th percentile of the wait over all new connections (0 when fewer than 1 % wait; infinite
    when the server is overloaded), `p_block` the share
    of new connections that find the queue full, `queue_mean` the connections waiting on
    average, `queue_places` where the queue was cut (the capacity, or where less than 1e-4 of
    the time is spent; `p_block` is then the share that reaches the cut, an upper bound),
    `saturated` when even the accept queue's capacity leaves more than 1e-4 of the time at the
    cut (the server does not keep up; a cut by the state budget with that much at its end only
    makes the waits a little short, and `p_block` an upper bound), `evaluations` the sparse
    solves. `p_wait_worker` is the part of `p_wait` that meets the child with every worker on a
    request (a wait for a worker; the rest waits for a connection slot, the child at its
    connection limit). `none_ready_given_one`: P(no other child can accept | one cannot) used
    for several children (`event_together`); None where they are taken as independent.
    `p_wait_visits`: P(wait) of a connection that comes at a random time, as the visits' do;
    `p_wait` counts the reconnections after drops and kills at the times they come.
    """

    busy_mean: float
    idle_mean: float
    saturation: float
    ready: float
    connections_per_s: float
    kill_episodes_per_s: float
    keepalive_drops_per_s: float
    killed_per_s: float
    p_wait: float
    mean_wait_s: float
    wait_p99_s: float
    p_block: float
    queue_mean: float
    queue_places: int
    saturated: bool
    states: int
    evaluations: int
    p_wait_worker: float = 0.0
    none_ready_given_one: float | None = None
    p_wait_visits: float = 0.0

    @property
    def mean_wait_when_waiting_s(self) -> float:
        """The mean wait of a connection that waits."""
        return self.mean_wait_s / self.p_wait if self.p_wait > 0.0 else 0.0


@dataclass(frozen=True, slots=True)
class _Structure:
    size: int
    busy: IntArray
    idle: IntArray
    queue: IntArray
    ready: BoolArray
    full: BoolArray
    source: IntArray
    target: IntArray
    kind: IntArray
    weight: FloatArray
    kill: FloatArray
    killed: FloatArray
    drop: FloatArray
    taken: FloatArray  # connections the tagged child takes from the queue
    blocked: BoolArray  # an arrival that finds the queue full
    frees: BoolArray  # a child that cannot accept, with no connection waiting, becomes ready


def _above(tpc: int, factor: int, bb: IntArray, yy: IntArray, dd: IntArray) -> BoolArray:
    """connections_above_limit() for a child of b busy workers and y idle connections, its
    listener disabled (d = 1: the hysteresis) or not."""
    idle_workers = tpc - bb
    result: BoolArray = (idle_workers <= 0) | (bb + yy >= tpc + (idle_workers - dd) * factor)
    return result


def waiting_states(tpc: int, factor: int, cap: int) -> int:
    """The child's states that can last while connections wait, per queue place: a disabled
    listener at or above its hysteresis (with an enabled one the child takes a waiting
    connection or is disabled at once, and a disabled one below the hysteresis is enabled)."""
    import numpy as np

    b, y = (a.ravel() for a in np.meshgrid(np.arange(tpc + 1), np.arange(cap + 1)))
    return int(_above(tpc, factor, b, y, np.ones_like(b)).sum())


def backlog_states(tpc: int, factor: int, cap: int, places: int) -> int:
    """The states of the chain with `places` queue places: the child's own with an empty
    queue, and per place those that can last while connections wait."""
    return chain_states(tpc, factor, cap) + places * waiting_states(tpc, factor, cap)


# (A structure near the state budget holds about 12 MB of arrays.)
@lru_cache(maxsize=4)
def _structure(tpc: int, factor: int, cap: int, places: int) -> _Structure:
    import numpy as np

    ny, nq = cap + 1, places + 1

    def above(bb: IntArray, yy: IntArray, dd: IntArray) -> BoolArray:
        return _above(tpc, factor, bb, yy, dd)

    b, y, d, q = (
        a.ravel()
        for a in np.meshgrid(
            np.arange(tpc + 1), np.arange(ny), np.arange(2), np.arange(nq), indexing="ij"
        )
    )
    # Only the states that can last are kept: with connections waiting, a disabled listener at
    # or above its hysteresis (`waiting_states`). Every transition below leads to one of them;
    # the others would be left at once (three quarters of the states with q > 0).
    kept = (q == 0) | ((d == 1) & above(b, y, np.ones_like(d)))
    position = np.full(b.size, -1)
    position[kept] = np.arange(int(kept.sum()))
    b, y, d, q = b[kept], y[kept], d[kept], q[kept]
    size = b.size
    zero = np.zeros(size)
    ones = np.ones(size)

    def index(bb: IntArray, yy: IntArray, dd: IntArray, qq: IntArray) -> IntArray:
        found: IntArray = position[((bb * ny + yy) * 2 + dd) * nq + qq]
        return found

    def resolve(
        bb: IntArray, yy: IntArray, dd: IntArray, qq: IntArray
    ) -> tuple[IntArray, FloatArray, FloatArray, FloatArray]:
        """Leave the states that last no time: a disabled listener below the hysteresis is
        enabled (should_enable_listensocks()); while connections wait, an enabled child accepts
        one when it can, else is checked (disabled, and its idle connections killed when full).
        The next state, the kill flag, idle connections killed and connections taken."""
        bb, yy, dd, qq = bb.copy(), yy.copy(), dd.copy(), qq.copy()
        kill, killed, taken = np.zeros(bb.size), np.zeros(bb.size), np.zeros(bb.size)
        for _ in range(tpc + 2):
            enable = (dd == 1) & ~above(bb, yy, np.ones_like(dd))
            dd = np.where(enable, 0, dd)
            accept = (dd == 0) & ~above(bb, yy, dd) & (qq > 0)
            bb, qq = np.where(accept, bb + 1, bb), np.where(accept, qq - 1, qq)
            taken += accept
            check = (dd == 0) & above(bb, yy, dd) & (qq > 0)
            full_now = check & (bb == tpc)
            kill += full_now & (yy > 0)
            killed += np.where(full_now, yy, 0)
            yy, dd = np.where(full_now, 0, yy), np.where(check, 1, dd)
            if not (enable.any() or accept.any() or check.any()):
                break
        return index(bb, yy, dd, qq), kill, killed, taken

    def checked(
        bb: IntArray, yy: IntArray, dd: IntArray, qq: IntArray
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        """A new connection wakes an enabled listener above its limit: it is disabled, and a
        full child kills its idle connections (process_keepalive_queue(0))."""
        check = (dd == 0) & above(bb, yy, dd)
        full_now = check & (bb == tpc)
        target = index(bb, np.where(full_now, 0, yy), np.where(check, 1, dd), qq)
        episode = (full_now & (yy > 0)).astype(float)
        return target, episode, np.where(full_now, yy, 0).astype(float)

    sources: list[IntArray] = []
    targets: list[IntArray] = []
    kinds: list[IntArray] = []
    columns: list[list[FloatArray]] = [[], [], [], [], [], []]

    def add(  # noqa: PLR0917 (one transition family: its mask, target, kind and weights)
        mask: BoolArray,
        target: IntArray,
        kind: int,
        weight: FloatArray,
        kill: FloatArray = zero,
        killed: FloatArray = zero,
        drop: FloatArray = zero,
        taken: FloatArray = zero,
        blocked: FloatArray = zero,
    ) -> None:
        idx = np.nonzero(mask)[0]
        sources.append(idx)
        targets.append(target[mask])
        kinds.append(np.full(idx.size, kind))
        for column, values in zip(
            columns, (weight, kill, killed, drop, taken, blocked), strict=True
        ):
            column.append(np.asarray(values, dtype=float)[mask])

    is_above = above(b, y, d)
    ready = (d == 0) & ~is_above
    full = b == tpc
    # States that last no time: connections waiting while a listener is enabled, or a disabled
    # listener below the hysteresis.
    live = ~((q > 0) & (d == 0)) & ~((d == 1) & ~above(b, y, np.ones_like(d)))
    waiting_room = np.minimum(q + 1, places)
    # A new connection: the ready tagged child takes it, another child does, or it waits (an
    # enabled tagged child above its limit is checked either way).
    add(live & ready, index(np.minimum(b + 1, tpc), y, d, q), _ACCEPT, ones)
    t, k, kd = checked(b, y, d, q)
    add(live & ~ready & (q == 0), t, _ELSEWHERE, ones, k, kd)
    t, k, kd = checked(b, y, d, waiting_room)
    add(live & ~ready & (q == 0), t, _WAIT_FIRST, ones, k, kd)
    add(live & (q > 0), t, _WAIT_MORE, ones, k, kd, blocked=(q == places).astype(float))
    # A request ends: the connection goes idle or closes.
    served = live & (b > 0)
    bf = b.astype(float)
    t, k, kd, tk = resolve(np.maximum(b - 1, 0), np.minimum(y + 1, cap), d, q)
    add(served, t, _DONE_IDLE, bf, k, kd, taken=tk)
    t, k, kd, tk = resolve(np.maximum(b - 1, 0), y, d, q)
    add(served, t, _DONE_CLOSE, bf, k, kd, taken=tk)
    # An idle connection sends a request (dropped, with a kill, when the child is full) or
    # times out.
    has_idle = live & (y > 0)
    yf = y.astype(float)
    t, k, kd, tk = resolve(np.minimum(b + 1, tpc), np.maximum(y - 1, 0), d, q)
    add(has_idle & ~full, t, _REQUEST, yf, k, kd, taken=tk)
    t, k, kd, tk = resolve(b, np.zeros_like(y), d, q)
    add(has_idle & full, t, _REQUEST, yf, (y > 1) + k, yf - 1.0 + kd, ones, tk)
    t, k, kd, tk = resolve(b, np.maximum(y - 1, 0), d, q)
    add(has_idle, t, _TIMEOUT, yf, k, kd, taken=tk)
    # The other children take waiting connections.
    add(live & (q > 0), index(b, y, d, np.maximum(q - 1, 0)), _DRAIN, ones)
    # The states that last no time lead to where they settle (one closed class).
    t, _, _, _ = resolve(b, y, d, q)
    add(~live, t, _UNREACHED, ones)

    weight, kill, killed, drop, taken, blocked = (np.concatenate(c) for c in columns)
    target = np.concatenate(targets)
    if target.size and int(target.min()) < 0:
        raise AssertionError("an event backlog transition leads to a state that cannot last")
    source = np.concatenate(sources)
    kind = np.concatenate(kinds)
    ready_live = ready & live
    frees = (kind != _UNREACHED) & (q[source] == 0) & ~ready_live[source] & ready_live[target]
    return _Structure(
        size=size,
        busy=b,
        idle=y,
        queue=q,
        ready=ready_live,
        full=full,
        source=source,
        target=target,
        kind=kind,
        weight=weight,
        kill=kill,
        killed=killed,
        drop=drop,
        taken=taken,
        blocked=blocked > 0.0,
        frees=frees,
    )


@dataclass(frozen=True, slots=True)
class _Evaluation:
    residual: tuple[float, float, float, float]
    pi: FloatArray
    rate: FloatArray
    flow: FloatArray
    demand: float


def _evaluate(
    st: _Structure,
    traffic: ChainTraffic,
    processes: int,
    unknowns: tuple[float, float, float, float],
    pins: list[int],
    *,
    factors: Factors | None,
    together: float | None,
) -> _Evaluation:
    """One stationary solve at (log a, log Λ, ±ρ, ±ν) and the residuals of the four equations:
    the children accept Λ (less what is blocked), Λ is the visits plus their reconnections,
    ρ = P(the tagged child is ready | q = 0), ν = its rate of taking waiting connections while
    q > 0. `together`: P(no other child is ready | the tagged child is not) when known
    (`capplan.models.event_together`), else (1 - ρ)^(P - 1), the children independent."""
    import numpy as np

    p = processes
    log_accept, log_demand, rho, signed_nu = unknowns
    # (The root search may try far points; the rates stay finite.)
    log_accept, log_demand = min(log_accept, _LOG_RATE_CAP), min(log_demand, _LOG_RATE_CAP)
    # ρ and ν are their unknowns' sizes, so that a search stepping below 0 still sees their
    # residuals move (cut to 0, they stood still there and the search wandered off). ρ is cut at
    # 1: reflected there too, the search far from every limit (ρ all but 1) takes more solves.
    rho, nu = min(abs(rho), 1.0), abs(signed_nu)
    demand = math.exp(log_demand)
    none_ready = (1.0 - rho) ** (p - 1) if together is None else together
    kind_rates = np.zeros(_KINDS)
    kind_rates[_ACCEPT] = math.exp(log_accept)
    kind_rates[_ELSEWHERE] = demand * (1.0 - none_ready)
    kind_rates[_WAIT_FIRST] = demand * none_ready
    kind_rates[_WAIT_MORE] = demand
    kind_rates[[_DONE_IDLE, _DONE_CLOSE, _REQUEST, _TIMEOUT]] = connection_rates(traffic)
    kind_rates[_DRAIN] = (p - 1) * nu
    kind_rates[_UNREACHED] = 1.0
    rate = st.weight * kind_rates[st.kind]
    pi, mode = stationary_near(st.size, st.source, st.target, rate, pins[-1], factors=factors)
    pins.append(mode)
    flow = pi[st.source] * rate
    idle = float(pi @ st.idle)
    reconnects = (
        idle * traffic.idle_close_rate * traffic.close_reconnects
        + float(flow @ st.drop)
        + float(flow @ st.killed) * traffic.killed_reconnects
    )
    new_demand = traffic.visits_per_s + p * reconnects
    blocked = float(flow[st.blocked].sum())
    empty = float(pi[st.queue == 0].sum())
    ready = float(pi[st.ready].sum())
    taken = float(flow @ st.taken)
    accepted = math.exp(log_accept) * ready + taken
    # The arrival transitions are the whole server's: the blocked ones are never accepted.
    carried = max(new_demand * (1.0 - blocked / demand), 1e-300)
    new_rho = ready / empty if empty > 0.0 else 0.0
    # ν is what the tagged child takes per second while connections wait. Where they (almost)
    # never wait that says little, and ν must not run away: drained at once, connections would
    # never wait, whatever share of them found no child ready (a false root, where P(wait) is
    # large with an empty queue). There ν is the rate at which a child that cannot accept, with
    # none waiting, becomes ready: what it does when one waits is take it. The two are blended
    # by the time with a queue against `_QUEUE_USED`.
    not_ready = float(pi[(st.queue == 0) & ~st.ready].sum())
    freed = float(flow[st.frees].sum()) / not_ready if not_ready > 0.0 else nu
    used = 1.0 - empty
    new_nu = (taken + _QUEUE_USED * freed) / (used + _QUEUE_USED)
    residual = (
        math.log(max(p * accepted, 1e-300)) - math.log(carried),
        math.log(new_demand) - log_demand,
        new_rho - rho,
        (new_nu - nu) / max(nu, new_nu, 1.0),
    )
    return _Evaluation(residual, pi, rate, flow, demand)


def solve_backlog(
    processes: int,
    threads_per_child: int,
    factor: int,
    traffic: ChainTraffic,
    cap: int,
    *,
    capacity: int,
) -> BacklogResult:
    """The children and the shared queue in steady state (docs/derivations.md §4.7).

    The chain without the queue (`solve_chain`) comes first: when it finds the server
    overloaded, the queue fills, and the result is its state with every new connection waiting,
    the queue full, and the connections the children cannot take blocked. Otherwise the four
    unknowns are found together by Powell's hybrid method (`hybrid_root`), started from
    that chain's state. The queue starts with 2 places and grows while more than
    1e-4 of the time is spent at its end, up to `capacity` (the accept queue) or the state
    budget; the search restarts from the last solution. With several children the solution is
    then corrected for the children's filling up together (`event_together`): the other
    children are not ready, when the tagged one is not, as often as the reduced chain of open
    connections says, fed with the last solution, until that settles to 1 %. ArithmeticError
    when it does not settle.
    """
    import numpy as np

    p = processes
    plain = solve_chain(p, threads_per_child, factor, traffic, cap)
    if plain.overloaded:
        return _overloaded(plain, capacity)
    base = chain_states(threads_per_child, factor, cap)
    per_place = max(1, waiting_states(threads_per_child, factor, cap))
    most = max(1, min(capacity, (MAX_STATES - base) // per_place))
    places = min(_FIRST_QUEUE, most)
    visits, offered = traffic.visits_per_s, plain.connections_per_s
    # Starting points: a child ready 80 % of the time with the visits alone, and the chain's
    # own state. Nearer overload the second can lead the search astray, and the first far from
    # it (some 80 solves where the second takes 15): the chain's own state goes first when it
    # finds a child readier than that.
    starts = [
        np.array([math.log(visits / (0.8 * p)), math.log(visits), 0.8, visits / p]),
        np.array(
            [
                math.log(offered / (p * plain.ready)),
                math.log(offered),
                plain.ready,
                # ν: a child's completions, each of which frees a worker (or a slot).
                max(plain.busy_mean / traffic.worker_s, 1.0),
            ]
        ),
    ]
    if plain.ready > 0.8:
        starts.reverse()
    evaluations = plain.steps

    def settle(
        places: int, starts: list[FloatArray], together: float | None
    ) -> tuple[_Structure, FloatArray, _Evaluation, int, float]:
        """The solution with the queue cut where little enough of the time is spent at its end:
        the structure, the root, its solve, the places and the time share at the cut."""
        nonlocal evaluations
        while True:
            st = _structure(threads_per_child, factor, cap, places)
            found, spent = _search(st, traffic, p, starts, reuse=True, together=together)
            if found is None:
                # GMRES's answers are exact to a normwise 1e-14 only; where the queue is almost
                # never used, ν's residual magnifies that noise past the root's tolerance (2 of
                # 48 test settings): search again with a direct solve each time.
                found, more = _search(st, traffic, p, starts, reuse=False, together=together)
                spent += more
            evaluations += spent
            if found is None:
                raise ArithmeticError("the event backlog chain did not settle")
            solution, last = found
            at_end = float(last.pi[st.queue == places].sum())
            if at_end <= _QUEUE_TAIL or places >= most:
                return st, solution, last, places, at_end
            starts = [solution, *starts]
            level: FloatArray = np.bincount(st.queue, weights=last.pi).astype(float)
            places = min(_next_places(level, places), most)

    st, solution, last, places, at_end = settle(places, starts, None)
    together: float | None = None
    # The first solve took the children as independent: (1 - ρ)^(P - 1).
    used = (1.0 - min(max(float(solution[2]), 0.0), 1.0)) ** (p - 1)
    for _ in range(_TOGETHER_ROUNDS if p > 1 else 0):
        # The children fill up together (derivations §4.8): the reduced chain of open
        # connections, fed by this solution's readiness and rates, says how often no other
        # child is ready when this one is not; solve again with that, until it settles.
        law, readiness = readiness_by_open(st.busy, st.idle, st.ready, last.pi)
        accepted_now = last.demand - float(last.flow[st.blocked].sum())
        found_together = none_ready_given_one(p, law, readiness, accepted_now)
        if found_together is None:
            break
        moved = abs(found_together - used) > max(
            _TOGETHER_SETTLED * found_together, _TOGETHER_NEGLIGIBLE
        )
        together = found_together
        if not moved:
            # Settled, or the same as the independent children's already solved with (far from
            # every limit both are about 0): no solve more.
            break
        used = together
        st, solution, last, places, at_end = settle(places, [solution, *starts], together)
    pi, flow, demand = last.pi, last.flow, last.demand
    waits = (st.kind == _WAIT_FIRST) | (st.kind == _WAIT_MORE)
    blocked = float(flow[st.blocked].sum())
    accepted = demand - blocked
    queue_mean = float(pi @ st.queue)
    p_wait = float(flow[waits].sum()) / demand
    p_wait_worker = float(flow[waits & st.full[st.source]].sum()) / demand
    p_wait_visits = p_wait
    # `used`: P(no other ready | one is not) that the last solve was made with.
    p_wait = _with_reconnections(
        st, last, traffic, processes=p, p_wait=p_wait, none_ready=min(used, 1.0)
    )
    return BacklogResult(
        busy_mean=float(pi @ st.busy),
        idle_mean=float(pi @ st.idle),
        saturation=float(pi[st.full].sum()),
        ready=float(pi[st.ready].sum()),
        connections_per_s=accepted,
        kill_episodes_per_s=p * float(flow @ st.kill),
        keepalive_drops_per_s=p * float(flow @ st.drop),
        killed_per_s=p * float(flow @ st.killed),
        p_wait=p_wait,
        mean_wait_s=queue_mean / accepted,
        wait_p99_s=_wait_quantile(st, last, p_wait, 0.99),
        p_block=blocked / demand,
        queue_mean=queue_mean,
        queue_places=places,
        saturated=at_end > _QUEUE_TAIL and places >= capacity,
        states=st.size,
        evaluations=evaluations,
        p_wait_worker=p_wait_worker,
        none_ready_given_one=together,
        p_wait_visits=p_wait_visits,
    )


def _with_reconnections(
    st: _Structure,
    last: _Evaluation,
    traffic: ChainTraffic,
    *,
    processes: int,
    p_wait: float,
    none_ready: float,
) -> float:
    """P(wait) over all new connections, with the reconnections after drops and kills at the
    times they come (derivations §4.7, "Reconnections are not Poisson").

    The solve takes every new connection as a Poisson arrival, which waits with probability
    `p_wait`. A dropped request's client reconnects at once, in the state the drop left; a
    killed connection whose visit goes on reconnects when its idle period would have ended, an
    exponential time (rate θ + τ) after the kill, found by one more solve from the law of the
    states the kills leave. Such an arrival waits where connections wait already (q > 0), or
    where the tagged child cannot accept and none of the others can (`none_ready`). Their share
    of the new connections then waits as often as those times say instead of `p_wait`."""
    import numpy as np

    flow, demand = last.flow, last.demand
    p = processes
    drops = flow * st.drop
    killed = flow * st.killed * traffic.killed_reconnects
    dropped, reconnecting = p * float(drops.sum()), p * float(killed.sum())
    if (dropped + reconnecting) <= _RECONNECTS_NEGLIGIBLE * demand:
        return p_wait
    waits_here = np.where(st.queue > 0, 1.0, np.where(st.ready, 0.0, none_ready))
    at_drop = float(drops @ waits_here[st.target]) / max(float(drops.sum()), 1e-300)
    at_kill = 0.0
    if reconnecting > 0.0:
        start = np.bincount(st.target, weights=killed, minlength=st.size)
        later = law_after_exponential_time(
            st.size,
            st.source,
            st.target,
            last.rate,
            start / float(start.sum()),
            speed=traffic.idle_request_rate + traffic.idle_close_rate,
        )
        at_kill = float(later @ waits_here)
    moved = dropped * (at_drop - p_wait) + reconnecting * (at_kill - p_wait)
    return min(1.0, max(0.0, p_wait + moved / demand))


def _wait_quantile(st: _Structure, last: _Evaluation, p_wait: float, level: float) -> float:
    """The wait's `level` quantile over all new connections: 0 when fewer wait than 1 - level,
    else the quantile of a waiting connection's time to be taken at tail (1 - level)/P(wait).

    A connection that waits joins the queue at the state the arrival leads to, with q its
    place; the connections behind it change nothing until it is taken, so its wait is the time
    until q reaches 0 in the chain without arrivals (a phase-type law).
    """
    import numpy as np

    tail = 1.0 - level
    if p_wait <= tail:
        return 0.0
    arrival = np.isin(st.kind, (_ACCEPT, _ELSEWHERE, _WAIT_FIRST, _WAIT_MORE))
    joins = ((st.kind == _WAIT_FIRST) | (st.kind == _WAIT_MORE)) & ~st.blocked
    start = np.bincount(st.target[joins], weights=last.flow[joins], minlength=st.size).astype(float)
    moves = ~arrival
    _, quantile = passage_quantile(
        st.size,
        st.source[moves],
        st.target[moves],
        last.rate[moves],
        start,
        absorbed=st.queue == 0,
        tail=tail / p_wait,
    )
    return quantile


def _search(
    st: _Structure,
    traffic: ChainTraffic,
    processes: int,
    starts: list[FloatArray],
    *,
    reuse: bool,
    together: float | None,
) -> tuple[tuple[FloatArray, _Evaluation] | None, int]:
    """The root from the first starting point that leads to one, and the solves spent;
    `reuse`: solve each chain from the LU kept from the last (`Factors`); `together` as in
    `_evaluate`."""
    import numpy as np

    p = processes
    # (A ready state has an empty queue: a child that can accept leaves none waiting.)
    pins = [first_pin(st.busy, st.idle, st.ready, traffic, p)]
    factors = Factors() if reuse else None

    def residual(v: FloatArray) -> FloatArray:
        return np.array(
            _evaluate(
                st, traffic, p, (v[0], v[1], v[2], v[3]), pins, factors=factors, together=together
            ).residual
        )

    spent = 0
    for start in starts:
        try:
            v, _ = hybrid_root(residual, start)
            last = _evaluate(
                st, traffic, p, (v[0], v[1], v[2], v[3]), pins, factors=factors, together=together
            )
        except ArithmeticError:
            spent += len(pins) - 1
            pins[:] = pins[:1]
            continue
        spent += len(pins) - 1
        if max(abs(r) for r in last.residual) <= _SETTLED:
            return (v, last), spent
        pins[:] = pins[:1]
    return None, spent


def _overloaded(plain: ChainResult, capacity: int) -> BacklogResult:
    """The overloaded server: the queue stays full, every new connection waits, and what the
    children cannot take is blocked (its clients retry)."""
    accepted = plain.connections_per_s
    offered = max(plain.offered_connections_per_s, accepted)
    return BacklogResult(
        busy_mean=plain.busy_mean,
        idle_mean=plain.idle_mean,
        saturation=plain.saturation,
        ready=plain.ready,
        connections_per_s=accepted,
        kill_episodes_per_s=plain.kill_episodes_per_s,
        keepalive_drops_per_s=plain.keepalive_drops_per_s,
        killed_per_s=plain.killed_per_s,
        p_wait=1.0,
        mean_wait_s=capacity / accepted,
        wait_p99_s=math.inf,
        p_block=1.0 - accepted / offered,
        queue_mean=float(capacity),
        queue_places=capacity,
        saturated=True,
        states=plain.states,
        evaluations=plain.steps,
        # Every connection waits; for a worker when the child that is not ready is full.
        p_wait_worker=min(1.0, plain.saturation / max(1.0 - plain.ready, 1e-300)),
        p_wait_visits=1.0,
    )


def _next_places(level: FloatArray, places: int) -> int:
    """The next cut of the queue after one with more than `_QUEUE_TAIL` of the time at its end:
    twice the places, or more where the queue's law decays slowly. Away from the cut the time
    at each queue length falls about geometrically, by the ratio η of its last two lengths
    before the cut; the cut that leaves `_QUEUE_TAIL` at its end is then about
    places + log(_QUEUE_TAIL / at_end) / log η further (a quarter more, for the error of η)."""
    at_end = float(level[places])
    if places >= 3 and level[places - 2] > 0.0:
        ratio = float(level[places - 1] / level[places - 2])
        if ratio >= 1.0:
            # Not decaying at all: the queue fills; take all the places there are.
            return _ALL_PLACES
        if ratio > 0.0:
            more = math.log(_QUEUE_TAIL / at_end) / math.log(ratio)
            return max(2 * places, math.ceil(1.25 * (places + more)))
    return 2 * places


def evaluate_backlog(settings: EventSettings, profile: TrafficProfile) -> BacklogResult:
    """The backlog chain for these event settings and this profile; ValueError when even one
    queue place would take it beyond `MAX_STATES`."""
    traffic = chain_traffic(profile, settings.common)
    p, tpc, f = settings.processes, settings.threads_per_child, settings.worker_factor
    cap = chain_cap(traffic, p, tpc, f)
    states = backlog_states(tpc, f, cap, 1)
    if states > MAX_STATES:
        raise ValueError(f"the event backlog chain would have {states} states or more")
    capacity = settings.common.accept_queue_capacity
    return solve_backlog(p, tpc, f, traffic, cap, capacity=capacity)
