"""The report's pure decisions: verdicts, winners, target wording, flag overrides, MPM choice."""

from __future__ import annotations

import math

import pytest

from capplan.advice import (
    TargetOverrides,
    Verdict,
    Violation,
    build_fixes,
    mpm_block_location,
    mpms_to_consider,
    verdict_of,
    with_overrides,
)
from capplan.compare import stable_winners, winners_of
from capplan.errors import CapplanError
from capplan.location import Location
from capplan.models import Target, TargetResult
from capplan.mpm_names import Mpm, MpmChoice
from capplan.mpm_settings import EffectiveConfig, PreforkSettings
from capplan.profile import profile_from_text
from capplan.recommend import coherent_common, size_mpm
from capplan.render.words import describe_target

PROFILE_BUSY = profile_from_text(
    "version: 1\nname: busy\ntraffic:\n  requests_per_second: 400\n  service_time: 500ms\n"
    "visits:\n  requests_per_visit: 1\n",
    "busy.yaml",
)
PROFILE = profile_from_text(
    "version: 1\nname: t\ntraffic:\n  requests_per_second: 10\n  service_time: 50ms\n"
    "memory:\n  ram: 2GiB\n",
    "t.yaml",
)


def _result(name: Target, limit: float, value: float) -> TargetResult:
    return TargetResult(name, limit, value, value <= limit)


@pytest.mark.parametrize(
    ("results", "verdict"),
    [
        pytest.param((), Verdict(True, ()), id="no-targets"),
        pytest.param(
            (_result(Target.max_wait_probability, 0.01, 0.001),), Verdict(True, ()), id="all-met"
        ),
        pytest.param(
            (
                _result(Target.max_wait_probability, 0.01, 0.3),
                _result(Target.max_block_probability, 0.001, 0),
                _result(Target.max_memory_fraction, 0.9, 1.4),
            ),
            Verdict(
                False,
                (
                    Violation("max_wait_probability", 0.01, 0.3),
                    Violation("max_memory_fraction", 0.9, 1.4),
                ),
            ),
            id="two-missed-in-order",
        ),
        pytest.param(
            (_result(Target.max_wait_probability, 0.01, 0.01),),
            Verdict(True, ()),
            id="limit-is-met",
        ),
    ],
)
def test_verdict_lists_missed_targets_in_order(
    results: tuple[TargetResult, ...], verdict: Verdict
) -> None:
    assert verdict_of(results) == verdict


@pytest.mark.parametrize(
    ("values", "better", "winners"),
    [
        pytest.param((0.1, 0.01, 0.5), "lower", (1,), id="lowest"),
        pytest.param((3.0, 7.0, 7.0), "higher", (1, 2), id="tie-highest"),
        pytest.param((1.0, 1.0), "lower", (), id="all-equal"),
        pytest.param((1.0, None, 0.5), "lower", (2,), id="missing-value"),
        pytest.param((1.0, 2.0), None, (), id="no-direction"),
        pytest.param((math.inf, 2.0), "lower", (1,), id="infinite-wait-loses"),
        pytest.param((True, False), "higher", (0,), id="stable-wins"),
    ],
)
def test_winners_of_a_row(
    values: tuple[float | bool | None, ...], better: str | None, winners: tuple[int, ...]
) -> None:
    assert winners_of(values, better) == winners  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "stable", "winners"),
    [
        pytest.param("connections_per_s", (True, False, True), (2,), id="carried-row-masked"),
        pytest.param("memory_bytes", (True, False, True), (2,), id="memory-masked"),
        pytest.param("p_wait", (True, False, True), (1,), id="waits-compared-as-they-are"),
        pytest.param("connections_per_s", (False, False, False), (1,), id="none-stable"),
        pytest.param("connections_per_s", (True, True, True), (1,), id="all-stable"),
    ],
)
def test_an_overloaded_column_wins_no_carried_row(
    name: str, stable: tuple[bool, ...], winners: tuple[int, ...]
) -> None:
    # An overloaded event server reports the connections and memory of the load it carries:
    # fewer there is not better, so among stable and unstable columns only the stable ones win.
    assert stable_winners(name, (30.0, 10.0, 20.0), "lower", stable) == winners


@pytest.mark.parametrize(
    ("target", "text"),
    [
        pytest.param(
            _result(Target.max_wait_probability, 0.01, 0.31),
            "P(a new connection waits) 0.31 > 0.01",
            id="probability-missed",
        ),
        pytest.param(
            _result(Target.max_block_probability, 0.001, 2.5e-7),
            "P(accept queue full) 2.5e-7 ≤ 0.001",
            id="tiny-met",
        ),
        pytest.param(
            _result(Target.max_wait, 0.01, 0.02),
            "P(a new connection waits longer than 200 ms) 0.02 > 0.01",
            id="wait-time-from-profile",
        ),
        pytest.param(
            _result(Target.max_memory_fraction, 0.9, 1.25),
            "worst-case memory 2.5 GiB > 1.8 GiB",
            id="memory-in-bytes",
        ),
    ],
)
def test_describe_target_in_plain_words(target: TargetResult, text: str) -> None:
    assert describe_target(target, PROFILE) == text


def test_describe_target_without_a_profile() -> None:
    assert describe_target(_result(Target.max_wait, 0.01, 0.02)) == (
        "P(a new connection waits longer than the target time) 0.02 > 0.01"
    )
    assert describe_target(_result(Target.max_memory_fraction, 0.9, 0.5)) == (
        "worst-case memory 50 % of RAM ≤ 90 % of RAM"
    )


def test_event_wait_target_has_its_own_label() -> None:
    # event's value is max(P(wait), 2 B_p): not the metrics table's P(wait), so not its label.
    text = describe_target(_result(Target.max_wait_probability, 0.01, 0.3), PROFILE, event=True)
    assert text == "P(a new connection waits, or 2 × P(a process has no idle worker)) 0.3 > 0.01"


def test_flags_override_the_profile_targets() -> None:
    profile = with_overrides(
        PROFILE,
        TargetOverrides(max_wait_probability=0.2, max_memory_bytes=6 << 30),
    )
    assert profile.targets.max_wait_probability == 0.2
    assert profile.targets.max_block_probability == PROFILE.targets.max_block_probability
    assert (profile.memory.ram_bytes, profile.targets.max_memory_fraction) == (6 << 30, 1.0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            TargetOverrides(max_block_probability=1.5),
            "--max-block-probability 1.5",
            id="probability-above-one",
        ),
        pytest.param(TargetOverrides(max_memory_bytes=0), "--max-memory", id="zero-memory"),
    ],
)
def test_bad_overrides_are_input_errors(overrides: TargetOverrides, message: str) -> None:
    with pytest.raises(CapplanError, match=message):
        with_overrides(PROFILE, overrides)


def _config(modules: tuple[str, ...] = ()) -> EffectiveConfig:
    return EffectiveConfig("httpd.conf", Mpm.prefork, PreforkSettings(), (), (), modules=modules)


@pytest.mark.parametrize(
    ("choice", "modules", "expected"),
    [
        pytest.param(MpmChoice.all, (), (Mpm.prefork, Mpm.worker, Mpm.event), id="all"),
        pytest.param(MpmChoice.current, (), (Mpm.prefork,), id="current"),
        pytest.param(MpmChoice.event, (), (Mpm.event,), id="one"),
        pytest.param(MpmChoice.all, ("php_module",), (Mpm.prefork,), id="mod-php-prefork-only"),
    ],
)
def test_mpms_to_consider(
    choice: MpmChoice, modules: tuple[str, ...], expected: tuple[Mpm, ...]
) -> None:
    got = mpms_to_consider(choice, _config(modules), modules)
    assert got == expected
    assert all(type(mpm) is Mpm for mpm in got)


def test_current_needs_a_config() -> None:
    with pytest.raises(CapplanError, match="--mpm current needs a config"):
        mpms_to_consider(MpmChoice.current, None)


def test_fixes_name_each_directive_once() -> None:
    # Three missed targets, one fix per directive that differs, never one per target.
    config = EffectiveConfig(
        "httpd.conf",
        Mpm.prefork,
        PreforkSettings(server_limit=150, max_request_workers=150),
        provenance=(("MaxRequestWorkers", Location("mpm.conf", 4)),),
        warnings=(),
    )
    violations = (
        Violation("max_wait_probability", 0.01, 0.5),
        Violation("max_wait", 0.01, 0.4),
        Violation("max_block_probability", 0.001, 0.2),
    )
    option = size_mpm(
        Mpm.prefork,
        PROFILE_BUSY,
        current=config.settings,
        common=coherent_common(config.settings.common),
    )
    assert option.best is not None
    fixes = build_fixes(config, violations, option)
    directives = [fix.directive for fix in fixes]
    assert len(directives) == len(set(directives))
    by_name = {fix.directive: fix for fix in fixes}
    mrw = by_name["MaxRequestWorkers"]
    assert (mrw.old, mrw.new) == ("150", str(option.best.settings.workers))
    assert mrw.location == Location("mpm.conf", 4)
    assert not mrw.is_default
    assert mrw.targets == ("max_wait_probability", "max_wait", "max_block_probability")
    # prefork's ServerLimit follows MaxRequestWorkers: never below it (AH00180).
    assert by_name["ServerLimit"].new == mrw.new
    assert by_name["ServerLimit"].is_default
    assert by_name["ServerLimit"].location == Location("httpd.conf", 1)
    assert build_fixes(config, (), option) == ()


def test_mpm_block_location_is_the_sizing_file_not_the_backlog() -> None:
    config = EffectiveConfig(
        "httpd.conf",
        Mpm.event,
        PreforkSettings(),
        provenance=(
            ("ListenBacklog", Location("a/ports.conf", 5)),
            ("ThreadsPerChild", Location("z/mpm.conf", 12)),
            ("MaxRequestWorkers", Location("z/mpm.conf", 14)),
            ("KeepAliveTimeout", Location("a/apache2.conf", 3)),
        ),
        warnings=(),
    )
    assert mpm_block_location(config) == Location("z/mpm.conf", 12)
    assert mpm_block_location(None) is None
