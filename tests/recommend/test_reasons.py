"""Levers and reasons in plain words, on the worked example of docs/models.md (200 req/s, 10
requests per visit, 5 s think time, KeepAliveTimeout 5 s): prefork needs 743 processes at 5 s,
228 at 1 s, and far fewer with KeepAlive Off."""

from __future__ import annotations

from dataclasses import replace

from capplan.mpm_names import Mpm
from capplan.mpm_settings import CommonSettings
from capplan.profile import load_profile, profile_from_text
from capplan.recommend import (
    Change,
    MpmOption,
    coherent_common,
    least_memory_option,
    size_mpm,
)
from capplan.render.words import (
    lever_reason,
    limit_reason,
    max_requests_reason,
)
from tests.recommend.profiles import PROFILES_DIR

WORKED_EXAMPLE = profile_from_text(
    """version: 1
name: worked-example
traffic:
  requests_per_second: 200
  service_time: 50ms
visits:
  requests_per_visit: 10
  think_time: 5s
  idle_hold_probability: 1.0
memory:
  ram: 64GiB
targets:
  max_wait_probability: 0.01
  max_wait: null
  max_block_probability: null
  max_connection_limit_probability: null
  max_memory_fraction: null
""",
    "worked-example.yaml",
)


def _options(profile: object = WORKED_EXAMPLE, min_saving: float = 0.1) -> tuple[MpmOption, ...]:
    common = coherent_common(CommonSettings())
    return tuple(
        size_mpm(mpm, WORKED_EXAMPLE, current=None, common=common, min_saving=min_saving)
        for mpm in (Mpm.prefork, Mpm.worker, Mpm.event)
    )


def test_worked_example_sizes_match_the_reference() -> None:
    # With every lever allowed (min_saving 1: no change is material) the sizes per timeout are
    # the reference ones: 743 processes at 5 s (the baseline), and 228 at 1 s.
    common = coherent_common(CommonSettings())
    at_5s = size_mpm(Mpm.prefork, WORKED_EXAMPLE, current=None, common=common, min_saving=1.0)
    assert at_5s.best is not None
    assert at_5s.changes == ()
    assert at_5s.best.settings.workers == 743
    at_1s = size_mpm(
        Mpm.prefork,
        WORKED_EXAMPLE,
        current=None,
        common=coherent_common(CommonSettings(keep_alive_timeout_s=1.0)),
        min_saving=1.0,
    )
    assert at_1s.best is not None
    assert at_1s.best.settings.workers == 228


def test_keepalive_off_is_the_prefork_lever_when_it_saves_most() -> None:
    prefork, _worker, event = _options()
    assert prefork.best is not None
    assert prefork.baseline is not None
    assert prefork.changes == (Change("KeepAlive", "On", "Off"),)
    assert prefork.baseline.settings.workers == 743
    # One request per connection: the load is 200 × 50 ms = 10 Erlangs.
    assert prefork.best.settings.workers < 30
    assert not prefork.best.settings.common.keep_alive
    text = lever_reason(prefork)
    assert text is not None
    assert text.startswith(
        "KeepAlive Off frees 99 % of worker time for prefork "
        f"({prefork.best.settings.workers} processes instead of 743 processes)"
    )
    assert "a new TCP (and TLS) handshake per request, about " in text
    # event parks idle connections: no keep-alive lever is pulled.
    assert event.best is not None
    assert all(c.directive not in ("KeepAlive", "KeepAliveTimeout") for c in event.changes)


def test_a_smaller_change_wins_when_the_saving_is_not_material() -> None:
    # With 64 GiB and a 90 % threshold no lever saves enough: the current keep-alive stays.
    prefork = _options(min_saving=0.9)[0]
    assert prefork.best is not None
    assert prefork.changes == ()
    assert prefork.best.settings.workers == 743
    assert lever_reason(prefork) is None


def test_least_memory_option_prefers_the_running_mpm_on_a_tie() -> None:
    options = _options()
    chosen = least_memory_option(options, None)
    assert chosen is not None
    assert least_memory_option(options, chosen.mpm) is chosen


def test_limit_reason_states_the_sustainable_rate() -> None:
    tight = profile_from_text(
        "version: 1\nname: tight\ntraffic:\n  requests_per_second: 200\n  service_time: 50ms\n"
        "visits:\n  requests_per_visit: 10\n  think_time: 5s\n"
        "memory:\n  ram: 512MiB\n  prefork_process: 60MiB\n",
        "tight.yaml",
    )
    option = size_mpm(Mpm.prefork, tight, current=None, common=coherent_common(CommonSettings()))
    assert option.best is None
    assert option.limit is not None
    assert option.max_rate_per_s is not None
    assert option.max_rate_per_s < 200
    text = limit_reason(option, tight, "200 req/s")
    assert text.startswith(
        f"prefork cannot meet every target within memory: at most "
        f"{option.limit.settings.workers} processes fit, which sustain "
    )
    assert "(asked: 200 req/s)" in text
    assert text.endswith(
        "KeepAliveTimeout 3, KeepAliveTimeout 2, KeepAliveTimeout 1, KeepAlive Off does not "
        "make it fit either"
    )


def test_no_memory_limit_names_the_real_cap() -> None:
    option = MpmOption(Mpm.prefork, best=None, limit=None, max_rate_per_s=None)
    unbounded = replace(WORKED_EXAMPLE, memory=replace(WORKED_EXAMPLE.memory, ram_bytes=None))
    text = limit_reason(option, unbounded, "200 req/s")
    assert "within" not in text
    assert text == (
        "prefork cannot meet the targets at 200 req/s even at httpd's largest ServerLimit"
    )


def test_long_visits_raise_max_keepalive_requests() -> None:
    # json-api-lb: pooled balancer connections send 500 requests; httpd closes after 101.
    profile = load_profile(PROFILES_DIR / "json-api-lb.yaml")
    option = size_mpm(Mpm.event, profile, current=None, common=coherent_common(CommonSettings()))
    assert option.best is not None
    assert Change("MaxKeepAliveRequests", "100", "2500") in option.changes
    assert option.best.settings.common.max_keep_alive_requests == 2500
    text = max_requests_reason(option, profile)
    assert text is not None
    assert text.startswith(
        "MaxKeepAliveRequests 100 → 2500: visits send 500 requests on "
        "average, and httpd closes a connection after 101"
    )


def test_short_visits_keep_the_cap() -> None:
    option = size_mpm(
        Mpm.event, WORKED_EXAMPLE, current=None, common=coherent_common(CommonSettings())
    )
    assert all(c.directive != "MaxKeepAliveRequests" for c in option.changes)
    assert max_requests_reason(option, WORKED_EXAMPLE) is None
