"""worker MPM model: a thread per connection, threads pooled across processes (derivations §3).

Stage: model. Input: `WorkerSettings` (effective) and a `TrafficProfile`. Output: `MpmMetrics`.
The queueing is prefork's (a connection holds its thread for its whole life, the listener takes a
connection only for an idle thread); c = TPC * min(MRW/TPC, ServerLimit), and memory is counted
per process plus per thread.
"""

from __future__ import annotations

from functools import partial

from capplan.models.memory import threaded_memory
from capplan.models.pooled import pooled_metrics
from capplan.models.types import MpmMetrics
from capplan.mpm_names import Mpm
from capplan.mpm_settings import WorkerSettings
from capplan.profile import TrafficProfile


def evaluate(settings: WorkerSettings, profile: TrafficProfile) -> MpmMetrics:
    """The worker steady state: the pooled connection queue over all threads, and memory."""
    # NOTE: worker.c's listener waits in `ap_queue_info_wait_for_idler()` before accepting (F10):
    # the threads of all processes form one pool for new connections.
    return pooled_metrics(
        Mpm.worker,
        settings,
        profile,
        threads_per_child=settings.threads_per_child,
        memory_of=partial(threaded_memory, settings, profile),
    )
