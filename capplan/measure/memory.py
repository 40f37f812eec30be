"""The memory derivation: from per-process readings to the figures of the memory model.

Stage: after discovery and the raw readings. Input: one `ProcessReading` for the parent and one per
child (status plus smaps_rollup when readable) and, for worker/event, thread-stack samples from
`/proc/PID/smaps`. Output: `MemoryFigures` (derivations §6):

    PSS total = parent + shared + Σ private(child)

where private = USS = Private_Clean + Private_Dirty of a process, parent = the parent's USS, and
shared = Σ (PSS − USS) over all httpd processes: every shared page counted once, split in
proportion when it is shared with processes outside httpd (libc). RSS counts a shared page once per
process that maps it, so it is reported but never used.

Per-thread cost (worker/event): `USS = base + threads × per_thread` fitted by least squares across
children when their thread counts differ; otherwise (the usual case: every child runs the same
ThreadsPerChild) read from the thread stacks (see `stack_sample`).
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from typing import Literal

from capplan.measure.procfs import Mapping, MemoryRollup

MIB = 1 << 20
# glibc's per-thread malloc arenas are HEAP_MAX_SIZE = 2 × DEFAULT_MMAP_THRESHOLD_MAX = 64 MiB
# regions, aligned to their size, of which only the used part is read-write.
ARENA_BYTES = 64 * MIB
# A thread stack's guard is one page by default (pthread_attr_setguardsize); anything larger
# than this is some other PROT_NONE reservation.
MAX_GUARD_BYTES = 1 * MIB


@dataclass(frozen=True, slots=True)
class ProcessReading:
    """One process: its thread count, VmRSS, and its smaps_rollup (None when unreadable)."""

    pid: int
    threads: int
    vm_rss_bytes: int | None
    rollup: MemoryRollup | None


@dataclass(frozen=True, slots=True)
class PrivateStats:
    """Private memory (USS) per child process, in bytes."""

    mean_bytes: int
    median_bytes: int
    max_bytes: int
    min_bytes: int
    count: int
    # The sample standard deviation (0 with a single child).
    stdev_bytes: int = 0


@dataclass(frozen=True, slots=True)
class StackSample:
    """What one threaded child's smaps says about its threads.

    `stacks`: anonymous read-write mappings directly above a small PROT_NONE guard (how glibc
    lays out a pthread stack; the main thread's `[stack]` is not one of them).
    `stack_private_bytes`: their touched private pages. `arena_private_bytes`: the private pages
    of glibc's per-thread malloc arenas, where APR's per-thread allocators live.
    """

    threads: int
    stacks: int
    stack_private_bytes: int
    arena_private_bytes: int


@dataclass(frozen=True, slots=True)
class ThreadCost:
    """A threaded child's private memory split as `process_base + threads × per_thread`."""

    process_base_bytes: int
    per_thread_bytes: int
    method: Literal["fit", "stacks"]


@dataclass(frozen=True, slots=True)
class MemoryFigures:
    processes: int
    threads: int
    pss_total_bytes: int | None
    rss_total_bytes: int | None
    parent_bytes: int | None
    shared_bytes: int | None
    private: PrivateStats | None
    thread_cost: ThreadCost | None
    swap_bytes: int | None
    warnings: tuple[str, ...]


def stack_sample(mappings: tuple[Mapping, ...], threads: int) -> StackSample:
    """Find thread stacks and malloc arenas among the mappings of one process.

    Linux before 4.5 labels them `[stack:TID]`, and those labels are used when present (arenas
    are then not looked for). Since 4.5 smaps no longer does, so stacks are recognised by layout:
    glibc allocates each pthread stack as one anonymous mapping whose lowest page(s) are made
    PROT_NONE, which the kernel shows as a small `---p` mapping immediately followed by a `rw-p`
    one. Only the most common such size is kept (ThreadStackSize makes them all equal).
    Arenas: an anonymous `rw-p` mapping at a 64 MiB-aligned address followed by the `---p`
    rest of the same 64 MiB.
    """
    labelled = [m for m in mappings if m.pathname.startswith("[stack:")]
    candidates: list[Mapping] = []
    arena_private = 0
    for before, mapping in itertools.pairwise(() if labelled else mappings):
        if not (before.anonymous and mapping.anonymous and before.end == mapping.start):
            continue
        if (
            before.perms == "---p"
            and mapping.perms == "rw-p"
            and before.size_bytes <= MAX_GUARD_BYTES
        ):
            candidates.append(mapping)
        elif (
            before.perms == "rw-p"
            and mapping.perms == "---p"
            and before.start % ARENA_BYTES == 0
            and before.size_bytes + mapping.size_bytes == ARENA_BYTES
        ):
            arena_private += before.private_bytes
    if labelled:
        # Linux before 4.5 names each thread's stack `[stack:TID]`: no layout rule is needed.
        return StackSample(threads, len(labelled), sum(m.private_bytes for m in labelled), 0)
    if not candidates:
        return StackSample(threads, 0, 0, arena_private)
    size = statistics.mode(m.size_bytes for m in candidates)
    stacks = [m for m in candidates if m.size_bytes == size]
    return StackSample(threads, len(stacks), sum(m.private_bytes for m in stacks), arena_private)


def fit_thread_cost(points: tuple[tuple[int, int], ...]) -> ThreadCost | None:
    """Least squares `uss = base + threads × per_thread` over (threads, uss) points.

    None when fewer than two distinct thread counts exist, or when the fit is not physical (a
    negative slope or base: other differences between the children dominate).
    """
    if len({threads for threads, _ in points}) < 2:
        return None
    slope, intercept = statistics.linear_regression(
        [float(t) for t, _ in points], [float(u) for _, u in points]
    )
    if slope <= 0 or intercept < 0:
        return None
    return ThreadCost(round(intercept), round(slope), "fit")


def thread_cost_from_stacks(
    samples: tuple[StackSample, ...], private: PrivateStats, mean_threads: float
) -> ThreadCost | None:
    """per_thread = (stack + arena private bytes) / stacks; base = mean USS − threads × that."""
    stacks = sum(s.stacks for s in samples)
    if stacks == 0:
        return None
    per_thread = sum(s.stack_private_bytes + s.arena_private_bytes for s in samples) / stacks
    base = max(0.0, private.mean_bytes - mean_threads * per_thread)
    return ThreadCost(round(base), round(per_thread), "stacks")


def private_stats(values: list[int]) -> PrivateStats | None:
    if not values:
        return None
    return PrivateStats(
        mean_bytes=round(statistics.fmean(values)),
        median_bytes=round(statistics.median(values)),
        max_bytes=max(values),
        min_bytes=min(values),
        count=len(values),
        stdev_bytes=round(statistics.stdev(values)) if len(values) > 1 else 0,
    )


def derive_memory(
    parent: ProcessReading,
    children: tuple[ProcessReading, ...],
    *,
    threaded: bool,
    stacks: tuple[StackSample, ...] = (),
) -> MemoryFigures:
    """The memory model's figures from the readings; what is missing becomes None and a warning."""
    warnings: list[str] = []
    everyone = (parent, *children)
    readable = [p for p in everyone if p.rollup is not None]
    unreadable = [p.pid for p in everyone if p.rollup is None]

    pss_total = rss_total = None
    if not unreadable:
        pss_total = sum(p.rollup.pss_bytes for p in readable if p.rollup)
    else:
        shown = ", ".join(str(pid) for pid in unreadable[:8])
        more = " …" if len(unreadable) > 8 else ""
        warnings.append(
            f"smaps_rollup unreadable for {len(unreadable)} of {len(everyone)} processes "
            f"(PID {shown}{more}): PSS total unknown; run as root"
        )
    rss_values = [p.rollup.rss_bytes if p.rollup else p.vm_rss_bytes for p in everyone]
    if all(v is not None for v in rss_values):
        rss_total = sum(v for v in rss_values if v is not None)

    parent_bytes = parent.rollup.uss_bytes if parent.rollup else None
    shared = sum(p.rollup.pss_bytes - p.rollup.uss_bytes for p in readable if p.rollup)
    shared_bytes = shared if readable else None
    if readable and parent.rollup is None:
        warnings.append("the parent's memory is unreadable: shared memory is from children only")

    private = private_stats([c.rollup.uss_bytes for c in children if c.rollup])
    if not children:
        warnings.append("the server has no child processes: nothing per process to measure")

    thread_cost = None
    if threaded and private is not None:
        points = tuple((c.threads, c.rollup.uss_bytes) for c in children if c.rollup)
        thread_cost = fit_thread_cost(points)
        if thread_cost is None:
            mean_threads = statistics.fmean(t for t, _ in points)
            thread_cost = thread_cost_from_stacks(stacks, private, mean_threads)
        if thread_cost is None:
            warnings.append("per-thread memory unknown: no thread stacks found in smaps")

    swap = sum(p.rollup.swap_bytes for p in readable if p.rollup)
    if swap:
        warnings.append(f"{swap} bytes of httpd memory are swapped out and not in PSS/USS")

    return MemoryFigures(
        processes=len(children),
        threads=sum(c.threads for c in children),
        pss_total_bytes=pss_total,
        rss_total_bytes=rss_total,
        parent_bytes=parent_bytes,
        shared_bytes=shared_bytes,
        private=private,
        thread_cost=thread_cost,
        swap_bytes=swap if readable else None,
        warnings=tuple(warnings),
    )
