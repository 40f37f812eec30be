"""The sizing search: what it recommends is what the models say at those exact settings.

Over every shipped profile and a seeded random set: a feasible option meets every target when the
models evaluate its settings afresh, and one process fewer misses a target (it is the smallest);
an infeasible option fits in memory, misses a target, and one process more does not fit.
"""

from __future__ import annotations

import dataclasses

import pytest

from capplan.advice import at_headroom, build_report
from capplan.models import Target, evaluate, evaluate_targets
from capplan.mpm_names import Mpm
from capplan.mpm_settings import (
    MPM_NAMES,
    CommonSettings,
    EventSettings,
    MpmSettings,
    PreforkSettings,
)
from capplan.profile import TrafficProfile
from capplan.recommend import (
    MpmOption,
    coherent_common,
    coherent_settings,
    size_mpm,
    sustainable_rate_per_s,
)
from capplan.render.words import report_reasons
from capplan.snippet import mpm_of
from tests.recommend.profiles import random_profiles, shipped_profiles

CASES = shipped_profiles() + random_profiles(seed=20261126, count=14)


def _targets(settings: MpmSettings, profile: TrafficProfile) -> dict[Target, bool]:
    return {t.target: t.met for t in evaluate_targets(evaluate(settings, profile), profile)}


def _resized(settings: MpmSettings, processes: int) -> MpmSettings:
    """The same shape with another process count, built the way the search builds it."""
    threads = 1 if isinstance(settings, PreforkSettings) else settings.threads_per_child
    factor = settings.worker_factor if isinstance(settings, EventSettings) else 2
    return coherent_settings(
        mpm_of(settings),
        processes=processes,
        threads_per_child=threads,
        busy_workers_mean=0.0,
        common=settings.common,
        async_request_worker_factor=factor,
    )


def _option(mpm: Mpm, profile: TrafficProfile) -> MpmOption:
    return size_mpm(mpm, profile, current=None, common=coherent_common(CommonSettings()))


@pytest.mark.parametrize(("name", "profile"), CASES, ids=[name for name, _ in CASES])
def test_recommendation_never_claims_a_target_the_model_misses(
    name: str, profile: TrafficProfile
) -> None:
    for mpm in MPM_NAMES:
        option = _option(mpm, profile)
        if option.best is not None:
            settings = option.best.settings
            assert all(_targets(settings, profile).values()), (name, mpm, settings)
            if settings.processes > 1:
                fewer = _resized(settings, settings.processes - 1)
                assert not all(
                    met for target, met in _targets(fewer, profile).items() if not target.is_memory
                ), f"{name} {mpm}: {settings.processes - 1} processes would do"
        else:
            assert option.limit is not None or option.max_rate_per_s is None
            if option.limit is None:
                continue
            limit = option.limit.settings
            results = _targets(limit, profile)
            assert not all(results.values()), (name, mpm)
            assert results.get(Target.max_memory_fraction, True), (name, mpm)
            more = _targets(_resized(limit, limit.processes + 1), profile)
            assert not more.get(Target.max_memory_fraction, True), (name, mpm)
            assert option.max_rate_per_s is not None
            assert option.max_rate_per_s < profile.traffic.requests_per_second


@pytest.mark.parametrize(("name", "profile"), CASES, ids=[name for name, _ in CASES])
def test_report_recommendation_matches_its_own_evaluation(
    name: str, profile: TrafficProfile
) -> None:
    report = build_report(profile, None)
    rec = report.recommendation
    assert rec is not None
    # Without a config there is nothing to keep: a setting is always proposed, feasible or not.
    assert rec.action in ("change", "none")
    assert rec.mpm is not None
    assessment = rec.assessment
    assert assessment is not None
    assert rec.settings == assessment.settings
    # A fresh evaluation of the written settings at the sized rate (the profile's plus the
    # headroom) says the same as the recommendation.
    sized = at_headroom(profile, report.headroom)
    results = _targets(assessment.settings, sized)
    assert rec.meets_targets == all(results.values()), (name, results)
    if not rec.meets_targets:
        assert any("does NOT meet" in reason for reason in report_reasons(report))


@pytest.mark.parametrize(
    ("rate_factor", "passes"),
    [pytest.param(0.5, True, id="half-rate-passes"), pytest.param(1.5, False, id="beyond-fails")],
)
def test_sustainable_rate_separates_passing_and_failing_rates(
    rate_factor: float, passes: bool
) -> None:
    _, profile = shipped_profiles()[0]
    option = _option(Mpm.worker, profile)
    assessment = option.best or option.limit
    assert assessment is not None
    rate = sustainable_rate_per_s(assessment, profile)
    assert 0 < rate < float("inf")
    traffic = dataclasses.replace(profile.traffic, requests_per_second=rate * rate_factor)
    moved = dataclasses.replace(profile, traffic=traffic)
    queue = {k: v for k, v in _targets(assessment.settings, moved).items() if not k.is_memory}
    assert all(queue.values()) is passes


def test_event_search_starts_where_the_connection_slots_hold_the_open_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """seasonal-peak's event answer is bound by its connection slots (3,800 open connections,
    126 busy workers): square-root staffing starts the search at 6 processes of 25, and a gallop
    from there tried 14 counts; the start moved up to the slots the first count's open
    connections need tries 9. The answer is the same: the smallest count that passes."""
    from capplan import recommend

    profile = dict(shipped_profiles())["seasonal-peak"]
    sized = at_headroom(profile, 0.25)
    common = coherent_common(CommonSettings())
    shape = recommend._Shape(Mpm.event, 25, common, 2)
    load = recommend._offered_load(Mpm.event, common, sized)
    tried: list[int] = []
    real_assess = recommend.assess

    def counting(settings: MpmSettings, *args: object, **kwargs: object) -> object:
        tried.append(settings.processes)
        return real_assess(settings, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(recommend, "assess", counting)
    best = recommend._size_shape(shape, sized, load).best
    assert best is not None
    processes = best.settings.processes
    assert not recommend._assessor(shape, sized)(processes - 1).queue_ok
    assert len(set(tried)) <= 10, tried
    assert min(tried) < processes / 4  # the square-root start, far below the answer


def test_event_start_carries_connection_slots_across_worker_factors() -> None:
    """A slot-bound event answer at F = 2 (3 connections per worker) starts the search at F = 3
    with the same slots over 4 connections per worker; a worker-bound one (keep-alive off: every
    open connection holds a worker) with its own workers."""
    from capplan import recommend

    profile = at_headroom(dict(shipped_profiles())["seasonal-peak"], 0.25)
    for keep_alive, slot_bound in ((True, True), (False, False)):
        common = dataclasses.replace(coherent_common(CommonSettings()), keep_alive=keep_alive)
        load = recommend._offered_load(Mpm.event, common, profile)
        answer = recommend._assessor(recommend._Shape(Mpm.event, 25, common, 2), profile)(60)
        metrics = answer.metrics
        slot_use = metrics.open_connections_mean / metrics.max_connections
        assert (slot_use > metrics.utilization) is slot_bound
        wider = recommend._Shape(Mpm.event, 25, common, 3)
        start = recommend._starting_workers(wider, load, answer)
        expected = 3 * metrics.workers / 4 if slot_bound else metrics.workers
        assert start == pytest.approx(expected)
