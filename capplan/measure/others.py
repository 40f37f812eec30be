"""The memory the rest of the box uses: every process but httpd's, grouped by name, by PSS.

Stage: a measurement for `capplan fit --reserve-measured`. Input: the system's /proc (a `ProcFS`),
the process IDs and names to leave out (httpd itself, capplan). Output: `OtherProcesses`, one
`ProcessGroup` per process name (mysqld, php-fpm8.2, redis-server, …) with its summed PSS, the
memory httpd cannot have. PSS splits each shared page among the processes mapping it, so the sum
counts every page once; a process whose smaps_rollup may not be read (another user's, without
root) is counted by its resident set from /proc/PID/status instead, which overstates shared pages
and is said so.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass

from capplan.errors import CapplanError
from capplan.measure.procfs import ProcFS, ProcReadError, list_pids, read_rollup, read_status

# The names httpd's processes run under (Debian and upstream/RHEL builds).
HTTPD_NAMES = frozenset({"apache2", "httpd"})


@dataclass(frozen=True, slots=True)
class ProcessGroup:
    """The processes of one name: how many, their memory, and how many were counted by RSS."""

    name: str
    processes: int
    memory_bytes: int
    by_rss: int  # processes whose PSS could not be read, counted by VmRSS


@dataclass(frozen=True, slots=True)
class OtherProcesses:
    """Every other process's memory by name, largest first (kernel threads have none)."""

    groups: tuple[ProcessGroup, ...]
    skipped_pids: int  # httpd's and capplan's own processes
    unreadable: int  # processes that exited or could not be read at all

    @property
    def total_bytes(self) -> int:
        return sum(group.memory_bytes for group in self.groups)

    @property
    def processes(self) -> int:
        return sum(group.processes for group in self.groups)

    @property
    def by_rss(self) -> int:
        return sum(group.by_rss for group in self.groups)


def measure_other_processes(
    fs: ProcFS | None = None,
    *,
    exclude_pids: Collection[int] = (),
    exclude_names: Collection[str] = HTTPD_NAMES,
) -> OtherProcesses:
    """Sum PSS per process name over every process except `exclude_pids` and `exclude_names`.

    capplan's own process is always excluded: it is not part of the box's steady load.
    """
    fs = fs or ProcFS()
    skip = {*exclude_pids, os.getpid()}
    totals: dict[str, list[int]] = {}
    skipped = unreadable = 0
    try:
        pids = list_pids(fs)
    except ProcReadError as exc:
        raise CapplanError(f"cannot list the processes of this machine: {exc}") from None
    for pid in pids:
        if pid in skip:
            skipped += 1
            continue
        try:
            status = read_status(fs, pid)
        except ProcReadError:
            unreadable += 1
            continue
        if status.name in exclude_names:
            skipped += 1
            continue
        if status.vm_rss_bytes is None:
            continue  # a kernel thread or a zombie: no user memory
        try:
            size, by_rss = read_rollup(fs, pid).pss_bytes, 0
        except ProcReadError as exc:
            if exc.reason == "gone":
                unreadable += 1
                continue
            size, by_rss = status.vm_rss_bytes, 1
        entry = totals.setdefault(status.name, [0, 0, 0])
        entry[0] += 1
        entry[1] += size
        entry[2] += by_rss
    groups = sorted(
        (ProcessGroup(name, count, size, rss) for name, (count, size, rss) in totals.items()),
        key=lambda group: (-group.memory_bytes, group.name),
    )
    return OtherProcesses(tuple(groups), skipped_pids=skipped, unreadable=unreadable)
