"""Hostile access logs: impossible dates, no standard input, devices, FIFOs, gzip bombs."""

from __future__ import annotations

from pathlib import Path

from tests.hostile import inputs
from tests.hostile.harness import assert_error, run

COMMON = '%h %l %u %t "%r" %>s %b'


def test_item08_a_stamp_in_year_0000_is_a_bad_line(tmp_path: Path) -> None:
    log = inputs.access_log(tmp_path, "10/Oct/0000:13:55:36 -0700", name="year0.log")
    result = run(["profile", "-f", COMMON, str(log)], cwd=tmp_path, seconds=10)
    assert_error(
        result,
        2,
        f"{log}:1: bad time stamp; no line matches the log format (log format '{COMMON}')",
    )


def test_item08_closed_standard_input(tmp_path: Path) -> None:
    result = run(["profile", "-"], cwd=tmp_path, close_stdin=True, seconds=10)
    assert_error(result, 2, "<stdin>: no standard input to read")


def test_item10_a_device_is_no_log(tmp_path: Path) -> None:
    result = run(["profile", "/dev/zero"], cwd=tmp_path, memory_mb=250, seconds=10)
    assert_error(
        result, 2, "/dev/zero: cannot read: a device, not a log file (give a file, a pipe or -)"
    )


def test_item10_a_fifo_without_writer_reads_as_empty(tmp_path: Path) -> None:
    fifo = inputs.fifo(tmp_path, "access.fifo")
    result = run(["profile", "-f", COMMON, str(fifo)], cwd=tmp_path, seconds=10)
    assert_error(result, 2, f"{fifo}: no log lines to read")


def test_item10_a_pipe_is_still_read(tmp_path: Path) -> None:
    """`capplan profile - < log` and `<(zcat log)` are pipes: they must keep working."""
    stamps = [f"10/Oct/2024:13:55:{s:02d} +0000" for s in range(60) for _ in range(5)]
    log = inputs.access_log(tmp_path, *stamps)
    args = ["profile", "-f", COMMON, "--service-time", "20ms", "-"]
    result = run(args, cwd=tmp_path, stdin=log.read_bytes())
    assert result.code == 0, result.err
    assert "requests_per_second:" in result.out


def test_item11_a_gzip_of_256_mib_of_empty_lines(tmp_path: Path) -> None:
    """A 256 KB gzip holding 256 MiB of empty lines: bounded by decompression, not per line."""
    log = inputs.gzip_of_empty_lines(tmp_path, 256)
    result = run(["profile", "-j", "1", str(log)], cwd=tmp_path, memory_mb=400, seconds=20)
    assert_error(
        result,
        2,
        f"{log}:1: empty line; no line matches the log format (log format "
        '\'%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"\')',
    )


# --- the classes of hostile logs that already held ------------------------------------------------


def test_held_truncated_gzip(tmp_path: Path) -> None:
    log = inputs.truncated_gzip(tmp_path)
    args = ["profile", "-f", COMMON, "--service-time", "20ms", str(log)]
    result = run(args, cwd=tmp_path, seconds=10)
    assert result.code == 0, result.err
    assert "gzip stream is truncated or corrupt" in result.err
