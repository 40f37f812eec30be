"""Extreme arguments to `capplan queue`: loads beyond any server count, vanishing targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.harness import assert_error, run


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (
            ["--servers", "1", "--load", "1e19", "--target-wait", "0.01"],
            "offered load 1e+19 Erlangs: capplan sizes up to 1e+15 (server counts stay exact "
            "integers in binary64 below that)",
        ),
        (
            ["--servers", "1", "--load", "1", "--target-wait", "5e-324"],
            "--target-wait 5e-324: must be at least 1e-300",
        ),
        (
            ["--servers", "5", "--rate", "1e300", "--service", "1h"],
            "offered load 3.6e+303 Erlangs: capplan sizes up to 1e+15 (server counts stay exact "
            "integers in binary64 below that)",
        ),
        (
            ["--servers", "5", "--load", "nan"],
            "--load nan: must be a finite number >= 0",
        ),
    ],
    ids=["load-1e19", "target-5e-324", "rate-1e300", "load-nan"],
)
def test_item07_extreme_queue_arguments(tmp_path: Path, args: list[str], first_line: str) -> None:
    assert_error(run(["queue", *args], cwd=tmp_path, seconds=10), 2, first_line)


@pytest.mark.parametrize(
    "args",
    [
        ["--servers", "1000000000", "--load", "1e8", "--target-wait", "1e-300"],
        ["--servers", "1", "--load", "1e15", "--target-wait", "1e-300"],
        ["--servers", "99999999999999999999", "--load", "1"],
        ["--servers", "5", "--load", "4", "--service-scv", "1e300"],
    ],
    ids=["1e9-servers", "load-1e15", "servers-1e20", "scv-1e300"],
)
def test_held_extreme_but_valid_queue_arguments(tmp_path: Path, args: list[str]) -> None:
    result = run(["queue", *args], cwd=tmp_path, seconds=10)
    assert result.code == 0, result.err
    assert "nan" not in result.out.split()
