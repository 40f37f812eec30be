"""Hostile inputs to `capplan measure` and `inspect`: devices and FIFOs as PID files or
`apachectl -V` output, absurd intervals, a trickling status page, processes that are not
httpd, a lying scoreboard, a vanished PID."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.hostile import inputs
from tests.hostile.harness import assert_error, run


class _Server:
    """A one-thread HTTP server on 127.0.0.1 answering every connection with `respond`."""

    def __init__(self, respond: str, *, trickle_s: float | None = None) -> None:
        self.respond = respond.encode()
        self.trickle_s = trickle_s
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        deadline = time.monotonic() + 30  # bounded, whatever happens
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(4096)
                if self.trickle_s is None:
                    conn.sendall(self.respond)
                    continue
                for byte in self.respond:
                    if self.stop.wait(self.trickle_s):
                        break
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def _status_page(body: str) -> str:
    return (
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )


def test_item05_dev_zero_as_pid_file(tmp_path: Path) -> None:
    result = run(["measure", "--pidfile", "/dev/zero", "--no-status"], cwd=tmp_path,
                 memory_mb=250, seconds=10)  # fmt: skip
    assert_error(result, 2, "/dev/zero: cannot read the PID file: not a regular file")


def test_item05_dev_zero_as_apachectl_v(tmp_path: Path) -> None:
    conf = inputs.config(tmp_path)
    result = run(["inspect", str(conf), "--apachectl-v", "/dev/zero"], cwd=tmp_path,
                 memory_mb=250, seconds=10)  # fmt: skip
    assert_error(result, 2, "/dev/zero: cannot read: not a regular file")


@pytest.mark.parametrize("interval", ["inf", "1e300", "nan", "-1"])
def test_item08_absurd_intervals(tmp_path: Path, interval: str) -> None:
    result = run(["measure", "--pid", "1", "--interval", interval], cwd=tmp_path, seconds=10)
    assert result.code == 2, result.err
    if interval == "-1":  # typer's own range check
        assert result.first_line.startswith(
            "capplan measure: error: Invalid value for '--interval'"
        )
    else:
        assert result.first_line == (
            f"--interval {float(interval)!r}: expected seconds from 0 to 3600 between the two "
            "status samples"
        )


def test_item09_a_trickling_status_page_is_given_up(tmp_path: Path, fake_httpd: int) -> None:
    server = _Server(_status_page("BusyWorkers: 1\nIdleWorkers: 3\n" + "x" * 100), trickle_s=0.5)
    try:
        url = f"http://127.0.0.1:{server.port}/server-status?auto"
        args = ["measure", "--pid", str(fake_httpd), "--status-url", url, "--interval", "0"]
        result = run(args, cwd=tmp_path, seconds=15)
    finally:
        server.close()
    assert result.code == 0, result.err
    assert result.seconds < 8
    assert f"scoreboard not read: {url}: no complete answer within 2 s" in result.out


def test_item10_fifos_without_writer(tmp_path: Path) -> None:
    fifo = inputs.fifo(tmp_path)
    conf = inputs.config(tmp_path)
    measured = run(["measure", "--pidfile", str(fifo), "--no-status"], cwd=tmp_path, seconds=10)
    assert_error(measured, 2, f"{fifo}: cannot read the PID file: not a regular file")
    inspected = run(["inspect", str(conf), "--apachectl-v", str(fifo)], cwd=tmp_path, seconds=10)
    assert_error(inspected, 2, f"{fifo}: cannot read: not a regular file")


def test_item21_a_process_that_is_not_httpd(tmp_path: Path, not_httpd: int) -> None:
    result = run(["measure", "--pid", str(not_httpd), "--no-status"], cwd=tmp_path, seconds=10)
    assert_error(
        result,
        2,
        f"--pid {not_httpd}: PID {not_httpd} is 'sleep', not httpd: it is not named "
        "apache2 or httpd, and its memory map shows no APR library",
    )


def test_item21_pid_1(tmp_path: Path) -> None:
    result = run(["measure", "--pid", "1", "--no-status"], cwd=tmp_path, seconds=10)
    assert result.code == 2, result.out
    assert result.first_line.startswith("--pid 1: PID 1 is ")


def test_item21_warnings_travel_with_the_yaml(tmp_path: Path, fake_httpd: int) -> None:
    args = ["measure", "--pid", str(fake_httpd), "--no-status", "--format", "yaml"]
    result = run(args, cwd=tmp_path, seconds=10)
    assert result.code == 0, result.err
    assert result.out.splitlines()[1] == (
        "# warning: the server has no child processes: nothing per process to measure"
    )


def test_item21_negative_scoreboard_counts_are_refused(tmp_path: Path, fake_httpd: int) -> None:
    server = _Server(_status_page("BusyWorkers: 1\nIdleWorkers: -3\nScoreboard: _W\n"))
    try:
        url = f"http://127.0.0.1:{server.port}/server-status?auto"
        args = ["measure", "--pid", str(fake_httpd), "--status-url", url, "--interval", "0"]
        result = run(args, cwd=tmp_path, seconds=10)
    finally:
        server.close()
    assert result.code == 0, result.err
    assert f"scoreboard not read: {url}: IdleWorkers: -3 is negative, not a count" in result.out


def test_held_vanished_pid(tmp_path: Path) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    result = run(["measure", "--pid", str(proc.pid), "--no-status"], cwd=tmp_path, seconds=10)
    assert_error(
        result,
        2,
        f"--pid {proc.pid}: no such process {proc.pid} (it is not running or has exited)",
    )
