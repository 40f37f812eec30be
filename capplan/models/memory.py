"""Memory footprint of httpd for given MPM settings.

Stage: model (memory part). Input: the MPM's settings, the profile's measured memory (PSS/USS per
process and thread, parent and shared counted once) and the load (mean busy workers; for event the
p99 of open connections). Output: `MemoryFootprint` (typical, all workers, the worst case a
graceful restart can reach) and the memory-bounded maximum of workers.

The worst case follows where each MPM lets a new generation of children start while the old one
finishes its requests (docs/models.md, "Memory"):

* prefork forks only into scoreboard slots below MaxRequestWorkers, and only once the slot's old
  child has exited, so it never runs more than MaxRequestWorkers children.
* worker starts a new child in the slot of a quiescing one and gives it only the thread slots the
  old child has released: at most two process bases per slot, never more threads than
  MaxRequestWorkers.
* event puts new children in free slots anywhere up to ServerLimit while old ones finish, so
  ServerLimit above the active processes is restart room: the worst case is the active processes
  plus one finishing generation, at most ServerLimit processes.

Children of the same server differ in size (their allocators' history); with a measured spread
(`memory.process_spread`) the worst case adds a margin for the sum of its children
(`spread_margin_bytes`).
"""

from __future__ import annotations

import math

from capplan.models.types import MemoryFootprint
from capplan.mpm_settings import EventSettings, PreforkSettings, WorkerSettings
from capplan.profile import Memory, TrafficProfile

# The one-sided 95 % quantile of the normal distribution.
SPREAD_QUANTILE = 1.645


def spread_margin_bytes(memory: Memory, processes: int) -> int:
    """The margin the worst case adds for `processes` children that differ in size.

    The model counts each child at the measured mean; the children a graceful restart starts
    were never measured and come out larger or smaller. The sum of n children with standard
    deviation s exceeds n times the mean by more than 1.645 s sqrt(n) with probability 5 %
    (their sizes are independent draws; the sum is close to normal). Measured on event children
    of 55 MiB: the standard deviation between children was 0.05-0.95 MiB, and a new generation's
    children came out up to 0.75 MiB above the old ones' mean (tests/models/test_memory_apache.py).
    0 when the spread is unknown (`memory.process_spread` 0, the default).
    """
    spread = memory.process_spread_bytes
    if spread <= 0 or processes <= 0:
        return 0
    return math.ceil(SPREAD_QUANTILE * spread * math.sqrt(processes))


def _most_that_fit(room: int, unit: int, memory: Memory, processes_per_unit: int) -> int:
    """The largest n with n * unit + spread_margin_bytes(memory, processes_per_unit * n) <= room
    (0 if none)."""
    if room <= 0:
        return 0
    margin_per_root = SPREAD_QUANTILE * memory.process_spread_bytes * math.sqrt(processes_per_unit)
    if margin_per_root <= 0:
        return room // unit
    # n = x^2 with unit x^2 + m x - room = 0; then step down past the rounding of the margin.
    root = (-margin_per_root + math.sqrt(margin_per_root**2 + 4 * unit * room)) / (2 * unit)
    n = math.floor(root * root) + 1
    while n > 0 and n * unit + spread_margin_bytes(memory, processes_per_unit * n) > room:
        n -= 1
    return n


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
    workers and the worst case: MaxRequestWorkers children; the worst case also counts the
    parent's restart overhead (`restart_parent_bytes`) and the children's spread
    (`spread_margin_bytes`).

    NOTE: `prefork.c` (`startup_children()`, `perform_idle_server_maintenance()` and the 1-for-1
    replacement in `prefork_run()`) only forks into slots below `ap_daemons_limit`, which is
    MaxRequestWorkers, so a ServerLimit above it is never filled, graceful restarts included.
    """
    m = profile.memory
    base = m.parent_bytes + m.shared_bytes
    child = m.prefork_process_bytes
    workers = settings.workers
    typical = min(workers, math.ceil(busy_workers_mean) + settings.min_spare_servers)
    avail = available_bytes(profile)
    max_workers = None
    if avail is not None:
        fixed = base + restart_parent_bytes(m)
        max_workers = (
            _most_that_fit(avail - fixed, child, m, 1) if child > 0 else settings.server_limit
        )
    return MemoryFootprint(
        typical_bytes=base + typical * child,
        full_bytes=base + workers * child,
        worst_bytes=base
        + restart_parent_bytes(m)
        + workers * child
        + spread_margin_bytes(m, workers),
        available_bytes=avail,
        max_workers=max_workers,
        worst_processes=workers,
    )


# The part of the parent's restart overhead that does not grow with its size: the modules'
# relocated data and the configuration pools of a stock module set (measured, see below).
RESTART_PARENT_FIXED_BYTES = 1 << 20


def restart_parent_bytes(memory: Memory) -> int:
    """The parent's extra memory during a graceful restart.

    NOTE: on a graceful restart the parent re-reads the configuration and reloads its modules
    (`ap_read_config()` in `main()`'s loop) while the old children are still finishing; until they
    exit, the new configuration pools and module data are extra memory of the parent. Measured on
    Debian's apache2 2.4: the parent's PSS grew by 0.45 MiB (3 modules, 0.18 MiB private) to
    0.8–1.0 MiB (24 modules, 0.46 MiB private), so the worst case counts two more copies of
    `memory.parent` and 1 MiB (tests/models/test_memory_apache.py checks it against real
    restarts).
    """
    return 2 * memory.parent_bytes + RESTART_PARENT_FIXED_BYTES


def threaded_process_bytes(memory: Memory, threads_per_child: int) -> int:
    """One worker/event child: its base plus ThreadsPerChild threads."""
    return memory.threaded_process_bytes + threads_per_child * memory.thread_bytes


def restart_processes(settings: WorkerSettings | EventSettings) -> int:
    """Processes that may run at once across a graceful restart (module docstring).

    worker: two per active slot (the quiescing child and its successor); event: the active ones
    plus one finishing generation, within ServerLimit.
    """
    active = settings.processes
    if isinstance(settings, EventSettings):
        return max(active, min(settings.server_limit, 2 * active))
    return 2 * active


def _worst_threaded_bytes(
    settings: WorkerSettings | EventSettings, memory: Memory, processes: int
) -> int:
    """Process bases of `processes` children; threads of all of them for event (each finishing
    child keeps its own), of the active thread slots only for worker (which share them)."""
    tpc = settings.threads_per_child
    if isinstance(settings, EventSettings):
        return processes * threaded_process_bytes(memory, tpc)
    return processes * memory.threaded_process_bytes + settings.workers * memory.thread_bytes


def threaded_memory(
    settings: WorkerSettings | EventSettings,
    profile: TrafficProfile,
    busy_workers_mean: float,
    open_connections_p99: int = 0,
) -> MemoryFootprint:
    """M = parent + shared + P (base + TPC thread) + connection * X_p99 (event).

    Typical P: ceil((busy + MinSpareThreads)/TPC), between 1 and the active processes; all
    workers: the active processes min(MRW/TPC, ServerLimit); worst: `restart_processes`.
    `open_connections_p99` is 0 for worker, whose connections each hold a thread already counted.
    `max_workers` is the most workers whose worst case fits when ServerLimit leaves a full
    generation of restart room (event) — the way `capplan recommend` writes ServerLimit.
    """
    m = profile.memory
    tpc = settings.threads_per_child
    per_process = threaded_process_bytes(m, tpc)
    base = m.parent_bytes + m.shared_bytes + m.connection_bytes * open_connections_p99
    active = settings.processes
    typical = min(active, max(1, math.ceil((busy_workers_mean + settings.min_spare_threads) / tpc)))
    worst_processes = restart_processes(settings)
    avail = available_bytes(profile)
    max_workers = None
    if avail is not None:
        # Worst-case bytes per active process: two bases, and the threads once (worker) or twice
        # (event, whose finishing children keep theirs).
        per_active = 2 * m.threaded_process_bytes + tpc * m.thread_bytes * (
            2 if isinstance(settings, EventSettings) else 1
        )
        fixed = base + restart_parent_bytes(m)
        # Two processes per active one in the worst case, so the spread margin is that of 2 P.
        fit = (
            _most_that_fit(avail - fixed, per_active, m, 2)
            if per_active > 0
            else settings.server_limit
        )
        max_workers = tpc * fit
    return MemoryFootprint(
        typical_bytes=base + typical * per_process,
        full_bytes=base + active * per_process,
        worst_bytes=base
        + restart_parent_bytes(m)
        + _worst_threaded_bytes(settings, m, worst_processes)
        + spread_margin_bytes(m, worst_processes),
        available_bytes=avail,
        max_workers=max_workers,
        worst_processes=worst_processes,
    )
