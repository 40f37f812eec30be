"""`capplan measure --fpm-pool`: a running PHP-FPM pool's memory and status, from /proc and FastCGI.

Input: the pool (read from its file), the system's /proc (`ProcFS`) and a FastCGI fetch. Output:
`FpmMeasurement`: the master and each child of the pool with their PSS and private memory, the
figures of a profile's `php:` memory (`process`: mean private memory of a child; `shared`: the rest
of the pool's PSS, counted once) and, when `pm.status_path` is set, php-fpm's status page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from capplan.errors import CapplanError
from capplan.fpm.pool import FpmPool
from capplan.measure.procfs import ProcFS, ProcReadError, list_pids, read_rollup, read_stat
from capplan.measure.status import StatusError

MASTER_PREFIX = "php-fpm: master process"
POOL_PREFIX = "php-fpm: pool "
# The status page's counters capplan reports, as php-fpm names them.
STATUS_KEYS = (
    "pool",
    "process manager",
    "accepted conn",
    "listen queue",
    "max listen queue",
    "listen queue len",
    "idle processes",
    "active processes",
    "total processes",
    "max active processes",
    "max children reached",
    "slow requests",
)

FetchStatus = Callable[[str, str], str]


@dataclass(frozen=True, slots=True)
class FpmProcess:
    pid: int
    pss_bytes: int
    uss_bytes: int


@dataclass(frozen=True, slots=True)
class FpmMeasurement:
    """One pool measured: its master and children (PSS, private), the php: figures, the status."""

    pool: str
    master: FpmProcess
    children: tuple[FpmProcess, ...]
    process_bytes: int
    shared_bytes: int
    status: tuple[tuple[str, Any], ...] | None
    status_error: str | None

    @property
    def total_pss_bytes(self) -> int:
        return self.master.pss_bytes + sum(c.pss_bytes for c in self.children)


def _cmdline(fs: ProcFS, pid: int) -> str:
    return fs.read_text(f"/proc/{pid}/cmdline").replace("\0", " ").strip()


def find_pool_processes(fs: ProcFS, pool: str) -> tuple[int, tuple[int, ...]]:
    """(master PID, child PIDs) of the running pool named `pool`.

    php-fpm renames its processes: the master to `php-fpm: master process (CONFIG)`, each child
    to `php-fpm: pool NAME`. Raises CapplanError when no master runs such a pool, or several do.
    """
    children: dict[int, list[int]] = {}
    for pid in list_pids(fs):
        try:
            if _cmdline(fs, pid) != POOL_PREFIX + pool:
                continue
            parent = read_stat(fs, pid).ppid
            if _cmdline(fs, parent).startswith(MASTER_PREFIX):
                children.setdefault(parent, []).append(pid)
        except ProcReadError:
            continue  # exited while we looked
    if not children:
        raise CapplanError(f"no running php-fpm master has a pool [{pool}]")
    if len(children) > 1:
        masters = ", ".join(str(p) for p in sorted(children))
        raise CapplanError(f"several php-fpm masters run a pool [{pool}] (PIDs {masters})")
    master, pids = next(iter(children.items()))
    return master, tuple(sorted(pids))


def _process(fs: ProcFS, pid: int) -> FpmProcess | None:
    try:
        rollup = read_rollup(fs, pid)
    except ProcReadError:
        return None
    return FpmProcess(pid, rollup.pss_bytes, rollup.uss_bytes)


def parse_status(text: str) -> tuple[tuple[str, Any], ...]:
    """php-fpm's `status?json` body → the counters of STATUS_KEYS that it has."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StatusError(f"the status page is not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise StatusError("the status page is not a JSON object")
    return tuple((key, data[key]) for key in STATUS_KEYS if key in data)


def measure_fpm(
    pool: FpmPool, fs: ProcFS | None = None, *, fetch: FetchStatus | None = None
) -> FpmMeasurement:
    """Measure the running pool `pool`: memory from /proc, the status page when it has one.

    `process` is the children's mean private memory (USS); `shared` the rest of the pool's PSS
    (the master, the shared pages such as opcache), so shared + children × process is the
    pool's total PSS.
    """
    from capplan.measure.fastcgi import fastcgi_get

    fs = fs or ProcFS()
    master_pid, child_pids = find_pool_processes(fs, pool.name)
    master = _process(fs, master_pid)
    if master is None:
        raise CapplanError(f"the php-fpm master (PID {master_pid}) exited while being measured")
    children = tuple(p for p in (_process(fs, pid) for pid in child_pids) if p is not None)
    total = master.pss_bytes + sum(c.pss_bytes for c in children)
    process = round(sum(c.uss_bytes for c in children) / len(children)) if children else 0
    shared = max(0, total - process * len(children))
    status = None
    error = None
    if pool.status_path:
        get = fetch or (lambda address, path: fastcgi_get(address, path, "json"))
        try:
            status = parse_status(get(pool.listen, pool.status_path))
        except StatusError as exc:
            error = str(exc)
    return FpmMeasurement(pool.name, master, children, process, shared, status, error)
