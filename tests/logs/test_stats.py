"""Streaming sketches: quantile error bound, window compaction, bounded client table, and
block-parallel scans that equal one sequential pass."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from capplan.logs.logformat import compile_format
from capplan.logs.scan import ScanOptions, ScanResult, scan_logs
from capplan.logs.stats import (
    ClientHeads,
    ClientTable,
    ClientTails,
    LogHistogram,
    VisitTally,
    WindowCounter,
    count_quantile,
)
from tests.logs.generator import LOG_FORMAT, TrafficModel, write_log


@pytest.mark.parametrize(
    ("name", "sample"),
    [
        ("lognormal", lambda rng: rng.lognormal(-3.0, 1.2, 200_000)),
        ("exponential", lambda rng: rng.exponential(2.0, 200_000)),
        ("whole-microseconds", lambda rng: np.rint(rng.lognormal(5.0, 2.0, 50_000)) * 1e-6),
    ],
    ids=["lognormal", "exponential", "microseconds"],
)
@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99, 0.999])
def test_quantile_within_one_percent(name: str, sample: object, q: float) -> None:
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    assert callable(sample)
    values = sample(rng)
    hist = LogHistogram()
    for part in np.array_split(values, 7):  # several merges, as blocks would
        other = LogHistogram()
        other.add_array(part)
        hist.merge(other)
    exact = float(np.sort(values)[math.ceil(q * values.size) - 1])  # nearest rank
    got = hist.quantile(q)
    assert abs(got - exact) <= 0.01 * exact, f"{name} q={q}: got {got}, exact {exact}"
    assert hist.mean == pytest.approx(float(values.mean()), rel=1e-9)
    assert hist.scv == pytest.approx(float(values.var() / values.mean() ** 2), rel=1e-6)


def test_window_counter_counts_empty_windows_and_compacts() -> None:
    w = WindowCounter(window_s=1.0, reorder_s=5.0)
    rng = np.random.default_rng(3)
    counts: Counter[int] = Counter()
    for second in range(10_000):
        if second % 100 == 50:
            continue  # an empty second inside the span
        n = int(rng.poisson(3))
        if n:
            counts[second] = n
    items = sorted(counts.items())
    for start in range(0, len(items), 50):
        w.add(dict(items[start : start + 50]))
        assert len(w.open) <= 4 * w.reorder + 50  # compacted as it goes
    hist = w.finish()
    assert sum(hist.values()) == 10_000
    want = Counter(counts.values())
    want[0] += 10_000 - len(counts)
    assert hist == want
    assert count_quantile(hist, 1.0) == max(counts.values())


def test_client_table_is_bounded() -> None:
    tally = VisitTally()
    table = ClientTable(tally, visit_gap_s=1e9, reorder_s=60.0, cap=None, max_clients=1000)
    for block in range(20):
        keys = [(f"10.0.{block}.{i}".encode(), b"") for i in range(500)]
        table.add_block(
            ClientHeads(keys, [float(block)] * 500),
            ClientTails(keys, [block + 0.5] * 500, [b"0"] * 500, [b"+"] * 500),
            float(block),
        )
        assert len(table.table) <= 1000
    assert tally.evicted == 20 * 500 - 1000
    assert tally.visits == 20 * 500


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scan") / "access.log"
    write_log(str(path), TrafficModel(visit_rate_per_s=5.0, duration_s=600.0), seed=11)
    return path


def _summary(r: ScanResult) -> tuple[object, ...]:
    v = r.visits
    return (
        r.lines,
        r.parsed,
        r.window_counts,
        r.service.count,
        round(r.service.sum, 6),
        r.keepalive_first,
        r.connection_status,
        r.status,
        r.hours,
        v.visits,
        v.gap_n,
        round(v.gap_sum_s, 3),
        v.finals_kept,
        v.finals_closed,
        v.censored,
    )


@pytest.mark.parametrize(
    ("block_bytes", "jobs"),
    [(64 << 10, 1), (64 << 10, 2), (1 << 20, 2)],
    ids=["small-blocks", "small-blocks-2-workers", "1MiB-2-workers"],
)
def test_blocks_and_workers_change_nothing(small_log: Path, block_bytes: int, jobs: int) -> None:
    fmt = compile_format(LOG_FORMAT)
    one = scan_logs((str(small_log),), fmt, ScanOptions(jobs=1))
    split = scan_logs((str(small_log),), fmt, ScanOptions(jobs=jobs, block_bytes=block_bytes))
    assert _summary(split) == _summary(one)
