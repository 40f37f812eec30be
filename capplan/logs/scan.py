"""Scanning pipeline: log inputs + a compiled LogFormat → `ScanResult` (merged sketches).

Input: input paths, the `CompiledFormat`, `ScanOptions`. Output: one `ScanResult` holding every
count and sketch the derive stage needs. Blocks are scanned in worker processes when the input is
large (one per core) and merged in file order, so line numbers and per-client joins stay exact.
Memory is bounded by the block size times the number of blocks in flight, plus the sketches.
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import BinaryIO

from capplan.errors import CapplanError
from capplan.location import Location
from capplan.logs.logformat import CompiledFormat
from capplan.logs.parse import BlockStats, ScanPlan, make_plan, scan_block, without_gc
from capplan.logs.php_split import PhpSplit
from capplan.logs.reader import (
    BLOCK_BYTES,
    Block,
    LogInput,
    ReadNote,
    is_plain_file,
    read_range,
)
from capplan.logs.stats import ClientTable, LogHistogram, VisitTally, WindowCounter

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ScanOptions:
    window_s: float = 1.0
    visit_gap_s: float = 300.0  # a client idle this long has ended its visit
    reorder_s: float = 60.0  # how far out of time order lines may be
    max_bad_fraction: float = 0.10
    keepalive_cap: int | None = 100  # MaxKeepAliveRequests: %k at which httpd closes
    jobs: int = 0  # worker processes; 0 = one per core
    block_bytes: int = BLOCK_BYTES
    max_clients: int = 200_000
    php: PhpSplit | None = None  # --php: count PHP requests and their durations apart


@dataclass(frozen=True, slots=True)
class BadSample:
    location: Location
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Merged statistics of all inputs (sketches are read-only from here on)."""

    sources: tuple[str, ...]
    log_format: str
    plan: ScanPlan
    lines: int
    parsed: int
    bad: int
    bad_samples: tuple[BadSample, ...]
    notes: tuple[ReadNote, ...]
    t_min_s: float
    t_max_s: float
    window_counts: tuple[tuple[int, int], ...]  # (requests in a window, number of such windows)
    late_lines: int
    service: LogHistogram
    duration_missing: int
    keepalive_first: int
    keepalive_known: int
    connection_status: tuple[tuple[str, int], ...]
    status: tuple[tuple[str, int], ...]
    hours: tuple[int, ...]
    visits: VisitTally
    keepalive_values: tuple[tuple[int, int], ...] = ()  # (%k, lines), numeric values only
    t_max_at: Location | None = None  # the line with the latest start
    duration_max_at: Location | None = None  # the line with the longest duration
    http2_requests: int = 0  # requests logged as HTTP/2.0 (%H or %r)
    protocol_known: int = 0  # requests whose protocol the log shows
    # --php: requests counted as PHP and their durations (None: no split asked for)
    php_requests: int = 0
    php_service: LogHistogram | None = None
    php_redirects: int = 0  # requests whose %R shows mod_rewrite's redirect-handler


class _Totals:
    def __init__(self, plan: ScanPlan, options: ScanOptions, log_format: str) -> None:
        self.plan = plan
        self.log_format = log_format
        self.options = options
        self.lines = 0
        self.lines_by_source: dict[str, int] = {}
        self.parsed = 0
        self.bad = 0
        self.bad_samples: list[BadSample] = []
        self.t_min_s = float("inf")
        self.t_max_s = float("-inf")
        self.windows = WindowCounter(plan.window_s, plan.reorder_s)
        self.service = LogHistogram()
        self.duration_missing = 0
        self.keepalive_first = 0
        self.keepalive_known = 0
        self.keepalive_values: Counter[bytes] = Counter()
        self.t_max_at: Location | None = None
        self.duration_max_at: Location | None = None
        self.connection_status: Counter[bytes] = Counter()
        self.status: Counter[bytes] = Counter()
        self.http2_requests = 0
        self.protocol_known = 0
        self.php_requests = 0
        self.php_service = LogHistogram() if plan.php is not None else None
        self.php_redirects = 0
        self.hours = [0] * 24
        self.visits = VisitTally()
        self.clients = ClientTable(
            self.visits, plan.visit_gap_s, plan.reorder_s, plan.keepalive_cap, options.max_clients
        )

    def add(self, source: str, b: BlockStats) -> None:
        first_line = self.lines_by_source.get(source, 0) + 1
        self.lines_by_source[source] = first_line - 1 + b.lines
        self.lines += b.lines
        self.parsed += b.parsed
        self.bad += b.bad
        for bad in b.bad_samples:
            if len(self.bad_samples) < 5:
                text = bad.text.decode("utf-8", "replace").replace("\x00", "\\0")
                loc = Location(source, first_line + bad.line - 1)
                self.bad_samples.append(BadSample(loc, text, bad.reason))
        if b.parsed == 0:
            return
        self.t_min_s = min(self.t_min_s, b.t_min_s)
        if b.t_max_s > self.t_max_s:
            self.t_max_at = Location(source, first_line + b.t_max_line - 1)
        self.t_max_s = max(self.t_max_s, b.t_max_s)
        self.windows.add(b.windows)
        if b.duration_max_line and b.service.max > self.service.max:
            self.duration_max_at = Location(source, first_line + b.duration_max_line - 1)
        self.service.merge(b.service)
        self.duration_missing += b.duration_missing
        self.keepalive_first += b.keepalive_first
        self.keepalive_known += b.keepalive_known
        self.keepalive_values.update(b.keepalive_values)
        self.connection_status.update(b.connection_status)
        self.status.update(b.status)
        self.http2_requests += b.http2_lines
        self.protocol_known += b.protocol_known
        if self.php_service is not None and b.php_service is not None:
            self.php_requests += b.php_lines
            self.php_service.merge(b.php_service)
            self.php_redirects += b.php_redirects
        for h, c in enumerate(b.hours):
            self.hours[h] += c
        self.visits.merge(b.visits)
        if self.plan.client_group is not None:
            self.clients.add_block(b.heads, b.tails, b.t_max_s)

    def result(self, sources: tuple[str, ...], notes: tuple[ReadNote, ...]) -> ScanResult:
        self.clients.finish()
        hist = self.windows.finish()

        def text(c: Counter[bytes]) -> tuple[tuple[str, int], ...]:
            return tuple(sorted((k.decode("ascii", "replace"), v) for k, v in c.items()))

        return ScanResult(
            sources=sources,
            log_format=self.log_format,
            plan=self.plan,
            lines=self.lines,
            parsed=self.parsed,
            bad=self.bad,
            bad_samples=tuple(self.bad_samples),
            notes=notes,
            t_min_s=self.t_min_s,
            t_max_s=self.t_max_s,
            window_counts=tuple(sorted(hist.items())),
            late_lines=self.windows.late_lines,
            service=self.service,
            duration_missing=self.duration_missing,
            keepalive_first=self.keepalive_first,
            keepalive_known=self.keepalive_known,
            connection_status=text(self.connection_status),
            status=text(self.status),
            hours=tuple(self.hours),
            visits=self.visits,
            keepalive_values=tuple(
                sorted((int(k), v) for k, v in self.keepalive_values.items() if k.isdigit())
            ),
            t_max_at=self.t_max_at,
            duration_max_at=self.duration_max_at,
            http2_requests=self.http2_requests,
            protocol_known=self.protocol_known,
            php_requests=self.php_requests,
            php_service=self.php_service,
            php_redirects=self.php_redirects,
        )


# A unit of work: the bytes of whole lines, a read buffer with the bounds of its whole lines, or a
# byte range of a plain file (path, start, end) that a worker reads itself, which spares the parent
# reading and copying.
Job = bytes | Block | tuple[str, int, int]


def _scan_job(plan: ScanPlan, job: Job) -> BlockStats:
    if isinstance(job, Block):
        return scan_block(plan, job.buffer, job.start, job.end)
    data = job if isinstance(job, bytes) else read_range(*job)
    return scan_block(plan, data)


def _jobs(
    inputs: list[LogInput], parallel: bool, progress: Progress | None, total: int
) -> Iterator[tuple[str, Job]]:
    """The work in file order; progress is reported as jobs are handed out."""
    done_before = 0
    for log in inputs:
        if parallel and is_plain_file(log.path):
            size = log.size_bytes
            for start in range(0, size, log.block_bytes):
                end = min(start + log.block_bytes, size)
                if progress is not None:
                    progress(done_before + end, total)
                yield log.name, (log.path, start, end)
        else:
            for block in log.blocks():
                if progress is not None:
                    progress(done_before + block.raw_done_bytes, total)
                # a worker gets only the lines (pickling sends the bytes anyway)
                yield block.source, block.data if parallel else block
        done_before += log.size_bytes


def _scanned(
    inputs: list[LogInput], plan: ScanPlan, jobs: int, progress: Progress | None, total: int
) -> Iterator[tuple[str, BlockStats]]:
    if jobs <= 1:
        for source, job in _jobs(inputs, False, progress, total):
            yield source, _scan_job(plan, job)
        return
    # fork: workers inherit the compiled modules; the pool is private to this call.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
        pending: deque[tuple[str, Future[BlockStats]]] = deque()
        for source, job in _jobs(inputs, True, progress, total):
            pending.append((source, pool.submit(_scan_job, plan, job)))
            if len(pending) >= 2 * jobs:
                name, fut = pending.popleft()
                yield name, fut.result()
        while pending:
            name, fut = pending.popleft()
            yield name, fut.result()


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), not all the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def scan_plan(fmt: CompiledFormat, options: ScanOptions) -> ScanPlan:
    """The scan plan for this format under these options (CapplanError without a time field)."""
    return make_plan(
        fmt,
        window_s=options.window_s,
        visit_gap_s=options.visit_gap_s,
        reorder_s=options.reorder_s,
        keepalive_cap=options.keepalive_cap,
        php=options.php,
    )


def scan_logs(
    paths: tuple[str, ...],
    fmt: CompiledFormat,
    options: ScanOptions,
    *,
    stdin: BinaryIO | None = None,
    progress: Progress | None = None,
) -> ScanResult:
    """Read and scan every input; raise CapplanError when too little of it is usable."""
    if not paths:
        raise CapplanError("no log files given")
    plan = scan_plan(fmt, options)
    inputs = [LogInput(p, stdin, block_bytes=options.block_bytes) for p in paths]
    total = sum(log.size_bytes for log in inputs)
    jobs = options.jobs or _usable_cpus()
    if total < 2 * options.block_bytes and "-" not in paths:
        jobs = 1  # starting processes costs more than it saves on small inputs
    return merge_scanned(
        _scanned(inputs, plan, jobs, progress, total),
        plan,
        options,
        log_format=fmt.source,
        sources=tuple(log.name for log in inputs),
        read_notes=lambda: [n for log in inputs for n in log.notes],
    )


def merge_scanned(
    scanned: Iterable[tuple[str, BlockStats]],
    plan: ScanPlan,
    options: ScanOptions,
    *,
    log_format: str,
    sources: tuple[str, ...],
    read_notes: Callable[[], list[ReadNote]],
) -> ScanResult:
    """Merge block statistics, in file order, into the result; `read_notes` is asked once the
    blocks are merged (reading them is what finds a truncated gzip file)."""
    totals = _Totals(plan, options, log_format)
    with without_gc():  # the merge allocates per client, never in cycles (see parse.py)
        for source, stats in scanned:
            totals.add(source, stats)
    # A read note (truncated gzip) is about the end of what was read from its file.
    lines_read = totals.lines_by_source
    notes = tuple(
        ReadNote(Location(n.location.path, lines_read.get(n.location.path, 0)), n.message)
        for n in read_notes()
    )
    result = totals.result(sources, notes)
    check_usable(result, options.max_bad_fraction)
    return result


def check_usable(result: ScanResult, max_bad_fraction: float) -> None:
    """No lines, no usable line, or too many bad lines → CapplanError naming the first bad line."""
    if result.lines == 0:
        raise CapplanError(f"{', '.join(result.sources)}: no log lines to read")
    if result.bad == 0:
        return
    fraction = result.bad / result.lines
    if result.parsed > 0 and fraction <= max_bad_fraction:
        return
    first = result.bad_samples[0]
    what = (
        "no line matches the log format"
        if result.parsed == 0
        else f"{result.bad} of {result.lines} lines ({fraction:.1%}) are unusable, "
        f"more than the limit of {max_bad_fraction:.0%} (--max-bad-fraction)"
    )
    raise CapplanError(
        f"{first.reason}; {what} (log format {result.log_format!r})",
        first.location,
        source_line=first.text,
    )
