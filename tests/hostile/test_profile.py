"""Hostile profiles: derived quantities out of range, huge numbers, YAML 1.1 surprises,
alias bombs, tags, FIFOs and devices given as the profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile import inputs
from tests.hostile.harness import assert_error, run

MAX_RATIO = "p95/p50 at most 147"


def _check(tmp_path: Path, profile: Path, *config_lines: str) -> list[str]:
    conf = inputs.config(tmp_path, *config_lines)
    return ["check", str(conf), "-p", str(profile), "--somaxconn", "4096"]


@pytest.mark.parametrize(
    ("replace", "first_line"),
    [
        (
            (("service_time_p50", "1ms"), ("service_time_p95", "1h")),
            "{p}:4: traffic.service_time_p95: the lognormal through p50 0.001 s and p95 3600 s "
            "has mean 1.96e+15 s and SCV 3.83e+36 (the mean must lie in [1e-09, 86400] s, "
            f"the SCV at most 10000: {MAX_RATIO})",
        ),
        (
            (("service_time_p50", "1e-9s"), ("service_time_p95", "24h")),
            "{p}:4: traffic.service_time_p95: the lognormal through p50 1e-09 s and p95 86400 s "
            "has mean 4.46e+73 s and SCV 1.99e+165 (the mean must lie in [1e-09, 86400] s, "
            f"the SCV at most 10000: {MAX_RATIO})",
        ),
        (
            (("service_time_p50", "1ms"), ("service_time_p95", "60s")),
            "{p}:4: traffic.service_time_p95: the lognormal through p50 0.001 s and p95 60 s "
            "has mean 5.19e+06 s and SCV 2.69e+19 (the mean must lie in [1e-09, 86400] s, "
            f"the SCV at most 10000: {MAX_RATIO})",
        ),
        (
            (("requests_per_second", "1e8"), ("service_time", "1e-200s")),
            "{p}:4: traffic.service_time: 1e-200 s is below 1e-09 s; no request is served "
            "that fast, and the model squares it (which underflows)",
        ),
        (
            (("requests_per_second", "9" * 5000),),
            "{p}:4: traffic.requests_per_second: '" + "9" * 40 + "'… is not a number capplan "
            "can use",
        ),
        (
            (("requests_per_second", "1:30"),),
            "{p}:4: traffic.requests_per_second: expected a number, got the text '1:30'",
        ),
        (
            (("worker_share", "1e-300"),),
            "{p}:4: traffic.worker_share: the worker time per request, service time × "
            "worker_share = 2e-303 s, is below 1e-09 s",
        ),
    ],
    ids=["p50-1ms-p95-1h", "p50-1ns-p95-24h", "p50-1ms-p95-60s", "service-1e-200s",
         "5000-digits", "sexagesimal", "worker-share-underflow"],
)  # fmt: skip
def test_item06_item19_derived_quantities_are_validated(
    tmp_path: Path, replace: tuple[tuple[str, str], ...], first_line: str
) -> None:
    profile = inputs.profile(tmp_path, *replace)
    for command in ("check", "recommend"):
        args = _check(tmp_path, profile, "KeepAlive Off")
        args[0] = command
        result = run(args, cwd=tmp_path, memory_mb=300, seconds=10)
        assert_error(result, 2, first_line.format(p=profile))


def test_item06_a_vanishing_rate_is_planned(tmp_path: Path) -> None:
    """1e-200 req/s divided by zero in P(wait > t); it needs no capacity and meets every target."""
    profile = inputs.profile(tmp_path, ("requests_per_second", "1e-200"))
    result = run(_check(tmp_path, profile), cwd=tmp_path, seconds=20)
    assert result.code == 0, result.err
    result = run(["recommend", *_check(tmp_path, profile)[1:]], cwd=tmp_path, seconds=20)
    assert result.code == 0, result.err


def test_item06_an_overwhelming_rate_misses_targets(tmp_path: Path) -> None:
    """1e8 req/s of 1 s each on 150 prefork workers: P_block rounds to 1 (it divided by 0)."""
    profile = inputs.profile(tmp_path, ("requests_per_second", "1e8"), ("service_time", "1s"))
    result = run(_check(tmp_path, profile, "MaxRequestWorkers 150"), cwd=tmp_path, seconds=20)
    assert result.code == 1, result.err


@pytest.mark.parametrize("rate", ["1e5", "1e6", "1e8"])
def test_item12_recommend_at_huge_rates_with_an_hour_of_keepalive(
    tmp_path: Path, rate: str
) -> None:
    """KeepAliveTimeout 3600 and no memory.ram: 14-18 s once; the connection-limit sums now stop
    where binary64 cannot change them and the sizing gives up early where no size passes."""
    profile = inputs.profile(tmp_path, ("requests_per_second", rate), ("service_time", "50ms"))
    conf = inputs.config(tmp_path, "KeepAlive On", "KeepAliveTimeout 3600")
    args = ["recommend", str(conf), "-p", str(profile), "--somaxconn", "4096"]
    result = run(args, cwd=tmp_path, seconds=15)
    assert result.code == 0, result.err
    assert "Recommended:" in result.out


# --- the classes of hostile profiles that already held --------------------------------------------


def test_held_yaml_alias_bomb(tmp_path: Path) -> None:
    profile = inputs.yaml_alias_bomb(tmp_path)
    result = run(_check(tmp_path, profile), cwd=tmp_path, memory_mb=250, seconds=10)
    assert result.code == 2, result.err
    assert result.first_line.startswith(f"{profile}:")
    assert "alias" in result.first_line


def test_held_yaml_tags(tmp_path: Path) -> None:
    profile = inputs.yaml_tag(tmp_path)
    result = run(_check(tmp_path, profile), cwd=tmp_path, seconds=10)
    assert_error(
        result,
        2,
        f"{profile}:4: YAML tags are not allowed in a profile "
        "(found !!python/object/apply:os.system)",
    )


def test_item10_a_fifo_without_writer_as_profile(tmp_path: Path) -> None:
    fifo = inputs.fifo(tmp_path, "profile.fifo")
    result = run(_check(tmp_path, fifo), cwd=tmp_path, seconds=10)
    assert_error(result, 2, f"{fifo}: cannot read the profile: not a regular file")


def test_held_device_as_profile(tmp_path: Path) -> None:
    result = run(_check(tmp_path, Path("/dev/zero")), cwd=tmp_path, memory_mb=250, seconds=10)
    assert_error(result, 2, "/dev/zero: cannot read the profile: not a regular file")
