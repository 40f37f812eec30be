"""The queueing calculator behind `capplan queue`: one operating point, all its metrics.

Stage: queueing engine (report side). Input: servers, offered load, optionally the mean holding
time and its SCV, an accept-queue capacity and a P(wait) target. Output: `QueueMetrics` (its
table and JSON document are `capplan.render.queue`'s).

Without a mean holding time the waits are only known in multiples of it: the `_s` fields are then
None and the `_holding_times` fields carry the values.
"""

from __future__ import annotations

from dataclasses import dataclass

from capplan.queueing.mmck import blocking_estimate
from capplan.queueing.sizing import min_servers_erlang_c
from capplan.queueing.waiting import mgc

__all__ = ["QueueMetrics", "queue_metrics"]


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    """P(wait), waits (Allen-Cunneen) and, with a queue, P(block), for c servers and a Erlangs."""

    servers: int
    load_erlangs: float
    mean_holding_s: float | None
    holding_scv: float
    utilization: float
    stable: bool
    erlang_b: float
    p_wait: float
    mean_wait_holding_times: float
    wait_p99_holding_times: float
    mean_wait_mmc_holding_times: float
    queue: int | None
    p_block: float | None
    p_block_conservative: float | None
    p_block_mmck: float | None
    target_wait: float | None
    min_servers: int | None

    def in_seconds(self, holding_times: float) -> float | None:
        """A wait in seconds, or None when the mean holding time is unknown."""
        return None if self.mean_holding_s is None else holding_times * self.mean_holding_s

    @property
    def mean_wait_s(self) -> float | None:
        return self.in_seconds(self.mean_wait_holding_times)

    @property
    def wait_p99_s(self) -> float | None:
        return self.in_seconds(self.wait_p99_holding_times)

    @property
    def arrival_rate_per_s(self) -> float | None:
        if self.mean_holding_s is None:
            return None
        return self.load_erlangs / self.mean_holding_s


def queue_metrics(
    servers: int,
    load: float,
    *,
    mean_holding_s: float | None = None,
    holding_scv: float = 1.0,
    queue: int | None = None,
    target_wait: float | None = None,
) -> QueueMetrics:
    """All metrics of `capplan queue` (derivations §3.2-3.4, §7).

    Waits use Allen-Cunneen with `holding_scv` (1 = exact M/M/c); P(block) uses the normative
    SCV-corrected queue Q_eff = 2Q/(1 + cH2), with the conservative max beside it.
    """
    waits = mgc(servers, load, 1.0, holding_scv)
    blocking = None if queue is None else blocking_estimate(servers, load, queue, holding_scv)
    return QueueMetrics(
        servers=waits.servers,
        load_erlangs=waits.load_erlangs,
        mean_holding_s=mean_holding_s,
        holding_scv=waits.scv,
        utilization=waits.utilization,
        stable=waits.stable,
        erlang_b=waits.erlang_b,
        p_wait=waits.p_wait,
        mean_wait_holding_times=waits.mean_wait_s,
        wait_p99_holding_times=waits.wait_p99_s,
        mean_wait_mmc_holding_times=waits.mean_wait_mmc_s,
        queue=queue,
        p_block=None if blocking is None else blocking.p_block_est,
        p_block_conservative=None if blocking is None else blocking.p_block_cons,
        p_block_mmck=None if blocking is None else blocking.p_block_mmck,
        target_wait=target_wait,
        min_servers=None if target_wait is None else min_servers_erlang_c(load, target_wait),
    )
