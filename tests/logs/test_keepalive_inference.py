"""Profiles without `-c` round-trip: the keep-alive settings in force are inferred from `%k` and
the gaps, and the models, given the true settings, reproduce the log's requests per connection.

Logs come from `tests.logs.generator` with whole-second `%t` stamps (the stock formats'), so
the timeout is seen through one-second rounding. Each case is about 20,000 to 60,000 requests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from capplan.cli import main
from capplan.logs.derive import (
    KeepAliveConfig,
    derive_profile,
    infer_keepalive_cap,
    render_profile_yaml,
)
from capplan.logs.logformat import compile_format
from capplan.logs.scan import ScanOptions, scan_logs
from capplan.models import evaluate
from capplan.mpm_settings import CommonSettings, EventSettings, MpmSettings, PreforkSettings
from capplan.profile import load_profile, profile_from_text
from tests.logs.generator import LOG_FORMAT, TrafficModel, generate_requests, write_log

UNLIMITED = 1_000_000  # the generator needs a number; no connection gets near it

# (id, KeepAliveTimeout T, think time Z, requests per visit m, MaxKeepAliveRequests K)
CASES = [
    ("issue-example", 5.0, 3.5, 8.59, 100),
    ("short-timeout-short-think", 2.0, 1.0, 20.0, 100),
    ("long-timeout-unlimited", 15.0, 5.0, 10.0, UNLIMITED),
    ("binding-cap-5", 5.0, 2.0, 30.0, 5),
    ("timeout-below-think", 1.0, 3.0, 10.0, 100),
    ("cap-1", 5.0, 3.5, 50.0, 1),
    ("long-think", 30.0, 10.0, 5.0, 100),
]


def _model(timeout_s: float, think_s: float, m: float, cap: int) -> TrafficModel:
    return TrafficModel(
        visit_rate_per_s=3.0,
        duration_s=1200.0,
        think_time_s=think_s,
        requests_per_visit=m,
        keepalive_timeout_s=timeout_s,
        max_keepalive_requests=cap,
    )


def _settings(mpm: str, timeout_s: float, cap: int) -> MpmSettings:
    common = CommonSettings(
        keep_alive_timeout_s=timeout_s,
        max_keep_alive_requests=0 if cap == UNLIMITED else cap,
    )
    return PreforkSettings(common=common) if mpm == "prefork" else EventSettings(common=common)


@pytest.mark.parametrize(
    ("timeout_s", "think_s", "m", "cap"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_round_trip_without_config(
    tmp_path: Path, timeout_s: float, think_s: float, m: float, cap: int
) -> None:
    model = _model(timeout_s, think_s, m, cap)
    log = tmp_path / "access.log"
    write_log(str(log), model, seed=31)
    keepalives = generate_requests(model, seed=31)["keepalives"]
    log_per_conn = keepalives.size / int(np.count_nonzero(keepalives == 0))
    out = tmp_path / "profile.yaml"
    assert main(["profile", str(log), "-f", LOG_FORMAT, "-o", str(out)]) == 0
    text = out.read_text()
    profile = load_profile(out)
    for mpm in ("prefork", "event"):
        metrics = evaluate(_settings(mpm, timeout_s, cap), profile)
        assert metrics.requests_per_connection == pytest.approx(log_per_conn, rel=0.03), mpm
        log_conn_rate = profile.traffic.requests_per_second / log_per_conn
        assert metrics.connections_per_s == pytest.approx(log_conn_rate, rel=0.03), mpm
    # the inferred settings, as the profile states them
    result = scan_logs((str(log),), compile_format(LOG_FORMAT), ScanOptions())
    inferred = derive_profile(result, name="a").inferred
    assert inferred is not None
    assert inferred.timeout_s is not None
    assert abs(inferred.timeout_s - timeout_s) < 1.0
    # a cap is seen only when connections reach it
    assert inferred.max_requests == (cap if int(keepalives.max()) == cap else None)
    assert f"KeepAliveTimeout about {inferred.timeout_s:.3g} s" in text
    assert "per connection (%k)" in text
    assert "per visit:" in text


def test_config_timeout_is_checked_against_the_log(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write_log(str(log), _model(5.0, 3.5, 8.59, 100), seed=5)
    result = scan_logs((str(log),), compile_format(LOG_FORMAT), ScanOptions())
    agree = derive_profile(result, name="a", keepalive=KeepAliveConfig(5.0, 100, origin="a.conf"))
    assert not [w for w in agree.warnings if "KeepAlive" in w]
    wrong = derive_profile(result, name="a", keepalive=KeepAliveConfig(15.0, 3, origin="a.conf"))
    assert any(
        "the config's KeepAliveTimeout 15 s (a.conf) disagrees with the log" in w
        for w in wrong.warnings
    )
    assert any(
        "MaxKeepAliveRequests 3 (a.conf) is below the log's largest %k" in w for w in wrong.warnings
    )
    # with -c the config's settings are used for the fit, and the profile says so
    assert "the config's settings are used" in render_profile_yaml(agree)


def test_keepalive_off_counts_visits_directly(tmp_path: Path) -> None:
    lines = [
        f"192.0.2.{i % 7} [01/May/2024:10:{i // 60 % 60:02d}:{i % 60:02d} +0000] 1000 0 -\n"
        for i in range(600)
    ]
    log = tmp_path / "a.log"
    log.write_text("".join(lines))
    result = scan_logs((str(log),), compile_format("%h %t %D %k %X"), ScanOptions())
    profile = derive_profile(result, name="a")
    assert profile.inferred is not None
    assert profile.inferred.largest_keepalives == 0
    assert "%k is always 0" in profile.visits.requests_per_visit_method
    text = render_profile_yaml(profile)
    assert "keep-alive in force, from the log: none" in text
    profile_from_text(text, "a.yaml")


@pytest.mark.parametrize(
    ("values", "cap"),
    [
        ({0: 1000, 1: 600, 2: 360, 3: 216}, 3),  # 216 lines at 3, ~130 expected beyond: a cap
        ({0: 1000, 1: 300, 2: 90, 3: 27, 4: 8, 5: 2, 6: 1}, None),  # a thinning tail
        ({0: 1000, 1: 500}, 1),
        ({0: 10}, None),  # no reuse at all
        ({}, None),
        ({0: 100, 1: 3}, None),  # too few to tell
    ],
    ids=["cap-3", "no-cap", "cap-1", "no-reuse", "empty", "too-few"],
)
def test_cap_inference(values: dict[int, int], cap: int | None) -> None:
    assert infer_keepalive_cap(values) == cap
