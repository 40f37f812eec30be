"""prefork MPM model: one process per connection, pooled across the server (derivations §3).

Stage: model. Input: `PreforkSettings` (effective, after httpd's clamping) and a `TrafficProfile`.
Output: `MpmMetrics`. A connection holds its child for its requests, the think gaps between them
(each cut at KeepAliveTimeout), the final idle KeepAliveTimeout and the lingering close; children
accept only when idle, so the server is one FCFS queue of connections with c = min(MRW, ServerLimit)
servers behind the kernel's accept queue.
"""

from __future__ import annotations

from functools import partial

from capplan.models.memory import prefork_memory
from capplan.models.pooled import pooled_metrics
from capplan.models.types import MpmMetrics
from capplan.mpm_names import Mpm
from capplan.mpm_settings import PreforkSettings
from capplan.profile import TrafficProfile


def evaluate(settings: PreforkSettings, profile: TrafficProfile) -> MpmMetrics:
    """The prefork steady state: Erlang C / Allen-Cunneen waits, M/M/c/K blocking, memory."""
    # NOTE: prefork.c `child_main()` only calls accept() from an idle child (F10), so waiting
    # connections queue in the kernel, not in httpd.
    return pooled_metrics(
        Mpm.prefork,
        settings,
        profile,
        threads_per_child=1,
        memory_of=partial(prefork_memory, settings, profile),
    )
