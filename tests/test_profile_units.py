"""Units of the profile format: durations to seconds and sizes to bytes, strictly."""

from __future__ import annotations

import pytest

from capplan.errors import CapplanError
from capplan.units import format_duration, parse_duration_s, parse_size_bytes, size_literal


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("80ms", 0.08, id="milliseconds"),
        pytest.param("2s", 2.0, id="seconds"),
        pytest.param("1.5min", 90.0, id="minutes"),
        pytest.param("1h", 3600.0, id="hours"),
        pytest.param("5", 5.0, id="bare-number-is-seconds"),
        pytest.param("0.25", 0.25, id="bare-fraction"),
        pytest.param(" 15 s ", 15.0, id="spaces"),
        pytest.param("1e-3", 0.001, id="exponent"),
        pytest.param("0", 0.0, id="zero"),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds, rel=1e-15)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("5 parsecs", "unknown unit 'parsecs'", id="unknown-unit"),
        pytest.param("5m", "unknown unit 'm'", id="m-is-not-minutes"),
        pytest.param("-1s", "must not be negative", id="negative"),
        pytest.param("fast", "expected a number", id="no-number"),
        pytest.param("", "expected a number", id="empty"),
        pytest.param("1e999s", "not a finite number", id="overflow"),
        pytest.param("1,5s", "expected a number", id="decimal-comma"),
        pytest.param("nan", "expected a number", id="nan"),
    ],
)
def test_bad_durations(text: str, message: str) -> None:
    with pytest.raises(CapplanError, match=message):
        parse_duration_s(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        pytest.param("512MiB", 512 << 20, id="mebibytes"),
        pytest.param("4G", 4 << 30, id="G-is-binary"),
        pytest.param("4GiB", 4 << 30, id="gibibytes"),
        pytest.param("64K", 64 << 10, id="K-is-binary"),
        pytest.param("1.5GiB", 3 << 29, id="fraction"),
        pytest.param("1000", 1000, id="bare-number-is-bytes"),
        pytest.param("1TiB", 1 << 40, id="tebibytes"),
        pytest.param("0.5B", 0, id="rounds-to-bytes"),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size_bytes(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("512MB", "write KiB/MiB/GiB", id="decimal-unit"),
        pytest.param("four GiB", "expected a number", id="words"),
        pytest.param("-4G", "must not be negative", id="negative"),
        pytest.param("12Q", "unknown unit 'Q'", id="unknown-unit"),
    ],
)
def test_bad_sizes(text: str, message: str) -> None:
    with pytest.raises(CapplanError, match=message):
        parse_size_bytes(text)


def test_formatting_round_trips() -> None:
    assert format_duration(0.08) == "80ms"
    assert format_duration(5.0) == "5s"
    assert size_literal(3 << 29) == "1.5GiB"
    assert size_literal(100) == "100B"
    assert parse_size_bytes(size_literal(60 << 20)) == 60 << 20
