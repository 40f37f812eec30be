"""The block scanner's two paths give the same statistics: the whole-block path (one regex
`split` over the block, columns converted with NumPy) and the line-by-line path it falls back to
when a line is bad. Also the column converters against their plain-Python equivalents, and the
client table's bulk bookkeeping against one-by-one counting."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from capplan.logs.logformat import compile_format
from capplan.logs.parse import (
    BlockStats,
    _digit_values,
    _ints,
    _runs,
    make_plan,
    scan_block,
)
from capplan.logs.scan import ScanOptions, scan_logs
from capplan.logs.stats import ClientHeads, ClientTable, ClientTails, VisitTally
from tests.logs.generator import LOG_FORMAT, TrafficModel, log_lines, write_log

MODEL = TrafficModel(visit_rate_per_s=3.0, duration_s=300.0)


def _generated() -> list[str]:
    return list(log_lines(MODEL, seed=11))


def _with_escapes() -> list[str]:
    # escaped quotes and backslashes inside the request and the user agent
    return [
        line.replace('"GET ', '"GET /a\\"b\\\\c', 1) if i % 3 == 0 else line
        for i, line in enumerate(_generated())
    ]


def _with_placeholders() -> list[str]:
    # "-" for %D, %k and %>s on some lines (conditional or unknown values)
    out = []
    for i, line in enumerate(_generated()):
        head, d, k, x = line.rstrip("\n").rsplit(" ", 3)
        if i % 5 == 0:
            d = "-"
        if i % 7 == 0:
            k = "-"
        if i % 11 == 0:
            head = re.sub(r'" \d{3} ', '" - ', head, count=1)
        out.append(f"{head} {d} {k} {x}\n")
    return out


def _negative_duration() -> list[str]:
    out = []
    for i, line in enumerate(_generated()):
        head, d, k, x = line.rstrip("\n").rsplit(" ", 3)
        out.append(f"{head} {'-' + d if i == 4 else d} {k} {x}\n")
    return out


def _summary(s: BlockStats) -> dict[str, object]:
    v = s.visits
    return {
        "parsed": s.parsed,
        "t": (s.t_min_s, s.t_max_s),
        "windows": s.windows,
        "service": (s.service.buckets.tolist(), s.service.count, s.service.sum, s.service.max),
        "duration_missing": s.duration_missing,
        "keepalive": (s.keepalive_first, s.keepalive_known),
        "connection_status": s.connection_status,
        "status": s.status,
        "hours": s.hours,
        "visits": (v.gap_n, v.gap_sum_s, v.visits, v.finals_kept, v.finals_closed),
        "heads": (s.heads.keys, s.heads.start_s),
        "tails": (s.tails.keys, s.tails.end_s, s.tails.keepalives, s.tails.status),
    }


CASES = {
    "generated": _generated,
    "escaped-quotes": _with_escapes,
    "dash-placeholders": _with_placeholders,
    "negative-duration": _negative_duration,
}


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_block_path_equals_line_path(make: Callable[[], list[str]]) -> None:
    lines = make()
    plan = make_plan(compile_format(LOG_FORMAT), window_s=1.0, visit_gap_s=300.0)
    good = "".join(lines).encode()
    whole = scan_block(plan, good)
    assert whole.bad == 0
    assert whole.parsed == len(lines)
    # Bad lines make the scanner go line by line; the good lines must add up the same.
    bad_at = (3, len(lines) // 2)
    mixed = list(lines)
    for at in reversed(bad_at):
        mixed.insert(at, "not a log line\n")
    by_line = scan_block(plan, "".join(mixed).encode())
    assert by_line.bad == 2
    assert [b.line for b in by_line.bad_samples] == [3 + 1, len(lines) // 2 + 2]
    assert _summary(by_line) == _summary(whole)


def test_block_bounds_equal_a_copy() -> None:
    plan = make_plan(compile_format(LOG_FORMAT), window_s=1.0, visit_gap_s=300.0)
    data = "".join(_generated()).encode()
    first_end = data.index(b"\n", len(data) // 3) + 1
    inside = scan_block(plan, data, first_end, len(data))
    copied = scan_block(plan, data[first_end:])
    assert inside.lines == copied.lines
    assert _summary(inside) == _summary(copied)


DIGIT_CASES = {
    "plain": [b"5185", b"0", b"7"],
    "leading-zeros": [b"007", b"0200", b"200"],
    "nine-digits": [b"123456789", b"1"],
    "one-value": [b"42"],
}


@pytest.mark.parametrize("column", DIGIT_CASES.values(), ids=DIGIT_CASES.keys())
def test_digit_values_match_int(column: list[bytes]) -> None:
    values = _digit_values(column)
    assert values is not None
    assert values.tolist() == [int(v) for v in column]
    assert _ints(column)[0].tolist() == [float(int(v)) for v in column]


NOT_DIGITS = {
    "dash": [b"12", b"-"],
    "negative": [b"-5", b"3"],
    "empty": [b"12", b""],
    "space-inside": [b"1 2"],
    "ten-digits": [b"1234567890"],
    "letter": [b"3x"],
    "no-values": [],
}


@pytest.mark.parametrize("column", NOT_DIGITS.values(), ids=NOT_DIGITS.keys())
def test_digit_values_refuse_other_text(column: list[bytes]) -> None:
    assert _digit_values(column) is None


def test_ints_fall_back_to_one_by_one() -> None:
    values, known = _ints([b"12", b"-", b"-3", b"1234567890"])
    assert values.tolist() == [12.0, 0.0, -3.0, 1234567890.0]
    assert known is not None
    assert known.tolist() == [True, False, True, True]


RUN_CASES = {
    "few-runs": ([b"[a1]"] * 20 + [b"[a2]"] * 30 + [b"[a1]"] * 10, [20, 30, 10]),
    "one-run": ([b"x"] * 9, [9]),
    "stamps-differ-at-the-end": (
        [b"[01/May/2024:10:00:00 +0000]"] * 9 + [b"[01/May/2024:10:00:00 +0100]"] * 7,
        [9, 7],
    ),
    "stamps-differ-at-the-start": (
        [b"[01/May/2024:10:00:00 +0000]"] * 9 + [b"[02/May/2024:10:00:00 +0000]"] * 9,
        [9, 9],
    ),
    "nine-bytes": ([b"abcdefgh1"] * 9 + [b"abcdefgh2"] * 9 + [b"bbcdefgh1"] * 9, [9, 9, 9]),
}


@pytest.mark.parametrize(("column", "lengths"), RUN_CASES.values(), ids=RUN_CASES.keys())
def test_runs_rebuild_the_column(column: list[bytes], lengths: list[int]) -> None:
    runs = _runs(column)
    assert runs is not None
    texts, counts = runs
    assert counts.tolist() == lengths
    assert list(np.repeat(np.array(texts, dtype=object), counts)) == column


NO_RUNS = {
    "lengths-differ": [b"ab", b"abc", b"a"] * 10,
    "lengths-differ-same-total": [b"ab", b"abcd", b"abc", b"abc"] * 10,
    "too-many-runs": [b"a", b"b"] * 20,
}


@pytest.mark.parametrize("column", NO_RUNS.values(), ids=NO_RUNS.keys())
def test_runs_refuse_uneven_or_busy_columns(column: list[bytes]) -> None:
    assert _runs(column) is None


FINALS = {
    "no-cap": (None, [b"0", b"3", b"100", b"-"], [b"+", b"-", b"+", b"X"]),
    "cap-skips-capped": (100, [b"0", b"100", b"150", b"99", b"-"], [b"+", b"+", b"-", b"-", b"+"]),
    "cap-none-reached": (100, [b"1", b"2"], [b"-", b"+"]),
}


@pytest.mark.parametrize(("cap", "keepalives", "statuses"), FINALS.values(), ids=FINALS.keys())
def test_bulk_finals_equal_one_by_one(
    cap: int | None, keepalives: list[bytes], statuses: list[bytes]
) -> None:
    bulk, single = VisitTally(), VisitTally()
    bulk.add_finals(keepalives, statuses, cap)
    for k, x in zip(keepalives, statuses, strict=True):
        single.add_final(k, x, cap)
    assert (bulk.finals_kept, bulk.finals_closed) == (single.finals_kept, single.finals_closed)


def test_client_table_evicts_least_recently_seen() -> None:
    tally = VisitTally()
    table = ClientTable(tally, visit_gap_s=1e9, reorder_s=60.0, cap=None, max_clients=3)
    keys = [(f"192.0.2.{i}".encode(), b"") for i in range(5)]
    first, late = keys[:3], keys[3:]
    table.add_block(
        ClientHeads(first, [0.0] * 3),
        ClientTails(first, [1.0, 2.0, 3.0], [b"0"] * 3, [b"+", b"-", b"+"]),
        3.0,
    )
    # client 1 comes back, then two new clients push the two least recently seen out
    again = [keys[1], *late]
    table.add_block(
        ClientHeads(again, [4.0] * 3),
        ClientTails(again, [5.0, 6.0, 7.0], [b"1", b"0", b"0"], [b"+"] * 3),
        7.0,
    )
    assert list(table.table) == again
    assert tally.evicted == 2
    assert (tally.finals_kept, tally.finals_closed) == (2, 0)  # clients 0 and 2 ended "+"


def test_blocks_over_65536_lines_sort_clients_the_same(tmp_path: Path) -> None:
    # one block of more lines than 16-bit client numbers can sort vs blocks of fewer
    path = tmp_path / "access.log"
    n = write_log(str(path), TrafficModel(visit_rate_per_s=50.0, duration_s=150.0), seed=5)
    assert n > 1 << 16
    fmt = compile_format(LOG_FORMAT)
    one = scan_logs((str(path),), fmt, ScanOptions(jobs=1, block_bytes=64 << 20))
    many = scan_logs((str(path),), fmt, ScanOptions(jobs=1, block_bytes=1 << 20))
    for r in (one, many):
        assert r.parsed == n
    v, w = one.visits, many.visits
    assert (v.visits, v.gap_n, v.finals_kept, v.finals_closed, v.censored) == (
        w.visits,
        w.gap_n,
        w.finals_kept,
        w.finals_closed,
        w.censored,
    )
    assert v.gap_sum_s == pytest.approx(w.gap_sum_s, rel=1e-12)
