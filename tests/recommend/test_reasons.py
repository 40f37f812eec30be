"""Reasons in plain words, on model.md §3.6's worked example (200 req/s, 10 requests per visit,
5 s think time, KeepAliveTimeout 5 s): prefork needs 743 processes, 228 with a 1 s timeout."""

from __future__ import annotations

from capplan.profile import load_profile, profile_from_text
from capplan.recommend import MpmOption, coherent_common, size_mpm
from capplan.report import (
    choice_reason,
    choose_option,
    keepalive_lever_reason,
    keepalive_share_reason,
    limit_reason,
    max_requests_reason,
)
from capplan.settings import CommonSettings
from tests.recommend.profiles import PROFILES_DIR

WORKED_EXAMPLE = profile_from_text(
    """version: 1
name: model-3-6
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
    "model-3-6.yaml",
)


def _options() -> tuple[MpmOption, ...]:
    common = coherent_common(CommonSettings())
    return tuple(
        size_mpm(mpm, WORKED_EXAMPLE, current=None, common=common)
        for mpm in ("prefork", "worker", "event")
    )


def test_worked_example_sizes_match_the_reference() -> None:
    prefork, worker, event = _options()
    assert prefork.keepalive_baseline is not None
    assert prefork.best is not None
    assert prefork.keepalive_baseline.settings.workers == 743  # model.md §3.6, T = 5 s
    assert prefork.best.settings.workers == 228  # model.md §3.6, T = 1 s
    assert prefork.best.settings.common.keep_alive_timeout_s == 1.0
    assert worker.best is not None
    assert worker.best.settings.workers >= 743
    assert event.best is not None
    assert event.best.settings.workers < 743


def test_keepalive_share_reason_names_each_mpm_need() -> None:
    options = _options()
    prefork = options[0]
    assert prefork.keepalive_baseline is not None
    text = keepalive_share_reason(prefork.keepalive_baseline.metrics, options)
    assert text is not None
    assert text.startswith("keep-alive idle time is 99 % of worker occupancy")
    assert "prefork needs 743 processes (228 processes with KeepAliveTimeout 1 s)" in text
    event = options[2]
    assert event.best is not None
    assert f"event needs {event.best.settings.workers} threads" in text


def test_keepalive_lever_reason_compares_the_two_sizes() -> None:
    text = keepalive_lever_reason(_options()[0])
    assert text is not None
    assert text.startswith(
        "lowering KeepAliveTimeout from 5 s to 1 s is the better lever for prefork: "
        "228 processes instead of 743 processes"
    )
    assert "connections/s" in text


def test_choice_reason_picks_the_least_memory() -> None:
    options = _options()
    chosen = choose_option(options, None)
    assert chosen is not None
    assert chosen.mpm == "event"
    text = choice_reason(chosen, options, WORKED_EXAMPLE)
    assert text.startswith("event meets every target with the least memory:")
    assert "(vs prefork" in text
    assert "worker" in text


def test_limit_reason_states_the_sustainable_rate() -> None:
    tight = profile_from_text(
        "version: 1\nname: tight\ntraffic:\n  requests_per_second: 200\n  service_time: 50ms\n"
        "visits:\n  requests_per_visit: 10\n  think_time: 5s\n"
        "memory:\n  ram: 2GiB\n  prefork_process: 60MiB\n",
        "tight.yaml",
    )
    option = size_mpm("prefork", tight, current=None, common=coherent_common(CommonSettings()))
    assert option.best is None
    assert option.limit is not None
    assert option.max_rate_per_s is not None
    assert option.max_rate_per_s < 200
    text = limit_reason(option, tight)
    assert text.startswith(
        f"prefork cannot meet every target within memory: at most "
        f"{option.limit.settings.workers} processes fit, which sustain at most "
    )
    assert "(the profile asks 200 req/s)" in text
    assert text.endswith("a KeepAliveTimeout down to 1 s does not make it fit either")


def test_long_visits_raise_max_keepalive_requests() -> None:
    # json-api-lb: pooled balancer connections send 500 requests; httpd closes after 101.
    profile = load_profile(PROFILES_DIR / "json-api-lb.yaml")
    option = size_mpm("event", profile, current=None, common=coherent_common(CommonSettings()))
    assert option.best is not None
    assert option.max_requests_baseline is not None
    assert option.best.settings.common.max_keep_alive_requests == 2500
    before = option.max_requests_baseline.metrics.connections_per_s
    assert option.best.metrics.connections_per_s < before
    text = max_requests_reason(option, profile)
    assert text is not None
    assert text.startswith("raising MaxKeepAliveRequests from 100 to 2500 cuts event's new "
                           "connections from ")
    assert text.endswith("visits send 500 requests on average, and httpd closes a connection "
                         "after 101")


def test_short_visits_keep_the_cap() -> None:
    option = size_mpm("event", WORKED_EXAMPLE, current=None,
                      common=coherent_common(CommonSettings()))
    assert option.max_requests_alternative is None
    assert max_requests_reason(option, WORKED_EXAMPLE) is None
