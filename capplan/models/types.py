"""The per-MPM model results: what one MPM's settings do with one traffic profile.

Stage: model output types. Produced by `capplan.models.{prefork,worker,event}.evaluate`, consumed by
`evaluate_targets`, the recommendation search and the renderers. All times in seconds, sizes in
bytes, probabilities in [0, 1] and never NaN; an unstable system has `stable=False` and infinite
waits (renderers show them as null or "∞").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from capplan.mpm_names import Mpm
from capplan.mpm_settings import MpmSettings
from capplan.profile import TrafficProfile

if TYPE_CHECKING:
    from capplan.models.http2 import Http2Detail


@dataclass(frozen=True, slots=True)
class Scoreboard:
    """Mean worker-slot states as mod_status shows them (derivations §2.2, F15).

    prefork/worker: `busy_requests` is R+W, `idle_keepalive` K and `closing` C, all holding a
    worker. event: only `busy_requests` holds a worker; keep-alive and closing connections are
    ConnsAsyncKeepAlive and ConnsAsyncClosing.
    """

    busy_requests: float
    idle_keepalive: float
    closing: float


@dataclass(frozen=True, slots=True)
class MemoryFootprint:
    """Memory of httpd under these settings (derivations §6), PSS/USS based.

    `typical_bytes`: the processes kept around at this load (busy plus spare); `full_bytes`: every
    configured worker running; `worst_bytes`: the most httpd can run at once, during a graceful
    restart or MaxConnectionsPerChild draining (`worst_processes` children; see
    `capplan.models.memory`). `max_workers`: the most workers that fit in `available_bytes`
    (memory.ram times max_memory_fraction), None when memory.ram is unknown.
    """

    typical_bytes: int
    full_bytes: int
    worst_bytes: int
    available_bytes: int | None
    max_workers: int | None
    worst_processes: int = 0


@dataclass(frozen=True, slots=True)
class EventDetail:
    """The event MPM's two coupled resources (derivations §4), at the §4.4 least fixed point.

    `process_saturation` B_p, the time fraction one process has no idle worker (the admission law
    of §4.2);
    `kill_episodes_per_s` ("kill'em all", F8) and `keepalive_drops_per_s` over all processes, the
    keep-alive requests clients see dropped: refused for want of a worker (F7), or sent on a killed
    connection before a worker closed it (F7a), the latter also as `stale_requests_per_s`;
    `kill_hazard_per_s` h, the rate at which one idle connection is killed; `churn_per_s` the
    extra connections per second caused by kills and drops; `p_connection_limit` P_limit (the
    independence estimate; with several children, every child at its own limit),
    `p_connection_limit_bound` (dependence-free), `pooled_wait_probability` C(c, a_b) (a lower
    reference only); `slot_capacity` c + F(c - a_b), the connections the server accepts at the
    mean load; `lingering_mean` connections in lingering close (not counted by F5);
    `wait_for_worker_probability` and `wait_for_slot_probability` split P(a new connection waits)
    by what it waits for: no idle worker, or every child's connection slots full with a worker idle.
    `deferred_closes_mean`: killed keep-alive connections not closed yet. A kill defers each close
    to the child's next free worker (F7a), so they stay open to the kernel (and hold their memory)
    but no longer count against the slot limit (lingering, F5); `open_connections_mean` leaves
    them out.
    `carried_requests_per_s`: the request rate the server carries, the offered one where the
    model is stable, else the largest rate at which it is (derivations §4.14); the connection
    level and memory of an overloaded server are that rate's.
    `model` names what computed these figures: "closed form" (the default), or "chain" when the
    per-child chain with the shared accept queue did (`capplan.models.event.evaluate_by_chain`);
    `model_note` says why the closed form was kept where the chain was asked for, or, with the
    chain, where its P(wait) is known to be too low (many children near their limits).
    """

    worker_factor: int
    busy_erlangs: float
    idle_connections_mean: float
    process_saturation: float
    kill_episodes_per_s: float
    keepalive_drops_per_s: float
    kill_hazard_per_s: float
    connections_per_s_without_kills: float
    churn_per_s: float
    p_connection_limit: float
    p_connection_limit_bound: float
    pooled_wait_probability: float
    slot_capacity: float
    lingering_mean: float
    wait_for_worker_probability: float = 0.0
    wait_for_slot_probability: float = 0.0
    deferred_closes_mean: float = 0.0
    carried_requests_per_s: float = 0.0
    stale_requests_per_s: float = 0.0
    model: str = "closed form"
    model_note: str = ""


@dataclass(frozen=True, slots=True)
class MpmMetrics:
    """One MPM's steady state for one profile (the JSON report's `mpms` keys, plus detail).

    Connection-level quantities: `offered_load_erlangs` is the worker-holding load (λ_conn E[H]
    for prefork/worker, λ S_w for event), `p_wait` the probability that a new connection waits,
    `p_wait_request` the fraction of requests that wait, `mean_wait_given_wait_s` w1 of
    Allen-Cunneen (P(wait > t) = p_wait exp(-t/w1); infinite for event, whose wait-time
    distribution the model does not give, so P(wait > t) is bounded by p_wait there).
    `memory_bytes` is the worst case (`memory.worst_bytes`).
    """

    mpm: Mpm
    settings: MpmSettings
    profile: TrafficProfile
    workers: int
    processes: int
    threads_per_child: int
    server_limit: int
    max_concurrent_requests: int
    max_connections: int
    idle_keepalive_capacity: int
    accept_queue: int
    offered_load_erlangs: float
    utilization: float
    busy_workers_mean: float
    idle_keepalive_mean: float
    connections_per_s: float
    p_wait: float
    p_wait_request: float
    mean_wait_s: float
    mean_wait_given_wait_s: float
    wait_p99_s: float
    p_block: float
    p_block_conservative: float
    stable: bool
    scoreboard: Scoreboard
    requests_per_connection: float
    holding_time_s: float
    holding_time_scv: float
    open_connections_mean: float
    open_connections_p99: int
    memory: MemoryFootprint
    event: EventDetail | None = None
    # Only when the profile's visits.http2_share is above 0 (capplan.models.http2).
    http2: Http2Detail | None = None

    @property
    def memory_bytes(self) -> int:
        """Worst-case memory (graceful restart included), the figure targets are checked against."""
        return self.memory.worst_bytes

    def p_wait_exceeds(self, wait_s: float) -> float:
        """P(a new connection waits longer than `wait_s`): p_wait exp(-t/w1), 1 when unstable."""
        if not self.stable:
            return 1.0
        if self.p_wait == 0.0 or math.isinf(self.mean_wait_given_wait_s):
            return self.p_wait
        if self.mean_wait_given_wait_s <= 0.0:
            # Waits too short to represent (the conditional mean underflowed): none exceeds t.
            return self.p_wait if wait_s <= 0.0 else 0.0
        return self.p_wait * math.exp(-wait_s / self.mean_wait_given_wait_s)
