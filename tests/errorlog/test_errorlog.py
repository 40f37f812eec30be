"""The error-log reader: counts like grep, times, gzip, bounded lines, meanings, citations."""

from __future__ import annotations

import gzip
import json
import os
import threading
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest

from capplan.cli import main
from capplan.errorlog import (
    MAX_LINE_BYTES,
    MESSAGES,
    error_log_citations,
    meaning,
    parse_time,
    read_error_logs,
)
from capplan.errors import CapplanError
from capplan.models import evaluate
from capplan.mpm_settings import PreforkSettings
from capplan.profile import Traffic, TrafficProfile
from capplan.render.report_json import report_schema

PREFORK = (
    "[Wed Dec 02 11:56:27.123456 2026] [mpm_prefork:error] [pid 1234:tid 1] AH00161: server "
    "reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting\n"
)
EVENT_FULL = (
    "[Thu Dec 03 09:00:01.5 2026] [mpm_event:error] [pid 7:tid 7] AH03490: scoreboard is full, "
    "not at MaxRequestWorkers.Increase ServerLimit.\n"
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(PREFORK.encode(), datetime(2026, 12, 2, 11, 56, 27), id="default"),
        pytest.param(b"[Sat Feb  7 01:02:03 2026] x", datetime(2026, 2, 7, 1, 2, 3), id="space"),
        pytest.param(
            b"[2026-12-02 11:56:27.123] [x] AH00161",
            datetime(2026, 12, 2, 11, 56, 27),
            id="compact",
        ),
        pytest.param(b"AH00161: no time", None, id="none"),
        pytest.param(b"[Wed Feb 31 11:56:27 2026] AH00161", None, id="impossible-date"),
        pytest.param(b"[Wed Foo 02 11:56:27 2026] AH00161", None, id="bad-month"),
    ],
)
def test_parse_time(line: bytes, expected: datetime | None) -> None:
    assert parse_time(line) == expected


def test_counts_first_last_and_hours(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_text(
        PREFORK
        + PREFORK.replace("11:56:27", "12:10:00")
        + "AH00161 without a time\n"
        + EVENT_FULL * 3
        + "[Wed Dec 02 11:00:00 2026] [core:notice] AH00094: Command line: 'apache2'\n"
    )
    evidence = read_error_logs([str(log)])
    prefork = evidence.count_of("AH00161")
    assert (prefork.count, prefork.undated) == (3, 1)
    assert prefork.first == datetime(2026, 12, 2, 11, 56, 27)
    assert prefork.last == datetime(2026, 12, 2, 12, 10)
    assert prefork.per_hour == (("2026-12-02 11:00", 1), ("2026-12-02 12:00", 1))
    assert evidence.count_of("AH03490").count == 3
    assert evidence.count_of("AH00484").count == 0
    assert evidence.lines == 7
    assert [c.message.code for c in evidence.counts] == [m.code for m in MESSAGES]


def test_rotated_gzip_logs_add_up(tmp_path: Path) -> None:
    plain = tmp_path / "error.log"
    plain.write_text(PREFORK)
    rotated = tmp_path / "error.log.2.gz"
    rotated.write_bytes(gzip.compress((PREFORK * 4).encode()))
    assert read_error_logs([str(rotated), str(plain)]).count_of("AH00161").count == 5


def test_a_long_line_is_read_in_bounded_pieces(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_bytes(PREFORK.encode()[:-1] + b"x" * (3 * MAX_LINE_BYTES) + b"\n" + PREFORK.encode())
    evidence = read_error_logs([str(log)])
    assert evidence.count_of("AH00161").count == 2
    assert (evidence.lines, evidence.long_lines) == (2, 1)


def test_a_device_is_refused_and_a_pipe_is_read(tmp_path: Path) -> None:
    with pytest.raises(CapplanError, match="not a regular file or a pipe"):
        read_error_logs(["/dev/zero"])
    fifo = tmp_path / "error.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(PREFORK * 2))
    writer.start()
    assert read_error_logs([str(fifo)]).count_of("AH00161").count == 2
    writer.join(timeout=5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda p: p, "cannot read the error log", id="missing"),
        pytest.param(lambda p: (p.mkdir(), p)[1], "is a directory", id="directory"),
        pytest.param(
            lambda p: (p.write_bytes(b"\x1f\x8b\x08broken"), p)[1],
            "cannot read the error log",
            id="broken-gzip",
        ),
    ],
)
def test_unreadable_logs_are_bad_input(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path / "error.log")  # type: ignore[operator]
    with pytest.raises(CapplanError, match=message):
        read_error_logs([str(path)])


@pytest.mark.parametrize(
    ("code", "mpm", "words"),
    [
        ("AH00161", "prefork", "children was busy"),
        ("AH00286", "worker", "every worker thread was busy"),
        ("AH00484", "event", "connection slots"),
        ("AH10159", "event", "below MinSpareThreads"),
        ("AH00288", "worker", "raise ServerLimit"),
        ("AH00484", "prefork", "written while the server ran event"),
    ],
)
def test_meaning_for_the_configs_mpm(code: str, mpm: str, words: str) -> None:
    message = next(m for m in MESSAGES if m.code == code)
    assert words in meaning(message, mpm)  # type: ignore[arg-type]


def _metrics(rate: float) -> object:
    profile = TrafficProfile(
        name="t", traffic=Traffic(requests_per_second=rate, service_time_s=0.1)
    )
    return evaluate(PreforkSettings(server_limit=10, max_request_workers=10), profile)


START = (
    "[Mon Nov 30 00:00:0{n}.5 2026] [mpm_prefork:notice] [pid 9:tid 9] AH00163: Apache/2.4.71 "
    "(Debian) configured -- resuming normal operations\n"
)
GRACEFUL = (
    "[Mon Nov 30 06:25:01.1 2026] [mpm_prefork:notice] [pid 9:tid 9] AH00171: Graceful restart "
    "requested, doing restart\n"
)


def test_runs_of_the_parent_are_counted(tmp_path: Path) -> None:
    """Four "resuming" lines, one after a graceful restart: three runs of the parent."""
    log = tmp_path / "error.log"
    log.write_text(
        START.format(n=1)
        + PREFORK
        + GRACEFUL
        + START.format(n=2)
        + START.format(n=3)
        + START.format(n=4)
        + PREFORK
    )
    evidence = read_error_logs([str(log)])
    assert (evidence.starts, evidence.restarts, evidence.runs) == (4, 1, 3)


@pytest.mark.parametrize(
    ("rate", "verdict"), [(500.0, "the model agrees"), (0.01, "the model does not")]
)
def test_citations_compare_the_log_with_the_model(
    tmp_path: Path, rate: float, verdict: str
) -> None:
    log = tmp_path / "error.log"
    log.write_text(
        START.format(n=1)
        + PREFORK
        + START.format(n=2)
        + PREFORK
        + START.format(n=3)
        + EVENT_FULL * 2
    )
    evidence = read_error_logs([str(log)])
    first, second = error_log_citations(evidence, "prefork", _metrics(rate), rate)  # type: ignore[arg-type]
    assert first.startswith(
        "the error log shows 'server reached MaxRequestWorkers setting' "
        "in 2 of the server's 3 runs in the log on 2026-12-02 11:56 "
        "(AH00161, prefork)"
    )
    assert verdict in first
    assert f"at the profile's {rate:g} req/s" in first
    assert second.endswith(
        "2 times (once a second while it lasted) on 2026-12-03 09:00 "
        "(AH03490, event); written under event, not this config's prefork"
    )


def test_measure_error_log_without_a_server_still_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "error.log"
    log.write_text(PREFORK * 2)
    code = main(["measure", "--pid", "999999999", "--error-log", str(log), "--format", "json"])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["error_log"]["messages"]["AH00161"]["count"] == 2
    assert "not_measured" in document


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_recommend_cites_the_error_log(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "error.log"
    log.write_text(PREFORK * 3)
    conf = Path(__file__).resolve().parents[2] / "examples/debian/apache2/apache2.conf"
    args = ["recommend", str(conf), "-p", "wordpress-prefork", "--error-log", str(log)]
    assert main([*args, "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        document = json.loads(out)
        jsonschema.Draft202012Validator(report_schema()).validate(document)
        cited = document["error_log"]["citations"]
        assert len(cited) == 1
        assert "the model agrees" in cited[0]
    else:
        # The citation is one of the reasons, and the log's own section follows the report.
        why = out[out.index("Why") :]
        assert "the model agrees" in why.split("Snippet")[0]
        assert "Error log: " in out
        assert "in 3 runs of the server" in out


def test_measure_yaml_with_the_error_log_stays_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a server the YAML is comments only (the reason, then the evidence)."""
    log = tmp_path / "error.log"
    log.write_text(PREFORK)
    code = main(["measure", "--pid", "999999999", "--error-log", str(log), "--format", "yaml"])
    assert code == 0
    out = capsys.readouterr().out
    assert all(line.startswith("#") or not line for line in out.splitlines())
    assert "# AH00161  prefork" in out
