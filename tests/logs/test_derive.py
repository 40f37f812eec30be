"""Derive stage edge cases: spans, windows and fallbacks computed from tiny hand-made logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from capplan.logs.derive import derive_profile, render_profile_yaml
from capplan.logs.logformat import compile_format
from capplan.logs.scan import ScanOptions, scan_logs
from capplan.profile import profile_from_text

FORMAT = '%h %t "%r" %>s %D %k %X'


def _line(second: int, client: int = 1, micros: int = 20_000, ka: int = 0, x: str = "+") -> str:
    return (
        f"192.0.2.{client} [01/May/2024:10:{second // 60:02d}:{second % 60:02d} +0000] "
        f'"GET / HTTP/1.1" 200 {micros} {ka} {x}\n'
    )


@pytest.mark.parametrize(
    ("lines", "window", "mean", "p99"),
    [
        ([_line(0)] * 30, 1.0, 30.0, 30.0),
        ([_line(0)] * 10 + [_line(9)] * 10, 1.0, 2.0, 10.0),
        ([_line(s) for s in range(120)], 60.0, 1.0, 1.0),
    ],
    ids=["one-second", "gap-of-empty-windows", "minute-windows"],
)
def test_rates(tmp_path: Path, lines: list[str], window: float, mean: float, p99: float) -> None:
    log = tmp_path / "a.log"
    log.write_text("".join(lines))
    result = scan_logs((str(log),), compile_format(FORMAT), ScanOptions(window_s=window))
    for peak, want in (("mean", mean), ("p99", p99)):
        profile = derive_profile(result, name="a", peak=peak)
        assert profile.rate.chosen_per_s == pytest.approx(want)
        loaded = profile_from_text(render_profile_yaml(profile), "a.yaml")
        assert loaded.traffic.requests_per_second == pytest.approx(want, rel=1e-5)


def test_without_keepalive_and_status_fields(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text(
        "".join(
            f"192.0.2.{i % 3} [01/May/2024:10:00:{i:02d} +0000] {1000 * i}\n" for i in range(1, 40)
        )
    )
    result = scan_logs((str(log),), compile_format("%h %t %D"), ScanOptions())
    profile = derive_profile(result, name="a")
    text = render_profile_yaml(profile)
    assert "no %X in the log: idle_hold_probability keeps its default" in text
    assert "requests per client visit (no %k in the log)" in text
    loaded = profile_from_text(text, "a.yaml")
    assert loaded.visits.idle_hold_probability == 1.0  # the format's default
    assert loaded.traffic.service_time_s == pytest.approx(0.020, rel=0.01)


def test_whole_second_durations_warn(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("".join(f"192.0.2.1 [01/May/2024:10:00:{i:02d} +0000] 1\n" for i in range(9)))
    profile = derive_profile(
        scan_logs((str(log),), compile_format("%h %t %T"), ScanOptions()), name="a"
    )
    assert any("only whole-second %T is logged" in w for w in profile.warnings)
    assert profile.service.mean_s == 1.0


def test_zero_durations_give_a_valid_profile(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("".join(_line(s, client=s % 4, micros=0) for s in range(50)))
    profile = derive_profile(
        scan_logs((str(log),), compile_format(FORMAT), ScanOptions()), name="a"
    )
    loaded = profile_from_text(render_profile_yaml(profile), "a.yaml")
    assert loaded.traffic.service_time_s == pytest.approx(1e-6)
    assert any("below 1 µs" in w for w in profile.warnings)


def test_extreme_scv_is_clamped_to_the_format_bound(tmp_path: Path) -> None:
    lines = [_line(s % 600, client=s % 50, micros=10) for s in range(30_000)]
    lines.append(_line(10, client=99, micros=3_000_000_000))
    log = tmp_path / "a.log"
    log.write_text("".join(lines))
    profile = derive_profile(
        scan_logs((str(log),), compile_format(FORMAT), ScanOptions()), name="a"
    )
    assert profile.service.scv == 1e4
    assert any("service_time_scv set to 10000" in w for w in profile.warnings)
    profile_from_text(render_profile_yaml(profile), "a.yaml")


def _proto_line(second: int, protocol: str) -> str:
    return (
        f"192.0.2.{second % 5} [01/May/2024:10:00:{second % 60:02d} +0000] "
        f'"GET /p{second} {protocol}" {protocol} 200 20000 0 +\n'
    )


@pytest.mark.parametrize(
    ("fmt", "protocols", "share", "source"),
    [
        (
            '%h %t "%r" %H %>s %D %k %X',
            ("HTTP/2.0", "HTTP/1.1", "HTTP/2.0", "HTTP/2.0"),
            0.75,
            "%H",
        ),
        (
            '%h %t "%r" %{x}i %>s %D %k %X',
            ("HTTP/2.0", "HTTP/1.0", "HTTP/1.1", "HTTP/1.1"),
            0.25,
            "%r",
        ),
        ('%h %t "%r" %H %>s %D %k %X', ("HTTP/2.0",), 1.0, "%H"),
        ('%h %t "%r" %H %>s %D %k %X', ("HTTP/1.1",), None, "%H"),
        ('%h %t "%r" %{x}i %>s %D %k %X', ("HTTP/1.1", "HTTP/1.0"), None, "%r"),
    ],
    ids=["from-%H", "from-%r", "all-h2", "none-h2", "none-h2-%r"],
)
def test_h2_share_from_the_protocol(
    tmp_path: Path, fmt: str, protocols: tuple[str, ...], share: float | None, source: str
) -> None:
    log = tmp_path / "a.log"
    log.write_text("".join(_proto_line(s, protocols[s % len(protocols)]) for s in range(40)))
    profile = derive_profile(scan_logs((str(log),), compile_format(fmt), ScanOptions()), name="a")
    text = render_profile_yaml(profile)
    loaded = profile_from_text(text, "a.yaml")
    if share is None:
        # A log without HTTP/2 requests gives the profile it always gave: no HTTP/2 line at all.
        assert "http2_share:" not in text
        assert loaded.visits.http2_share == 0.0
    else:
        assert profile.protocol_source == source
        assert loaded.visits.http2_share == pytest.approx(share)
        assert f"were logged as HTTP/2.0 ({source})" in text


def test_no_protocol_field_leaves_http2_unset(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("".join(f"192.0.2.1 [01/May/2024:10:00:{i:02d} +0000] 1000\n" for i in range(9)))
    profile = derive_profile(
        scan_logs((str(log),), compile_format("%h %t %D"), ScanOptions()), name="a"
    )
    assert profile.http2_share is None
    assert "http2_share:" not in render_profile_yaml(profile)
