"""Bad input to `capplan profile`: a clear one-line error naming file and line, exit 2, no
traceback and nothing written; or, below the bad-line limit, a counted skip."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from capplan.cli import main
from tests.logs.generator import LOG_FORMAT, TrafficModel, log_lines

SMALL = TrafficModel(visit_rate_per_s=2.0, duration_s=120.0)


def _good_lines(n: int | None = None) -> list[str]:
    lines = list(log_lines(SMALL, seed=7))
    return lines if n is None else lines[:n]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["profile", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _binary(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 256)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _wrong_format(path: Path) -> None:
    # common-format lines read as combined + %D %k %X
    path.write_text(
        "".join(
            f'192.0.2.{i} - - [01/May/2024:10:00:0{i} +0000] "GET / HTTP/1.1" 200 {i}\n'
            for i in range(5)
        )
    )


def _only_a_huge_line(path: Path) -> None:
    with path.open("wb") as fh:
        chunk = b"x" * (1 << 20)
        for _ in range(100):
            fh.write(chunk)
        fh.write(b"\n")


def _too_many_bad_lines(path: Path) -> None:
    good = _good_lines(20)
    path.write_text("".join(good[:10]) + "not a log line\n" * 5 + "".join(good[10:]))


# (id, writer, expected line of the error, expected text)
FATAL: list[tuple[str, Callable[[Path], None], int | None, str]] = [
    ("binary", _binary, 1, "no line matches the log format"),
    ("empty", _empty, None, "no log lines to read"),
    ("wrong-format", _wrong_format, 1, "line does not match the log format"),
    ("one-100MB-line", _only_a_huge_line, 1, "line longer than 1048576 bytes"),
    ("too-many-bad-lines", _too_many_bad_lines, 11, "5 of 25 lines (20.0%) are unusable"),
]


@pytest.mark.parametrize(
    ("writer", "line", "text"), [c[1:] for c in FATAL], ids=[c[0] for c in FATAL]
)
def test_fatal_input(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    writer: Callable[[Path], None],
    line: int | None,
    text: str,
) -> None:
    log = tmp_path / "access.log"
    writer(log)
    out = tmp_path / "profile.yaml"
    code, stdout, err = _run([str(log), "-f", LOG_FORMAT, "-o", str(out)], capsys)
    assert code == 2
    first = err.splitlines()[0]
    where = f"{log}:{line}: " if line is not None else f"{log}: "
    assert first.startswith(where), first
    assert text in first
    assert "Traceback" not in err
    assert stdout == ""
    assert not out.exists()


def test_few_bad_lines_are_counted_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _good_lines()
    log = tmp_path / "access.log"
    log.write_bytes(
        "".join(good[:50]).encode()
        + b"\x00\xff garbage\n"
        + b"x" * (2 << 20)
        + b"\n"
        + "".join(good[50:]).encode()
    )
    code, out, err = _run([str(log), "-f", LOG_FORMAT], capsys)
    assert code == 0, err
    assert f"{len(good) + 2:,} lines, {len(good):,} used, 2 skipped" in out
    assert (
        f"warning: 2 unusable lines skipped (first: {log}:51: line does not match the log "
        f"format; {log}:52: line longer than 1048576 bytes, skipped)"
    ) in err


def test_truncated_gzip_keeps_what_was_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = "".join(_good_lines()).encode()
    packed = gzip.compress(data)
    log = tmp_path / "access.log.gz"
    log.write_bytes(packed[: len(packed) * 2 // 3])
    code, out, err = _run([str(log), "-f", LOG_FORMAT], capsys)
    assert code == 0, err
    assert f"warning: {log}:" in err
    assert "gzip stream is truncated or corrupt" in err
    assert "version: 1" in out


def test_gzip_reads_like_plain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = "".join(_good_lines()).encode()
    plain, packed = tmp_path / "a.log", tmp_path / "a.log.gz"
    plain.write_bytes(data)
    packed.write_bytes(gzip.compress(data))
    _, out_plain, _ = _run([str(plain), "-f", LOG_FORMAT, "--name", "a"], capsys)
    _, out_gz, _ = _run([str(packed), "-f", LOG_FORMAT, "--name", "a"], capsys)
    assert out_plain.split("\n", 1)[1] == out_gz.split("\n", 1)[1]  # line 1 names the file


def test_stdin(tmp_path: Path) -> None:
    data = "".join(_good_lines()).encode()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from capplan.cli import run; run()",
            "profile",
            "-",
            "-f",
            LOG_FORMAT,
        ],
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert b"from 1 access log: <stdin>" in proc.stdout


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["missing.log"], "missing.log: cannot read: No such file or directory"),
        (["."], ".: is a directory, not a log file"),
        (["LOG", "--window", "0s"], "--window '0s': must be greater than 0"),
        (["LOG", "--window", "fast"], "--window: invalid duration"),
        (["LOG", "--peak", "p42"], "--peak 'p42': expected one of"),
        (["LOG", "--log-format", "%h %Z"], "Unrecognized LogFormat directive %Z"),
        (["LOG", "--log-format-name", "nope"], "--log-format-name 'nope': not a stock format"),
        (["LOG", "--log-format", "%h %t %>s"], "the log format has no request duration"),
        (["LOG", "--log-format", "%h %D"], "has no time stamp"),
        (["-", "-"], "standard input (-) can be read only once"),
    ],
    ids=[
        "missing",
        "directory",
        "zero-window",
        "bad-window",
        "bad-peak",
        "bad-format",
        "unknown-nickname",
        "no-duration",
        "no-time",
        "stdin-twice",
    ],
)
def test_bad_arguments(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    text: str,
) -> None:
    log = tmp_path / "access.log"
    log.write_text("192.0.2.1 [01/May/2024:10:00:00 +0000] 5\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = _run([str(log) if a == "LOG" else a for a in args], capsys)
    assert code == 2
    assert text in err.splitlines()[0], err
    assert "Traceback" not in err


def test_service_time_stands_in_for_a_missing_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            f'192.0.2.{i % 7} - - [01/May/2024:10:00:{i % 60:02d} +0000] "GET / HTTP/1.1" 200 5\n'
            for i in range(120)
        )
    )
    code, out, _ = _run([str(log), "--log-format-name", "common", "--service-time", "80ms"], capsys)
    assert code == 0
    assert "service_time: 80ms" in out


def test_impossible_date_is_a_bad_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _good_lines(40)
    broken = good[5].replace("/Nov/", "/Foo/")
    assert broken != good[5]
    log = tmp_path / "access.log"
    log.write_text("".join(good[:5]) + broken + "".join(good[5:]))
    code, out, err = _run([str(log), "-f", LOG_FORMAT], capsys)
    assert code == 0, err
    assert "41 lines, 40 used, 1 skipped" in out
    log.write_text(broken)
    code, _, err = _run([str(log), "-f", LOG_FORMAT], capsys)
    assert code == 2
    assert err.startswith(f"{log}:1: bad time stamp; no line matches the log format")


def test_defines_select_the_customlog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """-D reaches the config evaluator: <IfDefine> picks which CustomLog (and format) applies."""
    conf = tmp_path / "httpd.conf"
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "mod_mpm_event.so").write_bytes(b"")  # LoadModule needs a file
    conf.write_text(
        f'ServerRoot "{tmp_path}"\n'
        "LoadModule mpm_event_module modules/mod_mpm_event.so\n"
        'LogFormat "%h %t %D" short\n'
        f'LogFormat "{LOG_FORMAT.replace(chr(34), chr(92) + chr(34))}" planning\n'
        "<IfDefine PLANNING>\nCustomLog logs/access.log planning\n</IfDefine>\n"
        "CustomLog logs/other.log short\n"
    )
    log = tmp_path / "access.log"
    log.write_text("".join(_good_lines(50)))
    code, out, err = _run([str(log), "-c", str(conf)], capsys)
    assert code == 2  # without -D the short format applies, and nothing matches
    assert "no line matches the log format" in err
    code, out, err = _run([str(log), "-c", str(conf), "-D", "PLANNING"], capsys)
    assert code == 0, err
    assert f"# Log format: {LOG_FORMAT}" in out
