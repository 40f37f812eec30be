"""Memory footprint of httpd for given MPM settings (model.md §6).

Stage: model (memory part). Input: the MPM's settings, the profile's measured memory (PSS/USS per
process and thread, parent and shared counted once) and the load (mean busy workers; for event the
p99 of open connections). Output: `MemoryFootprint` (typical, all workers, worst case at
ServerLimit processes during a graceful restart) and the memory-bounded maximum of workers.
"""

from __future__ import annotations

import math

from capplan.models.types import MemoryFootprint
from capplan.profile import Memory, TrafficProfile
from capplan.settings import EventSettings, PreforkSettings, WorkerSettings


def available_bytes(profile: TrafficProfile) -> int | None:
    """memory.ram times targets.max_memory_fraction (1 when the target is off); None if unknown."""
    ram = profile.memory.ram_bytes
    if ram is None:
        return None
    fraction = profile.targets.max_memory_fraction
    return math.floor(ram * (1.0 if fraction is None else fraction))


def prefork_memory(
    settings: PreforkSettings, profile: TrafficProfile, busy_workers_mean: float
) -> MemoryFootprint:
    """M = parent + shared + N_proc * prefork_process.

    Typical N_proc: the busy children plus MinSpareServers idle ones (at most all workers); all
    workers: min(MRW, ServerLimit); worst: ServerLimit children, the scoreboard's size, which a
    graceful restart can fill with old-generation children finishing their requests.
    """
    m = profile.memory
    base = m.parent_bytes + m.shared_bytes
    child = m.prefork_process_bytes
    workers = settings.workers
    typical = min(workers, math.ceil(busy_workers_mean) + settings.min_spare_servers)
    worst = max(workers, settings.server_limit)
    avail = available_bytes(profile)
    max_workers = None
    if avail is not None:
        max_workers = max(0, (avail - base) // child) if child > 0 else settings.server_limit
    return MemoryFootprint(
        typical_bytes=base + typical * child,
        full_bytes=base + workers * child,
        worst_bytes=base + worst * child,
        available_bytes=avail,
        max_workers=max_workers,
    )


def threaded_process_bytes(memory: Memory, threads_per_child: int) -> int:
    """One worker/event child: its base plus ThreadsPerChild threads."""
    return memory.threaded_process_bytes + threads_per_child * memory.thread_bytes


def threaded_memory(
    settings: WorkerSettings | EventSettings,
    profile: TrafficProfile,
    busy_workers_mean: float,
    open_connections_p99: int = 0,
) -> MemoryFootprint:
    """M = parent + shared + P (base + TPC thread) + connection * X_p99 (event).

    Typical P: ceil((busy + MinSpareThreads)/TPC), between 1 and the active processes; all
    workers: the active processes min(MRW/TPC, ServerLimit); worst: ServerLimit processes.
    `open_connections_p99` is 0 for worker, whose connections each hold a thread already counted.
    """
    m = profile.memory
    tpc = settings.threads_per_child
    per_process = threaded_process_bytes(m, tpc)
    base = m.parent_bytes + m.shared_bytes + m.connection_bytes * open_connections_p99
    active = settings.processes
    typical = min(active, max(1, math.ceil((busy_workers_mean + settings.min_spare_threads) / tpc)))
    worst = max(active, settings.server_limit)
    avail = available_bytes(profile)
    max_workers = None
    if avail is not None:
        fit = max(0, (avail - base) // per_process) if per_process > 0 else settings.server_limit
        max_workers = tpc * min(fit, settings.server_limit)
    return MemoryFootprint(
        typical_bytes=base + typical * per_process,
        full_bytes=base + active * per_process,
        worst_bytes=base + worst * per_process,
        available_bytes=avail,
        max_workers=max_workers,
    )
