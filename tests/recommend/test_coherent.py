"""Coherent directive sets: every value is one httpd applies unchanged, at start and at run time."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capplan.mpm_names import Mpm
from capplan.mpm_settings import (
    MPM_NAMES,
    CommonSettings,
    EventSettings,
    MpmSettings,
    PreforkSettings,
    WorkerSettings,
)
from capplan.queueing.search import largest_passing, smallest_passing
from capplan.recommend import (
    coherent_common,
    coherent_settings,
    spare_margin,
)


def httpd_adjustments(settings: MpmSettings) -> list[str]:
    """The adjustments httpd would make to `settings` (httpd-facts.md §2.1-§2.4, one bucket).

    An independent statement of httpd's check_config and run-time rules, written from the facts
    rather than from capplan.effective, so a coherent set is checked against httpd's rules
    themselves.
    """
    found: list[str] = []
    match settings:
        case PreforkSettings():
            if not 1 <= settings.server_limit <= 200_000:
                found.append("ServerLimit out of range (AH00175/AH00177)")
            if settings.max_request_workers > settings.server_limit:
                found.append("MaxRequestWorkers > ServerLimit (AH00180)")
            if settings.max_request_workers < 1:
                found.append("MaxRequestWorkers < 1 (AH00182)")
            if settings.start_servers < 1:
                found.append("StartServers < 1 (AH00184)")
            if settings.min_spare_servers < 1:
                found.append("MinSpareServers < 1 (AH00186)")
            if settings.max_spare_servers < settings.min_spare_servers + 1:
                found.append("MaxSpareServers raised at run time (prefork_run)")
            if settings.start_servers > settings.max_request_workers:
                found.append("StartServers above MaxRequestWorkers (capped at run time)")
        case WorkerSettings() | EventSettings():
            cap = 20_000 if isinstance(settings, WorkerSettings) else 100_000
            tpc = settings.threads_per_child
            if not 1 <= settings.server_limit <= 20_000:
                found.append("ServerLimit out of range")
            if not 1 <= settings.thread_limit <= cap:
                found.append("ThreadLimit out of range")
            if not 1 <= tpc <= settings.thread_limit:
                found.append("ThreadsPerChild > ThreadLimit (AH00310/AH00507)")
            if settings.max_request_workers < tpc:
                found.append("MaxRequestWorkers < ThreadsPerChild (AH00314/AH00511)")
            if settings.max_request_workers % tpc:
                found.append("MaxRequestWorkers not a multiple (AH00316/AH00513)")
            if settings.max_request_workers // tpc > settings.server_limit:
                found.append("ServerLimit too small (AH00318/AH00515)")
            if settings.start_servers < 1 or settings.min_spare_threads < 1:
                found.append("StartServers/MinSpareThreads < 1")
            if settings.max_spare_threads < settings.min_spare_threads + tpc + 1:
                found.append("MaxSpareThreads raised at run time (worker_run/event_run)")
            if settings.start_servers > settings.max_request_workers // tpc:
                found.append("StartServers above the process limit (capped at run time)")
            if isinstance(settings, EventSettings) and (
                settings.async_request_worker_factor != settings.worker_factor
            ):
                found.append("AsyncRequestWorkerFactor truncated (event.c)")
    common = settings.common
    if common.listen_backlog > common.somaxconn:
        found.append("ListenBacklog truncated to somaxconn")
    return found


def _random_cases(seed: int, count: int) -> list[tuple[Mpm, int, int, float, int]]:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        mpm = rng.choice(MPM_NAMES)
        processes = rng.choice([1, 2, 3, rng.randint(1, 40), rng.randint(1, 2000)])
        tpc = rng.choice([1, 2, 25, 32, 50, 64, rng.randint(1, 200)])
        busy = rng.choice([0.0, 0.3, rng.uniform(0, 50), rng.uniform(0, 5000)])
        factor = rng.choice([1, 2, 3, 5])
        cases.append((mpm, processes, tpc, busy, factor))
    return cases


@pytest.mark.parametrize(
    ("mpm", "processes", "tpc", "busy", "factor"),
    [
        pytest.param("prefork", 743, 1, 678.9, 2, id="prefork-743-keepalive-heavy"),
        pytest.param("prefork", 1, 1, 0.0, 2, id="prefork-single"),
        pytest.param("worker", 6, 25, 30.0, 2, id="worker-debian-like"),
        pytest.param("event", 1, 1, 0.0, 1, id="event-one-thread"),
        pytest.param("event", 16, 64, 900.0, 3, id="event-busy"),
        *[
            pytest.param(*case, id=f"seeded-{i}")
            for i, case in enumerate(_random_cases(seed=20261126, count=60))
        ],
    ],
)
def test_coherent_settings_need_no_httpd_adjustment(
    mpm: Mpm, processes: int, tpc: int, busy: float, factor: int
) -> None:
    settings = coherent_settings(
        mpm,
        processes=processes,
        threads_per_child=tpc,
        busy_workers_mean=busy,
        common=coherent_common(CommonSettings(listen_backlog=8192, somaxconn=4096)),
        async_request_worker_factor=factor,
    )
    assert httpd_adjustments(settings) == []
    assert settings.processes == processes
    assert settings.workers == (processes if mpm == "prefork" else processes * tpc)


@pytest.mark.parametrize(
    ("busy", "margin"),
    [
        pytest.param(0.0, 1, id="idle"),
        pytest.param(1.0, 2, id="one-busy"),
        pytest.param(100.0, 20, id="hundred-busy"),
        pytest.param(-3.0, 1, id="negative-clamped"),
    ],
)
def test_spare_margin_is_two_poisson_deviations(busy: float, margin: int) -> None:
    assert spare_margin(busy) == margin


def test_coherent_common_clamps_backlog_and_child_limit() -> None:
    common = coherent_common(
        CommonSettings(listen_backlog=10_000, somaxconn=4096, max_connections_per_child=-1)
    )
    assert (common.listen_backlog, common.max_connections_per_child) == (4096, 0)


@pytest.mark.parametrize(
    ("threshold", "low", "high", "expected"),
    [
        pytest.param(1, 1, 100, 1, id="at-low"),
        pytest.param(37, 1, 100, 37, id="inside"),
        pytest.param(100, 1, 100, 100, id="at-high"),
        pytest.param(101, 1, 100, None, id="beyond"),
        pytest.param(5, 7, 3, None, id="empty-range"),
    ],
)
def test_smallest_passing_finds_the_threshold(
    threshold: int, low: int, high: int, expected: int | None
) -> None:
    calls: list[int] = []

    def ok(n: int) -> bool:
        calls.append(n)
        return n >= threshold

    assert smallest_passing(ok, low, high) == expected
    assert len(calls) <= 2 * max(1, high - low).bit_length() + 2


@pytest.mark.parametrize("guess", [1, 500, 99_000])
def test_smallest_passing_gives_up_early_when_nothing_passes(guess: int) -> None:
    # An overload no size carries: the top is tried after two failing steps up, not at the end
    # of a gallop from the guess (which would take ~2 log2(high) evaluations).
    calls: list[int] = []

    def never(n: int) -> bool:
        calls.append(n)
        return False

    assert smallest_passing(never, 1, 100_000, guess) is None
    assert len(calls) <= 4
    assert calls[-1] == 100_000


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        pytest.param(0, None, id="none-fit"),
        pytest.param(1, 1, id="only-low"),
        pytest.param(64, 64, id="inside"),
        pytest.param(500, 100, id="all-fit"),
    ],
)
def test_largest_passing_finds_the_threshold(threshold: int, expected: int | None) -> None:
    assert largest_passing(lambda n: n <= threshold, 1, 100) == expected


@pytest.mark.parametrize("guess", [None, 1, 30, 36, 37, 38, 90, 100, 500])
def test_smallest_passing_from_any_guess(guess: int | None) -> None:
    calls: list[int] = []

    def ok(n: int) -> bool:
        calls.append(n)
        return n >= 37

    assert smallest_passing(ok, 1, 100, guess) == 37
    assert len(calls) <= 16


@given(
    low=st.integers(1, 50),
    width=st.integers(0, 5000),
    offset=st.integers(0, 5001),
    guess=st.one_of(st.none(), st.integers(-10, 6000)),
)
def test_smallest_passing_is_exact_for_any_monotone_predicate(
    low: int, width: int, offset: int, guess: int | None
) -> None:
    high = low + width
    threshold = low + min(offset, width + 1)  # width + 1: nothing passes
    found = smallest_passing(lambda n: n >= threshold, low, high, guess)
    assert found == (threshold if threshold <= high else None)
