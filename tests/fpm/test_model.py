"""capplan.fpm.model: FPM as a station behind httpd, checked against hand-computed queueing
values, the couplings back to httpd, and the proposed pools against the real php-fpm."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from capplan.fpm.model import (
    evaluate_fpm,
    fpm_memory_bytes,
    httpd_connections,
    httpd_view,
    min_max_children,
    php_load_erlangs,
    pool_directives,
    pool_snippet,
    sized_pool,
    typical_children,
)
from capplan.fpm.pool import FpmPool, PmStyle, read_fpm_config
from capplan.location import Location
from capplan.mpm_settings import EventSettings, PreforkSettings, WorkerSettings
from capplan.profile import Memory, Php, Targets, Traffic, TrafficProfile
from capplan.queueing.erlang import erlang_c
from tests.fpm.phpfpm import tt_values

POOL = FpmPool(
    name="www",
    location=Location("www.conf", 1),
    pm="static",
    max_children=2,
    start_servers=0,
    min_spare_servers=0,
    max_spare_servers=0,
    max_requests=0,
    process_idle_timeout_s=10,
    listen="/run/php.sock",
    listen_backlog=-1,
    request_terminate_timeout_s=0,
    status_path=None,
    memory_limit_bytes=None,
)


def _profile(
    rate: float, php: Php, *, service_s: float = 1.0, ram: int | None = None
) -> TrafficProfile:
    return TrafficProfile(
        name="t",
        traffic=Traffic(requests_per_second=rate, service_time_s=service_s),
        memory=Memory(ram_bytes=ram),
        php=php,
    )


@pytest.mark.parametrize(
    ("settings", "proxy_max", "want"),
    [
        (PreforkSettings(max_request_workers=150, server_limit=150), None, 150),
        (PreforkSettings(max_request_workers=150, server_limit=150), 10, 150),
        (EventSettings(), None, 400),
        (EventSettings(), 10, 160),
        (WorkerSettings(), 100, 400),
    ],
    ids=["prefork", "prefork-max-irrelevant", "event", "event-max-10", "worker-max-above-tpc"],
)
def test_httpd_connections(
    settings: PreforkSettings | EventSettings | WorkerSettings, proxy_max: int | None, want: int
) -> None:
    assert httpd_connections(settings, proxy_max) == want


def test_two_children_at_one_erlang_by_hand() -> None:
    """M/M/2 at a = 1: C = 1/3, W = C·S/(c − a) = 1/3 s; SCV 3 doubles the wait (Allen-Cunneen)."""
    php = Php(share=1.0, service_time_s=1.0)
    metrics = evaluate_fpm(POOL, _profile(1.0, php), EventSettings())
    assert metrics.p_wait == pytest.approx(1 / 3, rel=1e-12)
    assert metrics.mean_wait_s == pytest.approx(1 / 3, rel=1e-12)
    assert (metrics.servers, metrics.offered_load_erlangs, metrics.utilization) == (2, 1.0, 0.5)
    scv3 = evaluate_fpm(POOL, _profile(1.0, replace(php, service_time_scv=3.0)), EventSettings())
    assert scv3.mean_wait_s == pytest.approx(2 / 3, rel=1e-12)
    assert scv3.p_wait == metrics.p_wait


def test_share_and_php_time_set_the_load() -> None:
    profile = _profile(100.0, Php(share=0.25, service_time_s=0.2), service_s=0.1)
    assert php_load_erlangs(profile) == pytest.approx(5.0)
    pool = replace(POOL, max_children=8)
    assert evaluate_fpm(pool, profile, EventSettings()).p_wait == pytest.approx(erlang_c(8, 5.0))


def test_overloaded_pool_is_unstable_not_nan() -> None:
    metrics = evaluate_fpm(POOL, _profile(3.0, Php(service_time_s=1.0)), EventSettings())
    assert not metrics.stable
    assert metrics.p_wait == 1.0
    assert math.isinf(metrics.mean_wait_s)


def test_no_wait_at_fpm_when_children_cover_httpd() -> None:
    """10 prefork workers, 50 children: at most 10 PHP requests are ever out, none waits at FPM
    even at a load httpd itself cannot carry (its own model shows that)."""
    pool = replace(POOL, max_children=50)
    prefork = PreforkSettings(max_request_workers=10, server_limit=10)
    metrics = evaluate_fpm(pool, _profile(12.0, Php(service_time_s=1.0)), prefork)
    assert (metrics.max_children, metrics.servers, metrics.httpd_connections) == (50, 10, 10)
    assert (metrics.p_wait, metrics.mean_wait_s, metrics.stable, metrics.p_block) == (
        0.0,
        0.0,
        True,
        0.0,
    )


def test_socket_queue_overflows_only_when_httpd_can_queue_more_than_it_holds() -> None:
    profile = _profile(9.0, Php(service_time_s=1.0))
    pool = replace(POOL, max_children=10, listen_backlog=5)
    small = PreforkSettings(max_request_workers=15, server_limit=15)  # 5 can wait: fits Q = 6
    assert evaluate_fpm(pool, profile, small).p_block == 0.0
    large = EventSettings()  # 400 connections, 390 could wait
    blocked = evaluate_fpm(pool, profile, large)
    assert blocked.accept_queue == 6
    assert 0.0 < blocked.p_block < 1.0
    common = replace(large.common, somaxconn=4)
    clamped = evaluate_fpm(replace(pool, listen_backlog=-1), profile, replace(large, common=common))
    assert clamped.accept_queue == 5


@pytest.mark.parametrize(
    ("pm", "busy", "want"),
    [
        ("static", 3.0, 20.0),
        ("dynamic", 3.0, 3.0 + (2 + 6) / 2),
        ("dynamic", 0.0, 4.0),  # never below start_servers' worth at rest
        ("dynamic", 19.0, 20.0),
        ("ondemand", 4.0, 4.0 + 3 * 2.0),
        ("ondemand", 0.0, 0.0),
    ],
)
def test_typical_children_by_pm(pm: PmStyle, busy: float, want: float) -> None:
    pool = replace(
        POOL, pm=pm, max_children=20, start_servers=4, min_spare_servers=2, max_spare_servers=6
    )
    assert typical_children(pool, busy) == pytest.approx(want)


def test_memory_is_shared_once_plus_children() -> None:
    php = Php(process_bytes=50 << 20, shared_bytes=100 << 20)
    assert fpm_memory_bytes(php, 10) == (100 << 20) + 10 * (50 << 20)


def test_httpd_view_adds_the_wait_and_takes_the_memory() -> None:
    php = Php(share=0.5, service_time_s=1.0, process_bytes=1 << 20, shared_bytes=0)
    profile = _profile(1.0, php, service_s=2.0, ram=100 << 20)
    profile = replace(profile, traffic=replace(profile.traffic, worker_share=0.5))
    fpm = evaluate_fpm(POOL, profile, EventSettings())
    view = httpd_view(profile, fpm)
    extra = 0.5 * fpm.mean_wait_s
    assert view.traffic.service_time_s == pytest.approx(2.0 + extra)
    assert view.traffic.worker_time_s == pytest.approx(1.0 + extra)
    assert view.memory.ram_bytes == (100 << 20) - math.ceil((2 << 20) / 0.9)


def test_httpd_view_of_an_overloaded_pool_saturates_httpd() -> None:
    profile = _profile(3.0, Php(service_time_s=1.0), service_s=1.0)
    fpm = evaluate_fpm(POOL, profile, EventSettings())
    view = httpd_view(profile, fpm)
    # λ · S' = λ · S + C_h: every FastCGI connection httpd has ends up waiting.
    assert 3.0 * view.traffic.service_time_s == pytest.approx(3.0 + 400)


@pytest.mark.parametrize("rate", [1.0, 20.0, 300.0])
def test_min_max_children_is_the_smallest_meeting_the_targets(rate: float) -> None:
    targets = Targets(max_wait_probability=0.01, max_wait=None)
    profile = replace(_profile(rate, Php(service_time_s=0.1), service_s=0.1), targets=targets)
    c = min_max_children(profile)
    a = php_load_erlangs(profile)
    assert erlang_c(c, a) <= 0.01
    assert c == 1 or c - 1 <= a or erlang_c(c - 1, a) > 0.01


@pytest.mark.parametrize("load", [0.2, 5.0, 40.0])
def test_proposed_dynamic_pool_is_one_php_fpm_accepts(
    php_fpm: str, tmp_path: Path, load: float
) -> None:
    current = replace(
        POOL,
        pm="dynamic",
        max_children=5,
        start_servers=2,
        min_spare_servers=1,
        max_spare_servers=3,
    )
    children = max(1, math.ceil(load * 1.5))
    pool = sized_pool(current, children, load)
    assert 1 <= pool.min_spare_servers <= pool.start_servers <= pool.max_spare_servers <= children
    directives = pool_directives(pool, current)
    snippet = pool_snippet("www", directives)
    conf = tmp_path / "fpm.conf"
    # The current pool, then the proposed lines as the user would add them (later ones win).
    conf.write_text(
        f"[global]\npid = {tmp_path}/p\nerror_log = {tmp_path}/l\n[www]\nuser = nobody\n"
        f"listen = {tmp_path}/s\npm = dynamic\npm.max_children = 5\npm.start_servers = 2\n"
        "pm.min_spare_servers = 1\npm.max_spare_servers = 3\n" + snippet.removeprefix("[www]\n")
    )
    printed = tt_values(php_fpm, conf, tmp_path)["www"]
    read = read_fpm_config(str(conf)).pools[0]
    for key, value in directives:
        assert printed[key] == value
    assert read.max_children == children


def test_no_directives_when_the_pool_already_fits() -> None:
    current = replace(
        POOL,
        pm="dynamic",
        max_children=9,
        start_servers=5,
        min_spare_servers=3,
        max_spare_servers=7,
    )
    assert pool_directives(sized_pool(current, 9, 9.0), current) == ()
    assert pool_snippet("www", ()) == ""


def test_static_pool_keeps_its_style() -> None:
    pool = sized_pool(POOL, 12, 6.0)
    assert (pool.pm, pool.max_children) == ("static", 12)
    assert pool_directives(pool, POOL) == (("pm.max_children", "12"),)
