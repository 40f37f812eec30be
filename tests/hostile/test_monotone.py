"""More workers never raise P(wait) or P(block): prefork and worker, from light load to deep
overload (the event model's own test lives with that model).

Swept over every shipped profile and MaxRequestWorkers from 1 to 2,000 (the regime where the
event model once inverted, seasonal-peak at 125 → 225, included), and fuzzed with hypothesis.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capplan.models import evaluate
from capplan.mpm_settings import CommonSettings, MpmSettings, PreforkSettings, WorkerSettings
from capplan.profile import TrafficProfile, load_profile
from tests.models.test_invariants import commons, profiles

PROFILES = sorted((Path(__file__).parents[2] / "profiles").glob("*.yaml"))
WORKERS = (1, 2, 5, 10, 25, 50, 75, 100, 125, 150, 225, 300, 400, 600, 1000, 2000)


def _prefork(workers: int, common: CommonSettings) -> MpmSettings:
    return PreforkSettings(server_limit=workers, max_request_workers=workers, common=common)


def _worker(workers: int, common: CommonSettings, threads: int = 25) -> MpmSettings:
    processes = -(-workers // threads)
    return WorkerSettings(
        server_limit=processes,
        thread_limit=max(64, threads),
        threads_per_child=threads,
        max_request_workers=processes * threads,
        common=common,
    )


def _never_rises(fewer: float, more: float) -> bool:
    """`more` workers give at most the probability of `fewer` (1e-9 relative rounding)."""
    return more <= fewer * (1 + 1e-9) + 1e-300


def _sweep(build: object, profile: TrafficProfile, common: CommonSettings) -> None:
    assert callable(build)
    previous = None
    for workers in WORKERS:
        m = evaluate(build(workers, common), profile)
        if previous is not None:
            assert _never_rises(previous.p_wait, m.p_wait), (workers, previous.p_wait, m.p_wait)
            assert _never_rises(previous.p_block, m.p_block), (workers, previous.p_block, m.p_block)
        previous = m


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
@pytest.mark.parametrize("build", [_prefork, _worker], ids=["prefork", "worker"])
@pytest.mark.parametrize("keep_alive", [True, False], ids=["keepalive", "no-keepalive"])
def test_shipped_profiles_over_a_range_of_workers(
    path: Path, build: object, keep_alive: bool
) -> None:
    profile = load_profile(path)
    _sweep(build, profile, CommonSettings(keep_alive=keep_alive))


@pytest.mark.parametrize("build", [_prefork, _worker], ids=["prefork", "worker"])
@pytest.mark.parametrize("factor", [1.0, 10.0, 100.0])
def test_seasonal_peak_in_overload(build: object, factor: float) -> None:
    profile = load_profile(Path(__file__).parents[2] / "profiles" / "seasonal-peak.yaml")
    heavier = replace(
        profile,
        traffic=replace(
            profile.traffic, requests_per_second=profile.traffic.requests_per_second * factor
        ),
    )
    _sweep(build, heavier, CommonSettings())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    profiles(),
    commons(),
    st.integers(1, 64),
    st.integers(1, 40),
    st.integers(1, 20),
)
def test_worker_waits_fall_with_processes(
    profile: TrafficProfile, common: CommonSettings, threads: int, processes: int, extra: int
) -> None:
    def at(count: int) -> MpmSettings:
        return WorkerSettings(
            server_limit=count,
            thread_limit=max(64, threads),
            threads_per_child=threads,
            max_request_workers=count * threads,
            common=common,
        )

    fewer, more = evaluate(at(processes), profile), evaluate(at(processes + extra), profile)
    assert _never_rises(fewer.p_wait, more.p_wait)
    assert _never_rises(fewer.p_block, more.p_block)
