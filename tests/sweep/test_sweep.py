"""`capplan.sweep`: parsing `--vary`, the points, monotone curves and the first failures, against
`check`'s own largest sustainable rate."""

from __future__ import annotations

import itertools
import math

import pytest

from capplan.errors import CapplanError
from capplan.models import wait_probability_value
from capplan.mpm_names import Mpm
from capplan.mpm_settings import EventSettings, MpmSettings, PreforkSettings, WorkerSettings
from capplan.recommend import assess, sustainable_rate_per_s
from capplan.sweep import (
    MAX_POINTS,
    Axis,
    axis_values,
    build_sweep,
    parameter_named,
    parse_vary,
    sweep_points,
)
from tests.recommend.profiles import shipped_profiles

PROFILES = shipped_profiles()
DEFAULTS: tuple[tuple[Mpm, MpmSettings], ...] = (
    (Mpm.prefork, PreforkSettings()),
    (Mpm.worker, WorkerSettings()),
    (Mpm.event, EventSettings()),
)


def _profile(name: str = "wordpress-prefork"):  # type: ignore[no-untyped-def]
    return dict(PROFILES)[name]


@pytest.mark.parametrize(
    ("spec", "base", "expected"),
    [
        ("rate=100:500:100", 60.0, (100, 200, 300, 400, 500)),
        ("rate=1x:2x:0.5x", 60.0, (60, 90, 120)),
        ("rate=0:20:10", 60.0, (10, 20)),  # a zero rate is no point
        ("rate=10:30", 60.0, tuple(10 + 2 * i for i in range(11))),
        ("MaxRequestWorkers=100:160:25", 150.0, (100, 125, 150)),
        ("maxrequestworkers=1:2:0.4", 150.0, (1, 2)),  # whole workers, each once
        ("KeepAliveTimeout=1s:5s:2s", 5.0, (1, 3, 5)),
        ("think_time=500ms:1.5:500ms", 5.0, (0.5, 1.0, 1.5)),
        ("service_time=80ms:80ms", 0.08, (0.08,)),
    ],
)
def test_parse_vary_values(spec: str, base: float, expected: tuple[float, ...]) -> None:
    axis = parse_vary(spec, _profile(), base)
    assert axis.values == pytest.approx(expected)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("rate", "expected NAME=FROM:TO"),
        ("rate=1", "expected NAME=FROM:TO"),
        ("rate=1:2:3:4", "expected NAME=FROM:TO"),
        ("colour=1:2", "unknown parameter"),
        ("rate=5:1", "TO must not be below FROM"),
        ("rate=1:5:0", "STEP must be larger than 0"),
        ("rate=1:5:-1", "not a non-negative number"),
        ("rate=1x:500", "all or none"),
        ("rate=a:b", "not a non-negative number"),
        ("rate=1:1e9:1", f"more than {MAX_POINTS} points"),
        ("rate=1:inf", "not a non-negative number"),
        ("rate=0:0", "larger than 0"),
        ("KeepAliveTimeout=1h:2h", "unknown unit"),
        ("MaxRequestWorkers=1s:2s", "unknown unit"),
    ],
)
def test_parse_vary_refuses(spec: str, words: str) -> None:
    with pytest.raises(CapplanError, match=words):
        parse_vary(spec, _profile(), 60.0)


def test_parameter_aliases() -> None:
    assert parameter_named("requests_per_second").name == "rate"
    assert parameter_named("KEEPALIVETIMEOUT").name == "KeepAliveTimeout"


def test_axis_values_have_no_accumulated_rounding() -> None:
    values = axis_values(0.1, 1.0, 0.1)
    assert len(values) == 10
    assert values[-1] == 1.0


def test_points_are_bounded_across_axes() -> None:
    rate = Axis(parameter_named("rate"), tuple(float(v) for v in range(1, 101)), "rate=1:100:1")
    workers = Axis(parameter_named("MaxRequestWorkers"), tuple(float(v) for v in range(1, 12)), "")
    with pytest.raises(CapplanError, match="1100 points"):
        sweep_points([rate, workers])
    with pytest.raises(CapplanError, match="once"):
        sweep_points([rate, rate])


@pytest.mark.parametrize(("name", "profile"), PROFILES, ids=[n for n, _ in PROFILES])
def test_wait_never_falls_as_the_rate_grows(name: str, profile) -> None:  # type: ignore[no-untyped-def]
    """Monotone while the model is stable; once unstable it stays so, at or above every stable
    value (event's saturated values wobble by ~1e-5 just below 1 there: rounding of a fixed
    point that has no steady state)."""
    base = profile.traffic.requests_per_second
    axis = parse_vary("rate=0.1x:4x:0.1x", profile, base)
    sweep = build_sweep(profile, DEFAULTS, [axis])
    for index, (mpm, _) in enumerate(DEFAULTS):
        metrics = [row.mpms[index][1].metrics for row in sweep.rows]
        stable = [m for m in metrics if m.stable]
        assert metrics[: len(stable)] == stable, f"{mpm}: stable again at a higher rate"
        for value_of in (wait_probability_value, lambda m: m.p_block):
            values = [value_of(m) for m in stable]
            for earlier, later in itertools.pairwise(values):
                assert later >= earlier - 1e-12, (mpm, values)
            top = max(values, default=0.0)
            assert all(value_of(m) >= min(top, 0.99) for m in metrics[len(stable) :]), mpm


@pytest.mark.parametrize(("name", "profile"), PROFILES, ids=[n for n, _ in PROFILES])
def test_first_failing_rate_is_checks_sustainable_rate(name: str, profile) -> None:  # type: ignore[no-untyped-def]
    for mpm, settings in DEFAULTS:
        sustainable = sustainable_rate_per_s(assess(settings, profile), profile)
        if not 0 < sustainable < math.inf:
            continue
        # A grid that does not contain the sustainable rate itself (offset by 0.37 of a step).
        step = sustainable / 20
        axis = parse_vary(f"rate={0.37 * step}:{3 * sustainable}:{step}", profile, 1.0)
        sweep = build_sweep(profile, ((mpm, settings),), [axis])
        queue_failures = [f.row for f in sweep.failures if not f.target.is_memory]
        assert queue_failures, (mpm, sustainable)
        first = sweep.rows[min(queue_failures)].rate_per_s
        assert first - step <= sustainable <= first, (mpm, first, sustainable, step)
        # Where check says the settings still hold, the sweep marks every queueing target met.
        assert min(queue_failures) > 0
        before = dict(sweep.rows[min(queue_failures) - 1].mpms)[mpm]
        assert all(t.met for t in before.targets if not t.target.is_memory)


def test_workers_sweep_rebuilds_coherent_settings() -> None:
    profile = _profile()
    axis = parse_vary("MaxRequestWorkers=100:400:100", profile, 150.0)
    sweep = build_sweep(profile, DEFAULTS, [axis])
    for row in sweep.rows:
        wanted = row.value_of("MaxRequestWorkers")
        for _, assessment in row.mpms:
            settings = assessment.settings
            assert settings.workers >= wanted
            if isinstance(settings, PreforkSettings):
                assert settings.workers == wanted
            else:
                assert settings.workers % settings.threads_per_child == 0
                assert settings.workers - wanted < settings.threads_per_child
    # More workers: never a higher chance of waiting, never less memory.
    for index in range(3):
        waits = [wait_probability_value(r.mpms[index][1].metrics) for r in sweep.rows]
        memory = [r.mpms[index][1].metrics.memory_bytes for r in sweep.rows]
        assert all(b <= a + 1e-12 for a, b in itertools.pairwise(waits)), waits
        assert memory == sorted(memory)


@pytest.mark.parametrize(
    ("spec", "read"),
    [
        ("KeepAliveTimeout=1:5:2", lambda a: a.settings.common.keep_alive_timeout_s),
        ("think_time=1:5:2", lambda a: a.metrics.profile.visits.think_time_s),
        ("service_time=50ms:150ms:50ms", lambda a: a.metrics.profile.traffic.service_time_s),
        ("rate=10:30:10", lambda a: a.metrics.profile.traffic.requests_per_second),
    ],
)
def test_each_parameter_reaches_the_model(spec: str, read) -> None:  # type: ignore[no-untyped-def]
    profile = _profile()
    axis = parse_vary(spec, profile, 1.0)
    sweep = build_sweep(profile, DEFAULTS, [axis])
    for row, value in zip(sweep.rows, axis.values, strict=True):
        for _, assessment in row.mpms:
            assert read(assessment) == pytest.approx(value)


def test_longer_keepalive_holds_more_idle_connections() -> None:
    profile = _profile()
    axis = parse_vary("KeepAliveTimeout=1:15:2", profile, 5.0)
    sweep = build_sweep(profile, DEFAULTS, [axis])
    idle = [row.mpms[2][1].metrics.idle_keepalive_mean for row in sweep.rows]
    assert idle == sorted(idle)
    assert idle[-1] > idle[0]


def test_workers_beyond_httpds_limits_are_refused() -> None:
    profile = _profile()
    axis = parse_vary("MaxRequestWorkers=1000:300000:100000", profile, 150.0)
    with pytest.raises(CapplanError, match=r"more than httpd's prefork can run \(200000 = "):
        build_sweep(profile, DEFAULTS, [axis])
    # Threaded MPMs run up to ServerLimit 20000 × ThreadsPerChild 25.
    assert build_sweep(profile, DEFAULTS[1:], [axis]).rows


# Past saturation event's wait value is 1: every new connection waits once the slots of a child
# cannot serve its connections (it used to be P(no process accepts), which fell from 1 to 0.84
# for seasonal-peak between 2.7x and 3.3x the profile's rate).
_PAST_SATURATION = [
    pytest.param(name, mpm, id=f"{name}-{mpm}") for name, _ in PROFILES for mpm, _ in DEFAULTS
]


@pytest.mark.parametrize(("name", "mpm"), _PAST_SATURATION)
def test_wait_never_falls_even_past_saturation(name: str, mpm: str) -> None:
    profile = dict(PROFILES)[name]
    chosen = tuple(item for item in DEFAULTS if item[0] == mpm)
    axis = parse_vary("rate=0.1x:4x:0.1x", profile, profile.traffic.requests_per_second)
    sweep = build_sweep(profile, chosen, [axis])
    waits = [wait_probability_value(row.mpms[0][1].metrics) for row in sweep.rows]
    for earlier, later in itertools.pairwise(waits):
        assert later >= earlier - 1e-9, waits
