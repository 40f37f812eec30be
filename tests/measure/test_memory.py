"""The memory derivation: parent + shared + Σ private = PSS, per-thread cost, missing readings."""

from __future__ import annotations

import pytest

from capplan.measure.memory import (
    ProcessReading,
    StackSample,
    derive_memory,
    fit_thread_cost,
    stack_sample,
    thread_cost_from_stacks,
)
from capplan.measure.procfs import Mapping, MemoryRollup, parse_smaps
from tests.measure.fakeproc import DATA

KIB = 1024


def rollup(private: int, pss: int, *, rss: int = 0, swap: int = 0) -> MemoryRollup:
    return MemoryRollup(
        rss_bytes=rss or pss * 3,
        pss_bytes=pss,
        shared_clean_bytes=rss - private if rss else pss * 3 - private,
        shared_dirty_bytes=0,
        private_clean_bytes=private // 4,
        private_dirty_bytes=private - private // 4,
        swap_bytes=swap,
    )


def reading(pid: int, private: int, pss: int, threads: int = 1) -> ProcessReading:
    return ProcessReading(pid, threads, pss * 3, rollup(private, pss))


def test_parent_shared_and_private_add_up_to_pss() -> None:
    parent = reading(1, 200_000, 900_000)
    children = tuple(reading(pid, 600_000 + pid, 1_400_000) for pid in range(2, 7))
    f = derive_memory(parent, children, threaded=False)
    assert f.pss_total_bytes == 900_000 + 5 * 1_400_000
    assert f.parent_bytes == 200_000
    assert f.private is not None
    assert f.private.max_bytes == 600_006
    assert f.private.median_bytes == 600_004
    assert f.shared_bytes == (900_000 - 200_000) + sum(
        1_400_000 - (600_000 + p) for p in range(2, 7)
    )
    assert f.parent_bytes + f.shared_bytes + 5 * f.private.mean_bytes == f.pss_total_bytes
    assert f.thread_cost is None
    assert f.warnings == ()


@pytest.mark.parametrize(
    ("unreadable", "pss_known", "parent_known", "warning"),
    [
        pytest.param({1}, False, False, "the parent's memory is unreadable", id="parent-denied"),
        pytest.param({3}, False, True, "1 of 4 processes", id="one-child-denied"),
        pytest.param({1, 2, 3, 4}, False, False, "4 of 4 processes", id="all-denied"),
    ],
)
def test_unreadable_processes_leave_figures_unknown_not_wrong(
    unreadable: set[int], pss_known: bool, parent_known: bool, warning: str
) -> None:
    def one(pid: int) -> ProcessReading:
        r = reading(pid, 500_000, 1_000_000)
        return ProcessReading(pid, 1, 3_000_000, None) if pid in unreadable else r

    f = derive_memory(one(1), (one(2), one(3), one(4)), threaded=False)
    assert (f.pss_total_bytes is not None) == pss_known
    assert (f.parent_bytes is not None) == parent_known
    assert f.rss_total_bytes == 4 * 3_000_000  # VmRSS from status stays readable
    assert any(warning in w for w in f.warnings), f.warnings


def test_swap_is_reported() -> None:
    parent = ProcessReading(1, 1, 10, rollup(100, 200, swap=4096))
    f = derive_memory(parent, (), threaded=False)
    assert f.swap_bytes == 4096
    assert any("swapped out" in w for w in f.warnings)
    assert any("no child processes" in w for w in f.warnings)


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        pytest.param(
            ((27, 300_000 + 27 * 12_000), (15, 300_000 + 15 * 12_000), (27, 300_000 + 27 * 12_000)),
            (300_000, 12_000),
            id="exact",
        ),
        pytest.param(((27, 600_000), (27, 640_000)), None, id="same-thread-counts"),
        pytest.param(((10, 900_000), (27, 600_000)), None, id="negative-slope"),
    ],
)
def test_fit_thread_cost(
    points: tuple[tuple[int, int], ...], expected: tuple[int, int] | None
) -> None:
    cost = fit_thread_cost(points)
    if expected is None:
        assert cost is None
    else:
        assert cost is not None
        assert (cost.process_base_bytes, cost.per_thread_bytes, cost.method) == (*expected, "fit")


def test_stacks_of_a_real_worker_child() -> None:
    """27 threads: 25 workers, the listener, and the exited start-up thread's cached stack."""
    sample = stack_sample(parse_smaps((DATA / "worker-child.smaps").read_text()), 27)
    assert sample.stacks == 27
    assert 27 * 4 * KIB <= sample.stack_private_bytes <= 27 * 64 * KIB
    assert sample.arena_private_bytes > 0


def _anon(start: int, size: int, perms: str, private: int) -> Mapping:
    return Mapping(start, start + size, perms, "", private, private)


def test_stack_layout_rules() -> None:
    mib = 1 << 20
    base = 64 * mib * 10
    mappings = (
        _anon(base, 132 * KIB, "rw-p", 8 * KIB),  # arena: rw part at a 64 MiB boundary
        _anon(base + 132 * KIB, 64 * mib - 132 * KIB, "---p", 0),
        _anon(base + 64 * mib, 4 * KIB, "---p", 0),  # guard + 8 MiB stack
        _anon(base + 64 * mib + 4 * KIB, 8 * mib, "rw-p", 12 * KIB),
        _anon(base + 80 * mib, 4 * KIB, "---p", 0),  # guard + odd-sized mapping: not a stack
        _anon(base + 80 * mib + 4 * KIB, 1 * mib, "rw-p", 40 * KIB),
        _anon(base + 90 * mib, 4 * KIB, "---p", 0),
        _anon(base + 90 * mib + 4 * KIB, 8 * mib, "rw-p", 16 * KIB),
        Mapping(base + 99 * mib, base + 100 * mib, "rw-p", "[stack]", 100 * KIB, 100 * KIB),
    )
    sample = stack_sample(mappings, 3)
    assert (sample.stacks, sample.stack_private_bytes, sample.arena_private_bytes) == (
        2,
        28 * KIB,
        8 * KIB,
    )


def test_threaded_cost_from_stacks_when_thread_counts_are_equal() -> None:
    parent = reading(1, 150_000, 600_000)
    children = tuple(reading(pid, 640_000, 1_300_000, threads=27) for pid in (2, 3, 4))
    stacks = (StackSample(27, 27, 27 * 8 * KIB, 27 * 3 * KIB),)
    f = derive_memory(parent, children, threaded=True, stacks=stacks)
    assert f.thread_cost is not None
    assert f.thread_cost.method == "stacks"
    assert f.thread_cost.per_thread_bytes == 11 * KIB
    assert f.thread_cost.process_base_bytes == 640_000 - 27 * 11 * KIB
    assert f.threads == 81


def test_no_stacks_means_unknown_per_thread_cost() -> None:
    children = (reading(2, 640_000, 1_300_000, threads=27),)
    f = derive_memory(reading(1, 1, 2), children, threaded=True, stacks=())
    assert f.thread_cost is None
    assert any("per-thread memory unknown" in w for w in f.warnings)
    assert f.private is not None
    assert thread_cost_from_stacks((), f.private, 27.0) is None


def test_labelled_stacks_of_old_kernels() -> None:
    mib = 1 << 20
    mappings = (
        Mapping(0, 8 * mib, "rw-p", "[stack:4242]", 16 * KIB, 16 * KIB),
        Mapping(9 * mib, 17 * mib, "rw-p", "[stack:4243]", 8 * KIB, 8 * KIB),
        Mapping(20 * mib, 21 * mib, "rw-p", "[stack]", 100 * KIB, 100 * KIB),
    )
    assert stack_sample(mappings, 3) == StackSample(3, 2, 24 * KIB, 0)
