"""The HTTP/2 validation's parts: its configs are ones httpd accepts, its estimators are exact on
known input, and a short run of the h2c generator against a real apache2 is served as HTTP/2
under event and falls back to HTTP/1.1 under prefork."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from bench.validate.h2 import (
    CASES,
    Check,
    H2Case,
    batch_mean,
    h2_busy_per_child,
    run_case,
    server_config,
)
from tests.httpd import configtest, prepare_root


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_configs_are_accepted_by_httpd(case: H2Case, tmp_path: Path, apache2: str) -> None:
    prepare_root(tmp_path)
    conf = tmp_path / "conf" / "httpd.conf"
    conf.write_text(server_config(case, tmp_path, 8080, 8081))
    code, output = configtest(conf)
    assert code == 0, output


def test_batch_mean_of_a_constant_and_a_step() -> None:
    flat = [(t / 10, 3.0) for t in range(100)]
    assert batch_mean(flat, 0.0, 10.0) == (3.0, 0.0)
    step = [(t / 10, 0.0 if t < 50 else 2.0) for t in range(100)]
    mean, se = batch_mean(step, 0.0, 10.0)
    assert mean == pytest.approx(1.0)
    assert se > 0


def test_busy_per_child_from_the_access_log(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    # Two streams of 0.5 s on each of two children inside a 10 s window: 2 s busy / 10 s / 2.
    lines = [
        f"{1_000_000 + i * 2_000_000} 500000 {100 + i % 2} HTTP/2.0 200 /sleep" for i in range(4)
    ]
    log.write_text("\n".join([*lines, "1 2 3 HTTP/1.1 200 /server-status"]) + "\n")
    busy, _, mean_d, scv, h2_lines, total = h2_busy_per_child(log, 0.0, 10_000_000.0, 2)
    assert busy == pytest.approx(0.1)
    assert (mean_d, scv, h2_lines, total) == (0.5, 0.0, 4, 4)


@pytest.mark.parametrize(
    ("predicted", "measured", "se", "floor", "passed"),
    [
        (10.0, 11.4, 0.0, 0.0, True),
        (10.0, 11.6, 0.0, 0.0, False),
        (10.0, 13.0, 1.0, 0.0, True),
        (0.1, 0.5, 0.0, 0.5, True),
        (0.0, 1.0, 0.0, 0.0, False),
    ],
)
def test_check_band(
    predicted: float, measured: float, se: float, floor: float, passed: bool
) -> None:
    assert Check("x", predicted, measured, se, floor).passed is passed


@pytest.mark.apache
@pytest.mark.parametrize("name", ["h2-event", "h2-prefork-fallback"])
def test_a_short_run_speaks_what_httpd_negotiates(name: str, apache2: str) -> None:
    case = next(c for c in CASES if c.name == name)
    case = replace(case, rate_per_s=min(case.rate_per_s, 40.0))
    checks, facts = run_case(case, seconds=4.0, seed=1)
    assert facts["failed"] == 0
    assert facts["sent"] > 0
    assert math.isfinite(facts["service_mean_s"])
    if case.mpm == "prefork":
        # mod_http2 declines under prefork: no upgrade, every request logged as HTTP/1.1.
        assert facts["h2_share_logged"] == 0.0
        assert {c.name: c.measured for c in checks}["upgrades to h2c granted"] == 0.0
    else:
        assert facts["h2_share_logged"] == 1.0
