"""Block scanning stage: a block of whole log lines (bytes) → `BlockStats` (mergeable sketches).

Input: a `ScanPlan` (which regex groups hold the client, time, duration, status, `%k`, `%X`) and
the raw bytes of consecutive lines. Output: counts, histograms and per-client heads/tails for one
block; blocks are scanned independently (in worker processes) and merged in file order.

The fast path runs one compiled regex over the whole block (`split`, whose result holds each
group as a column slice), converts columns with NumPy (durations over a fixed-width copy, time
stamps once per run of equal stamps, clients through 16-bit numbers), and touches Python objects
once per distinct value rather than once per line where it can. Only when a block holds a line
that does not match does it fall back to matching line by line, to report the bad lines' numbers.
"""

from __future__ import annotations

import gc
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import TypeVar

import numpy as np

from capplan.errors import CapplanError
from capplan.logs.logformat import CompiledFormat
from capplan.logs.php_split import REDIRECT_HANDLER, PhpSplit, php_rows
from capplan.logs.reader import LONG_LINE_MARK, MAX_LINE_BYTES
from capplan.logs.stats import (
    ClientHeads,
    ClientKey,
    ClientTails,
    FloatArray,
    LogHistogram,
    VisitTally,
)
from capplan.logs.timeparse import parse_clf_time, parse_strftime_time

MAX_BAD_SAMPLES = 5
T = TypeVar("T")

_EPOCH_SCALE = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}
_FRAC_SCALE = {"msec_frac": 1e-3, "usec_frac": 1e-6}


@dataclass(frozen=True, slots=True)
class ScanPlan:
    """What to extract from each line, as positions in the fast regex's groups."""

    pattern: bytes
    n_groups: int
    time_group: int
    time_form: str  # "clf", "strftime" or one of "sec", "msec", "usec"
    strftime: str | None
    time_at_end: bool  # %{end:...}t: the stamp is the end of the request
    frac_group: int | None
    frac_scale_s: float
    duration_group: int | None
    duration_unit_s: float
    duration_source: str | None  # e.g. "%D"
    client_group: int | None
    agent_group: int | None
    status_group: int | None
    keepalive_group: int | None
    connection_group: int | None
    window_s: float
    visit_gap_s: float
    reorder_s: float
    # MaxKeepAliveRequests: a request with %k >= cap is closed by the server whatever the client
    keepalive_cap: int | None
    # %H (the protocol), else %r (the request line, whose last word is the protocol)
    protocol_group: int | None = None
    protocol_in_request_line: bool = False
    # --php: which rows are PHP requests (None: no split asked for)
    php: PhpSplit | None = None
    php_url_group: int | None = None
    php_handler_group: int | None = None


@dataclass(slots=True)
class BadLine:
    line: int  # 1-based, within the block until the merge makes it absolute
    text: bytes
    reason: str


@dataclass(slots=True)
class BlockStats:
    """Everything one block contributes. Filled in place by `scan_block` in one process, then
    only read: `scan._Totals.add` merges it into the running totals."""

    lines: int = 0
    parsed: int = 0
    bad: int = 0
    bad_samples: list[BadLine] = field(default_factory=list)
    t_min_s: float = float("inf")
    t_max_s: float = float("-inf")
    windows: dict[int, int] = field(default_factory=dict)
    service: LogHistogram = field(default_factory=LogHistogram)
    duration_missing: int = 0
    keepalive_first: int = 0  # lines with %k == 0: first request of a connection
    keepalive_known: int = 0
    keepalive_values: Counter[bytes] = field(default_factory=Counter)  # %k text → lines
    # 1-based line numbers (within the block) of the latest start and the longest duration
    t_max_line: int = 0
    duration_max_line: int = 0
    connection_status: Counter[bytes] = field(default_factory=Counter)
    status: Counter[bytes] = field(default_factory=Counter)
    http2_lines: int = 0  # requests over HTTP/2 (%H or %r says HTTP/2.0)
    protocol_known: int = 0  # requests whose protocol the log shows
    # --php: requests the split counts as PHP and their durations (None without the split, so
    # that a block without it carries no second histogram)
    php_lines: int = 0
    php_service: LogHistogram | None = None
    php_redirects: int = 0  # rows whose original-request handler (%R) is redirect-handler
    hours: list[int] = field(default_factory=lambda: [0] * 24)
    visits: VisitTally = field(default_factory=VisitTally)
    heads: ClientHeads = field(default_factory=lambda: ClientHeads([], []))
    tails: ClientTails = field(default_factory=lambda: ClientTails([], [], [], []))


def _group(fmt: CompiledFormat, index: int | None, wanted: list[int]) -> int | None:
    if index is None:
        return None
    if index not in wanted:
        wanted.append(index)
    return index


def make_plan(
    fmt: CompiledFormat,
    *,
    window_s: float,
    visit_gap_s: float,
    reorder_s: float = 60.0,
    keepalive_cap: int | None = None,
    php: PhpSplit | None = None,
) -> ScanPlan:
    """Choose the fields the estimators read; raise CapplanError when there is no time stamp."""
    time_index: int | None = None
    time_form = ""
    strftime: str | None = None
    at_end = False
    frac_index: int | None = None
    frac_scale = 0.0
    best_rank = -1
    for i, f in enumerate(fmt.fields):
        if f.letter != "t":
            continue
        arg = f.argument or ""
        end = arg.startswith("end:")
        form = arg.split(":", 1)[1] if arg.startswith(("begin:", "end:")) else arg
        if form in _FRAC_SCALE:
            if frac_index is None:
                frac_index, frac_scale = i, _FRAC_SCALE[form]
            continue
        rank = {"usec": 4, "msec": 3, "sec": 1}.get(form, 2 if f.argument is None else 1)
        if rank > best_rank:
            best_rank = rank
            time_index, at_end = i, end
            if form in _EPOCH_SCALE:
                time_form, strftime = form, None
            elif f.argument is None:
                time_form, strftime = "clf", None
            else:
                time_form, strftime = "strftime", form
    if time_index is None:
        raise CapplanError(
            f"log format {fmt.source!r} has no time stamp (%t or %{{...}}t): cannot derive rates"
        )
    if time_form in ("usec", "msec"):
        frac_index = None

    duration_index: int | None = None
    duration_unit = 0.0
    duration_source: str | None = None
    sources: tuple[tuple[float, str, tuple[str | None, ...], str], ...] = (
        (1e-6, "D", (None,), "%D"),
        (1e-6, "T", ("us",), "%{us}T"),
        (1e-3, "T", ("ms",), "%{ms}T"),
        (1.0, "T", (None, "s"), "%T"),
    )
    for unit_s, letter, args, label in sources:
        for duration_arg in args:
            idx = fmt.find(letter, duration_arg)
            if idx is not None and duration_index is None:
                duration_index, duration_unit, duration_source = idx, unit_s, label
    client_index = fmt.find("a", "c")
    if client_index is None:
        client_index = fmt.find("a")
    if client_index is None:
        client_index = fmt.find("h")
    agent_index = fmt.find("i", "User-Agent")
    status_index = fmt.index(">s")
    if status_index is None:
        status_index = fmt.find("s")
    if status_index is None:
        status_index = fmt.index("<s")

    protocol_index = fmt.find("H")
    in_request_line = protocol_index is None and fmt.find("r") is not None
    if protocol_index is None:
        protocol_index = fmt.find("r")
    chosen = [
        time_index,
        frac_index,
        duration_index,
        client_index,
        agent_index,
        status_index,
        fmt.find("k"),
        fmt.find("X"),
        protocol_index,
        *((php.url_field, php.handler_field) if php is not None else ()),
    ]
    wanted = sorted({i for i in chosen if i is not None})
    pos = {idx: j for j, idx in enumerate(wanted)}

    def g(idx: int | None) -> int | None:
        return None if idx is None else pos[idx]

    regex = fmt.fast_regex(tuple(wanted))
    return ScanPlan(
        pattern=regex.pattern,
        n_groups=len(wanted),
        time_group=pos[time_index],
        time_form=time_form,
        strftime=strftime,
        time_at_end=at_end,
        frac_group=g(frac_index),
        frac_scale_s=frac_scale,
        duration_group=g(duration_index),
        duration_unit_s=duration_unit,
        duration_source=duration_source,
        client_group=g(client_index),
        agent_group=g(agent_index),
        status_group=g(status_index),
        keepalive_group=g(fmt.find("k")),
        connection_group=g(fmt.find("X")),
        window_s=window_s,
        visit_gap_s=visit_gap_s,
        reorder_s=reorder_s,
        keepalive_cap=keepalive_cap,
        protocol_group=g(protocol_index),
        protocol_in_request_line=in_request_line,
        php=php,
        php_url_group=g(php.url_field) if php is not None else None,
        php_handler_group=g(php.handler_field) if php is not None else None,
    )


@lru_cache(maxsize=8)
def _compiled(pattern: bytes) -> re.Pattern[bytes]:
    return re.compile(pattern, re.M)


_TIME_CACHE: dict[bytes, tuple[float, int] | None] = {}


def _stamp(text: bytes, plan: ScanPlan) -> tuple[float, int] | None:
    hit = _TIME_CACHE.get(text, False)
    if hit is not False:
        return hit  # type: ignore[return-value]
    if len(_TIME_CACHE) > 4096:  # a block spans far fewer distinct stamps
        _TIME_CACHE.clear()
    if plan.time_form == "clf":
        value = parse_clf_time(text)
    else:
        assert plan.strftime is not None
        value = parse_strftime_time(text, plan.strftime)
    _TIME_CACHE[text] = value
    return value


_POW10 = 10 ** np.arange(19, dtype=np.int64)
_DIGITS_WIDTH = 10  # texts of up to 9 digits (%D up to 16 min) take the fast path


def _digit_values(column: list[bytes]) -> np.ndarray | None:
    """The values of a column of unsigned decimal texts of 1 to 9 digits, computed with NumPy
    over a fixed-width copy (~40 ns a value where `int()` costs ~90); None when some text is
    anything else (`-`, a sign, empty, longer): the caller then converts them one by one."""
    n = len(column)
    width = _DIGITS_WIDTH
    # (width, n), NUL-padded on the right; a longer text would be cut, so the last row must be
    # all NUL, and an empty text leaves a NUL in the first row
    m = np.ascontiguousarray(np.array(column, dtype=f"S{width}").view(np.uint8).reshape(n, width).T)
    if n == 0 or m[-1].any() or not m[0].all():
        return None
    present = m != 0
    digits = m - np.uint8(48)
    if ((digits > 9) & present).any():
        return None  # a byte that is no digit (digits are never NUL, so NULs are the padding)
    digits *= present
    value = np.zeros(n, dtype=np.int64)
    length = np.zeros(n, dtype=np.int64)
    for row, known in zip(digits, present, strict=True):
        value *= 10
        value += row
        length += known
    # the padding counted as trailing zeros: divide them out
    result: np.ndarray = value // _POW10[width - length]
    return result


def _ints(column: list[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
    """Column of integer texts → (float array, mask of known values or None when all known)."""
    parsed = _digit_values(column)
    if parsed is not None:
        return parsed.astype(np.float64), None
    try:
        return np.fromiter(map(int, column), dtype=np.float64, count=len(column)), None
    except ValueError:
        known = np.fromiter((v != b"-" for v in column), dtype=bool, count=len(column))
        values = np.fromiter(
            (int(v) if v != b"-" else 0 for v in column), dtype=np.float64, count=len(column)
        )
        return values, known


_COUNT_BYTES = 1 << 18


def _line_count(data: bytes, start: int, end: int) -> int:
    # NumPy counts newlines 3x faster than bytes.count (which does not use memchr), in pieces
    # that stay in the cache
    buf = np.frombuffer(data, np.uint8, end - start, start)
    n = sum(
        int(np.count_nonzero(buf[i : i + _COUNT_BYTES] == 10))
        for i in range(0, len(buf), _COUNT_BYTES)
    )
    return n + 1 if end > start and data[end - 1] != 10 else n


@contextmanager
def without_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: a block allocates ~10 tuples and byte strings per
    line, none of them in cycles, and the collections they trigger cost ~20 % of the scan."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def scan_block(plan: ScanPlan, data: bytes, start: int = 0, end: int | None = None) -> BlockStats:
    """Scan the whole lines in `data[start:end]`; never raises on bad lines (they are counted
    with their numbers). `start` must be 0 or just after a newline."""
    with without_gc():
        return _scan_block(plan, data, start, len(data) if end is None else end)


def _scan_block(plan: ScanPlan, data: bytes, start: int, end: int) -> BlockStats:
    regex = _compiled(plan.pattern)
    out = BlockStats(lines=_line_count(data, start, end))
    if start != 0 or end != len(data):
        data = data[start:end]  # `split` has no bounds; copying costs ~1 % of the match
    # Empty lines never match a LogFormat's pattern; with any, the per-line path counts them
    # in bulk (a small gzip file can hold 4 GiB of them).
    empty = _empty_lines(data) if regex.match(b"") is None else 0
    if empty == out.lines and empty:
        out.bad = empty
        out.bad_samples.append(BadLine(1, b"", "empty line"))
        return out
    columns = None if empty else _split_columns(regex, data, plan.n_groups, out.lines)
    row_lines: list[int] | None = None  # the line number of each row, when lines were dropped
    if columns is None:
        row_lines = []
        columns = _columns(_slow_rows(regex, data, plan, out, row_lines), plan.n_groups)
    if not columns[0]:
        return out
    stamps = _stamps(plan, columns)
    if stamps is not None and any(stamp is None for stamp, _ in stamps[0].values()):
        # a time stamp that matched the pattern but is no date (e.g. month "Foo"): find the line
        out = BlockStats(lines=out.lines)
        row_lines = []
        columns = _columns(_slow_rows(regex, data, plan, out, row_lines), plan.n_groups)
        if not columns[0]:
            return out
        stamps = _stamps(plan, columns)
    _scan_rows(plan, columns, out, stamps, row_lines)
    return out


def _split_columns(
    regex: re.Pattern[bytes], data: bytes, n_groups: int, lines: int
) -> list[list[bytes]] | None:
    """One list per group when every line matches, else None (the caller then goes line by line).

    `split` returns [text before match 1, its groups..., text between matches 1 and 2, ...], so
    group j of every match is the slice `[j::n_groups + 1]`: no tuple per line and no Python call
    per value, which `findall` and a column per `itemgetter` cost (about 15 % of the scan). The
    matches are those `findall` finds; as many as lines means every line matched, alone.
    """
    flat = regex.split(data)
    stride = n_groups + 1
    if len(flat) != lines * stride + 1:
        return None
    return [flat[j::stride] for j in range(1, stride)]


def _columns(rows: list[tuple[bytes, ...]], n_groups: int) -> list[list[bytes]]:
    """Rows of groups → one list per group (itemgetter per column beats zip(*rows) by 2.5x)."""
    return [list(map(itemgetter(i), rows)) for i in range(n_groups)]


Runs = tuple[list[bytes], np.ndarray]  # (text of each run of equal values, run lengths)
StampCounts = dict[bytes, tuple[tuple[float, int] | None, int]]


def _runs(column: list[bytes]) -> Runs | None:
    """Runs of consecutive equal texts, found with NumPy over the joined column, when all texts
    have one length and runs are few (time stamps: a second's lines mostly come together).
    None otherwise: the caller then hashes every text."""
    n = len(column)
    width = len(column[0]) + 1  # with its "\n" separator
    joined = b"\n".join(column) + b"\n"
    if len(joined) != n * width:
        return None
    rows = np.frombuffer(joined, dtype=np.uint8).reshape(n, width)
    if not (rows[:, -1] == 10).all() or np.count_nonzero(rows == 10) != n:
        return None  # lengths differ (the row ends are not all the separators)
    if width < 8:
        change = (rows[1:] != rows[:-1]).any(axis=1)
    else:
        # compare the rows 8 bytes at a time (the last word may overlap the one before):
        # a reduction along rows costs ~5x more
        change = np.zeros(n - 1, dtype=bool)
        for offset in range(0, width, 8):
            start = min(offset, width - 8)
            words = np.ndarray((n,), np.uint64, joined, start, (width,))
            change |= words[1:] != words[:-1]
    starts = np.flatnonzero(change) + 1
    if len(starts) > n // 8:
        return None
    first = [0, *starts.tolist()]
    return [column[i] for i in first], np.diff(np.append(first, n))


def _stamps(plan: ScanPlan, columns: list[list[bytes]]) -> tuple[StampCounts, Runs | None] | None:
    """Distinct time stamp texts → (parsed stamp or None, lines), and the runs of equal stamps
    when they are few; None for epoch forms."""
    if plan.time_form not in ("clf", "strftime"):
        return None
    column = columns[plan.time_group]
    runs = _runs(column)
    if runs is None:
        counts: dict[bytes, int] = Counter(column)
    else:
        counts = {}
        for text, length in zip(runs[0], runs[1].tolist(), strict=True):
            counts[text] = counts.get(text, 0) + length
    return {text: (_stamp(text, plan), count) for text, count in counts.items()}, runs


def _empty_lines(data: bytes) -> int:
    """How many lines of `data` are empty (NumPy: a byte pass, not a Python step per line)."""
    if not data:
        return 0
    nl = np.frombuffer(data, dtype=np.uint8) == 10
    return int(nl[0]) + int(np.count_nonzero(nl[1:] & nl[:-1]))


def _non_empty_lines(data: bytes, out: BlockStats) -> Iterator[tuple[int, bytes]]:
    """(number, line) of the non-empty lines of `data`; the empty ones are counted as bad."""
    nl = np.frombuffer(data, dtype=np.uint8) == 10
    after_newline = np.concatenate((np.ones(1, dtype=bool), nl[:-1]))
    begins = np.flatnonzero(after_newline & ~nl)
    numbers = np.searchsorted(np.flatnonzero(nl), begins) + 1
    empty = int(nl[0]) + int(np.count_nonzero(nl[1:] & nl[:-1])) if len(nl) else 0
    if empty:
        out.bad += empty
        first = int(np.flatnonzero(after_newline & nl)[0])
        out.bad_samples.append(BadLine(data.count(b"\n", 0, first) + 1, b"", "empty line"))
    for number, begin in zip(numbers.tolist(), begins.tolist(), strict=True):
        end = data.find(b"\n", begin)
        yield number, data[begin : end if end >= 0 else len(data)]
    if empty:
        out.bad_samples.sort(key=lambda bad: bad.line)
        del out.bad_samples[MAX_BAD_SAMPLES:]


def _slow_rows(
    regex: re.Pattern[bytes],
    data: bytes,
    plan: ScanPlan,
    out: BlockStats,
    row_lines: list[int],
) -> list[tuple[bytes, ...]]:
    rows: list[tuple[bytes, ...]] = []
    if regex.match(b"") is None:
        # Empty lines cannot match: counted in bulk, so 4 GiB of them cost a count, not a
        # Python step each (a small gzip file can hold that many).
        numbered = _non_empty_lines(data, out)
    else:
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()
        numbered = enumerate(lines, start=1)
    for number, line in numbered:
        too_long = line == LONG_LINE_MARK or len(line) > MAX_LINE_BYTES
        m = None if too_long else regex.match(line)
        reason = ""
        if too_long:
            reason = f"line longer than {MAX_LINE_BYTES} bytes, skipped"
        elif m is None:
            reason = "line does not match the log format"
        elif plan.time_form in ("clf", "strftime") and (
            _stamp(m.group(plan.time_group + 1), plan) is None
        ):
            reason = "bad time stamp"
        if reason:
            out.bad += 1
            if len(out.bad_samples) < MAX_BAD_SAMPLES:
                out.bad_samples.append(BadLine(number, line[:300], reason))
            continue
        assert m is not None
        rows.append(m.groups())
        row_lines.append(number)
    return rows


def _scan_rows(
    plan: ScanPlan,
    columns: list[list[bytes]],
    out: BlockStats,
    stamped: tuple[StampCounts, Runs | None] | None,
    row_lines: list[int] | None = None,
) -> None:
    n = len(columns[0])
    out.parsed = n
    t_col = columns[plan.time_group]
    hours = out.hours
    if stamped is not None:
        stamps, runs = stamped
        epoch: dict[bytes, float] = {}
        for text, (stamp, count) in stamps.items():
            assert stamp is not None  # lines with bad stamps were dropped by _slow_rows
            epoch[text] = stamp[0]
            hours[stamp[1]] += count
        if runs is None:
            t = np.fromiter(map(epoch.__getitem__, t_col), dtype=np.float64, count=n)
        else:
            run_epoch = np.fromiter(map(epoch.__getitem__, runs[0]), np.float64, len(runs[0]))
            t = np.repeat(run_epoch, runs[1])
        if plan.frac_group is None and plan.window_s >= 1.0 and plan.window_s.is_integer():
            w = int(plan.window_s)
            windows: dict[int, int] = {}
            for text, (_, count) in stamps.items():
                key = int(epoch[text]) // w
                windows[key] = windows.get(key, 0) + count
            out.windows = windows
    else:
        t = np.fromiter(map(int, t_col), dtype=np.float64, count=n) * _EPOCH_SCALE[plan.time_form]
        hour_idx = (np.floor(t / 3600.0) % 24).astype(np.int64)
        for h, c in enumerate(np.bincount(hour_idx, minlength=24)):
            hours[h] += int(c)
    if plan.frac_group is not None:
        t = t + np.fromiter(map(int, columns[plan.frac_group]), np.float64, n) * plan.frac_scale_s

    known: np.ndarray | None = None
    if plan.duration_group is not None:
        dur, known = _ints(columns[plan.duration_group])
        dur *= plan.duration_unit_s
        out.service.add_array(dur if known is None else dur[known])
        if known is not None:
            out.duration_missing = int(n - np.count_nonzero(known))
    else:
        dur = np.zeros(n, dtype=np.float64)
    if plan.php is not None:
        _split_php(plan, plan.php, columns, dur=dur, known=known, out=out)
    if plan.time_at_end:
        start, end = t - dur, t
    else:
        start, end = t, t + dur
    out.t_min_s = float(start.min())
    latest = int(start.argmax())
    out.t_max_s = float(start[latest])
    out.t_max_line = _row_line(row_lines, latest)
    if plan.duration_group is not None and n:
        out.duration_max_line = _row_line(row_lines, int(dur.argmax()))
    if not out.windows:
        window = np.floor(start / plan.window_s).astype(np.int64)
        idx, counts = np.unique(window, return_counts=True)
        out.windows = dict(zip(idx.tolist(), counts.tolist(), strict=True))

    if plan.status_group is not None:
        out.status = Counter(columns[plan.status_group])
    ka_col = columns[plan.keepalive_group] if plan.keepalive_group is not None else None
    if ka_col is not None:
        # Counter counts a list in C; the %k values show where MaxKeepAliveRequests cuts
        values = Counter(ka_col)
        out.keepalive_values = values
        out.keepalive_first = values.get(b"0", 0)
        out.keepalive_known = n - values.get(b"-", 0)
    x_col = columns[plan.connection_group] if plan.connection_group is not None else None
    if x_col is not None:
        # tuple.count runs in C; a Counter would hash every line
        out.connection_status = Counter({x: x_col.count(x) for x in (b"+", b"-", b"X")})
    if plan.protocol_group is not None:
        out.http2_lines, out.protocol_known = _count_protocols(
            columns[plan.protocol_group], in_request_line=plan.protocol_in_request_line
        )
    if plan.client_group is not None:
        _scan_clients(plan, columns, start, end, out)


def _split_php(
    plan: ScanPlan,
    split: PhpSplit,
    columns: list[list[bytes]],
    *,
    dur: FloatArray,
    known: np.ndarray | None,
    out: BlockStats,
) -> None:
    """Count the PHP rows and keep their durations in a histogram of their own."""
    handler = columns[plan.php_handler_group] if plan.php_handler_group is not None else None
    url = columns[plan.php_url_group] if plan.php_url_group is not None else None
    is_php = php_rows(split, url, handler)
    out.php_lines = int(np.count_nonzero(is_php))
    out.php_service = LogHistogram()
    if plan.duration_group is not None and out.php_lines:
        out.php_service.add_array(dur[is_php if known is None else is_php & known])
    if split.original_handler and handler is not None:
        out.php_redirects = handler.count(REDIRECT_HANDLER)


def _count_protocols(column: Sequence[bytes], *, in_request_line: bool) -> tuple[int, int]:
    """(requests over HTTP/2, requests whose protocol is known) in a %H or %r column.

    httpd logs HTTP/2 requests as `HTTP/2.0` (mod_http2 sets `r->protocol`); a request line
    (%r) ends with the protocol. Joined once, counted in C: no Python loop per line.
    """
    if not in_request_line:
        h2 = column.count(b"HTTP/2.0")
        return h2, h2 + column.count(b"HTTP/1.1") + column.count(b"HTTP/1.0")
    joined = b"\n".join(column) + b"\n"
    h2 = joined.count(b" HTTP/2.0\n")
    known = h2 + joined.count(b" HTTP/1.1\n") + joined.count(b" HTTP/1.0\n")
    return h2, known


def _scan_clients(
    plan: ScanPlan,
    columns: list[list[bytes]],
    start: FloatArray,
    end: FloatArray,
    out: BlockStats,
) -> None:
    """Per-client gaps inside the block (vectorised), plus each client's first and last request."""
    assert plan.client_group is not None
    n = len(start)
    ka_col = columns[plan.keepalive_group] if plan.keepalive_group is not None else None
    x_col = columns[plan.connection_group] if plan.connection_group is not None else None
    ip_col = columns[plan.client_group]
    ua_col = columns[plan.agent_group] if plan.agent_group is not None else None
    # Python's hash is salted per process, so codes stay inside this block; the heads and tails
    # carry the real key bytes to the merge.
    keyed = zip(ip_col, ua_col, strict=True) if ua_col is not None else ip_col
    code = np.fromiter(map(hash, keyed), dtype=np.int64, count=n)
    # Lines come in completion order, which for one client's sequential requests is start order,
    # so a stable sort by client keeps each client's requests in time order. A stable sort of
    # 64-bit codes costs 5x an unstable one; numbering the distinct codes (in code order) lets a
    # block of up to 65,536 lines sort 16-bit numbers, which NumPy radix-sorts.
    _, client_no = np.unique(code, return_inverse=True)
    order = np.argsort(client_no.astype(np.uint16) if n <= 1 << 16 else client_no, kind="stable")
    cs = code[order]
    same = cs[1:] == cs[:-1]
    gaps = start[order][1:] - end[order][:-1]
    within = same & (gaps <= plan.visit_gap_s) & (gaps >= -plan.reorder_s)
    boundary = same & ~within
    tally = out.visits
    if ka_col is None:
        tally.add_gaps(gaps[within])
    else:
        # was each gap kept alive (the next request's %k is above 0) or did it break the
        # connection although the previous request left it open (%X "+")?
        new_conn = np.fromiter(map(b"0".__eq__, ka_col), dtype=bool, count=n)
        next_new = new_conn[order[1:]][within]
        prev_open = None
        if x_col is not None:
            is_open = np.fromiter(map(b"+".__eq__, x_col), dtype=bool, count=n)
            prev_open = is_open[order[:-1]][within]
        tally.add_gaps(gaps[within], next_new, prev_open)
    tally.visits += int(np.count_nonzero(boundary))
    no_value = b"-"
    ended = order[:-1][boundary].tolist()  # the last request of each visit that ended inside
    tally.add_finals(
        _pick(ka_col, ended) if ka_col is not None else [no_value] * len(ended),
        _pick(x_col, ended) if x_col is not None else [no_value] * len(ended),
        plan.keepalive_cap,
    )
    first = np.ones(n, dtype=bool)
    first[1:] = ~same
    last = np.ones(n, dtype=bool)
    last[:-1] = ~same
    head_rows = order[first]
    tail_rows = order[last]  # group g's head is head_rows[g], its tail tail_rows[g]
    keys = _keys(ip_col, ua_col, head_rows)
    out.heads = ClientHeads(
        keys,
        start[head_rows].tolist(),
        _pick(ka_col, head_rows.tolist()) if ka_col is not None else [],
    )
    # the client table expires its oldest entries first: hand it the tails in time order
    by_end = np.argsort(end[tail_rows], kind="stable")
    tail_rows = tail_rows[by_end]
    tail_list = tail_rows.tolist()
    out.tails = ClientTails(
        _pick(keys, by_end.tolist()),
        end[tail_rows].tolist(),
        _pick(ka_col, tail_list) if ka_col is not None else [no_value] * len(tail_list),
        _pick(x_col, tail_list) if x_col is not None else [b""] * len(tail_list),
    )


def _row_line(row_lines: list[int] | None, row: int) -> int:
    """The block's 1-based line number of a row of parsed lines."""
    return row + 1 if row_lines is None else row_lines[row]


def _pick(column: Sequence[T], rows: list[int]) -> list[T]:
    if len(rows) == 1:
        return [column[rows[0]]]
    return list(itemgetter(*rows)(column)) if rows else []


def _keys(ip_col: list[bytes], ua_col: list[bytes] | None, rows: np.ndarray) -> list[ClientKey]:
    """The client keys of some rows: (address, user agent) pairs, or addresses alone."""
    picked = rows.tolist()
    ips = _pick(ip_col, picked)
    if ua_col is None:
        return [(ip, b"") for ip in ips]
    return list(zip(ips, _pick(ua_col, picked), strict=True))
