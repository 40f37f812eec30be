"""Scanning on a dask.distributed cluster: log paths + a compiled LogFormat → `ScanResult`.

Input: paths or fsspec URLs that the cluster's workers can read, the `CompiledFormat`,
`ScanOptions`, and a scheduler address (or `local:N` for a private cluster of N worker
processes). Output: the same `ScanResult` as `scan.scan_logs`: workers scan the same blocks the
local worker processes do (byte ranges of plain files; gzip files, which cannot be entered in the
middle, whole), and this process merges their summaries in file order with the same code, so the
profile is the same byte for byte. Needs the optional `dask` extra; imported only for `--dask`.
"""

from __future__ import annotations

import io
import os
import stat
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from capplan.errors import CapplanError
from capplan.location import Location
from capplan.logs.logformat import CompiledFormat
from capplan.logs.parse import BlockStats, ScanPlan, scan_block, without_gc
from capplan.logs.reader import LogInput, ReadNote, read_range
from capplan.logs.scan import Progress, ScanOptions, ScanResult, merge_scanned, scan_plan

# distributed's Client is only partly typed: it travels as Any here.
Client = Any

_LOCAL_PREFIX = "local:"


def _is_url(path: str) -> bool:
    return "://" in path


def open_path(path: str) -> BinaryIO:
    """Open a local path or an fsspec URL (s3://, gs://, hdfs://, ...) for binary reading."""
    if not _is_url(path):
        return open(path, "rb")  # the caller closes it
    import fsspec

    # buffered, so that the gzip check can peek at the first bytes
    return cast(BinaryIO, io.BufferedReader(fsspec.open(path, "rb").open()))


@dataclass(frozen=True, slots=True)
class _Described:
    """What a worker sees of one input: its size and whether it is gzip (or unreadable)."""

    path: str
    size_bytes: int
    gzip: bool
    error: str | None = None


def describe(path: str) -> _Described:
    """Stat one input on a worker (the paths are the workers', not necessarily this host's)."""
    try:
        if _is_url(path):
            import fsspec

            fs, inner = fsspec.core.url_to_fs(path)
            if not fs.isfile(inner):
                return _Described(path, 0, False, "no such file (as the workers see it)")
            size = int(fs.size(inner))
        else:
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode):
                return _Described(path, 0, False, "is a directory, not a log file")
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
        with open_path(path) as fh:
            head = fh.read(2)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return _Described(path, 0, False, f"cannot read: {reason} (as the workers see it)")
    return _Described(path, size, head == b"\x1f\x8b")


def scan_range(plan: ScanPlan, path: str, start: int, end: int) -> BlockStats:
    """A worker task: scan the lines of a plain file that start in bytes [start, end)."""
    with without_gc():
        data = read_range(path, start, end, opener=open_path if _is_url(path) else None)
        return scan_block(plan, data)


def scan_whole(
    plan: ScanPlan, path: str, size_bytes: int, block_bytes: int
) -> tuple[list[BlockStats], list[ReadNote]]:
    """A worker task: scan a gzip file block by block (the blocks the local scan reads)."""
    log = LogInput(
        path,
        block_bytes=block_bytes,
        opener=open_path if _is_url(path) else None,
        size_bytes=size_bytes,
    )
    with without_gc():
        stats = [scan_block(plan, b.buffer, b.start, b.end) for b in log.blocks()]
    return stats, log.notes


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise CapplanError(
            "--dask needs the optional Dask support: pip install 'capplan[dask]'"
        ) from None
    return distributed


@contextmanager
def dask_client(address: str) -> Iterator[Client]:
    """A client of the scheduler at `address`, or of a private cluster for `local:N`."""
    distributed = _import_distributed()
    if address.startswith(_LOCAL_PREFIX):
        text = address[len(_LOCAL_PREFIX) :]
        if not text.isdigit() or not 1 <= int(text) <= 256:
            raise CapplanError(f"--dask {address}: expected local:N with N from 1 to 256")
        with (
            distributed.LocalCluster(
                n_workers=int(text),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",  # any free port: never collide with another cluster
                silence_logs=50,  # logging.CRITICAL: worker chatter is not the user's business
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
        return
    try:
        # the timeout is Dask's own (distributed.comm.timeouts.connect, 30 s unless configured)
        client = distributed.Client(address)
    except (OSError, TimeoutError, ValueError) as exc:
        raise CapplanError(f"--dask {address}: cannot reach the scheduler: {exc}") from None
    with client:
        yield client


# A task and what it returns, in file order: a byte range gives one block's statistics, a gzip
# file the statistics of all its blocks and its read notes.
_Pending = tuple[str, Any, bool]  # (source, future, whole file)


def scan_logs_dask(
    paths: tuple[str, ...],
    fmt: CompiledFormat,
    options: ScanOptions,
    *,
    address: str,
    progress: Progress | None = None,
) -> ScanResult:
    """`scan.scan_logs` with the blocks scanned as tasks on a Dask cluster."""
    if not paths:
        raise CapplanError("no log files given")
    if "-" in paths:
        raise CapplanError(
            "--dask: standard input (-) cannot be read by cluster workers; give files"
        )
    plan = scan_plan(fmt, options)
    with dask_client(address) as client:
        inputs: list[_Described] = client.gather(client.map(describe, list(paths), pure=False))
        for d in inputs:
            if d.error is not None:
                raise CapplanError(f"{d.path}: {d.error}")
        notes: list[ReadNote] = []
        scanned = _scanned(
            client,
            plan,
            inputs,
            block_bytes=options.block_bytes,
            in_flight=2 * max(1, sum(client.nthreads().values())),
            progress=progress,
            notes=notes,
        )
        return merge_scanned(
            scanned,
            plan,
            options,
            log_format=fmt.source,
            sources=paths,
            read_notes=lambda: notes,
        )


def _tasks(
    client: Client, plan: ScanPlan, inputs: list[_Described], block_bytes: int
) -> Iterator[tuple[_Pending, int]]:
    """Submit the tasks lazily, in file order; each with the input bytes done once it is."""
    done_before = 0
    for d in inputs:
        if d.gzip:
            future = client.submit(scan_whole, plan, d.path, d.size_bytes, block_bytes, pure=False)
            yield (d.path, future, True), done_before + d.size_bytes
        else:
            for start in range(0, d.size_bytes, block_bytes):
                end = min(start + block_bytes, d.size_bytes)
                future = client.submit(scan_range, plan, d.path, start, end, pure=False)
                yield (d.path, future, False), done_before + end
        done_before += d.size_bytes


def _scanned(
    client: Client,
    plan: ScanPlan,
    inputs: list[_Described],
    *,
    block_bytes: int,
    in_flight: int,
    progress: Progress | None,
    notes: list[ReadNote],
) -> Iterator[tuple[str, BlockStats]]:
    """Block statistics in file order, with at most `in_flight` tasks submitted and unread."""
    total = sum(d.size_bytes for d in inputs)
    pending: deque[tuple[_Pending, int]] = deque()

    def results(item: tuple[_Pending, int]) -> Iterator[tuple[str, BlockStats]]:
        (source, future, whole), done = item
        value = future.result()
        if progress is not None:
            progress(done, total)
        if not whole:
            yield source, value
            return
        stats, file_notes = value
        for stat_ in stats:
            yield source, stat_
        notes.extend(ReadNote(Location(source, 0), n.message) for n in file_notes)

    for item in _tasks(client, plan, inputs, block_bytes):
        pending.append(item)
        if len(pending) >= in_flight:
            yield from results(pending.popleft())
    while pending:
        yield from results(pending.popleft())
