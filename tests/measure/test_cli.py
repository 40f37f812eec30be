"""`capplan measure` from the command line: exit codes, one-line errors, formats, --output."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from capplan.cli import main


def _dead_pid() -> int:
    proc = subprocess.Popen(["sleep", "0"])
    proc.wait()
    return proc.pid


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--pid", "DEAD"], "--pid DEAD: no such process DEAD", id="dead-pid"),
        pytest.param(["--pidfile", "PIDFILE"], "stale PID file: no such process", id="stale"),
        pytest.param(["--pidfile", "MISSING"], "cannot read the PID file: no such", id="missing"),
        pytest.param(
            ["--no-status", "--status-url", "http://x/"], "exclude each other", id="flags"
        ),
        pytest.param(["--pid", "0"], "Invalid value for '--pid': 0", id="pid-zero"),
        pytest.param(["--format", "xml"], "'xml' is not one of", id="format"),
        pytest.param(["-c", "BADCONF"], "bad.conf:1: Invalid command 'NoSuchDirective'", id="conf"),
    ],
)
def test_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    dead = str(_dead_pid())
    (tmp_path / "h.pid").write_text(dead + "\n")
    (tmp_path / "bad.conf").write_text("NoSuchDirective on\n")
    out = tmp_path / "out.json"
    replace = {
        "DEAD": dead,
        "PIDFILE": str(tmp_path / "h.pid"),
        "MISSING": str(tmp_path / "no"),
        "BADCONF": str(tmp_path / "bad.conf"),
    }
    argv = ["measure", *[replace.get(a, a) for a in args], "--output", str(out)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    first, *rest = captured.err.splitlines()
    assert message.replace("DEAD", dead) in first
    # A config error shows the offending line and a caret under it (house style); others are one
    # line.
    assert rest == ([] if "BADCONF" not in args else ["    NoSuchDirective on", "    ^"])
    assert "Traceback" not in captured.err
    assert not out.exists()


def test_a_process_that_is_not_httpd_is_refused(
    not_httpd: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["measure", "--pid", str(not_httpd), "--no-status", "--format", "json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"--pid {not_httpd}: PID {not_httpd} is 'sleep', not httpd: it is not named "
        "apache2 or httpd, and its memory map shows no APR library\n"
    )


def test_json_of_a_process_named_httpd(fake_httpd: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["measure", "--pid", str(fake_httpd), "--no-status", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema_version"] == 1
    assert data["parent_pid"] == fake_httpd
    assert data["processes"] == 0
    assert data["pss_total_bytes"] > 0
    assert "scoreboard" not in data


def test_status_url_down_is_a_warning(fake_httpd: int, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/server-status?auto"
    assert main(["measure", "--pid", str(fake_httpd), "--status-url", url]) == 0
    out = capsys.readouterr().out
    assert "PSS total" in out
    assert f"scoreboard not read: {url}: [Errno 111] Connection refused" in out


def test_yaml_to_a_file(
    fake_httpd: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "memory.yaml"
    argv = ["measure", "--pid", str(fake_httpd), "--no-status", "--format", "yaml", "-o", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out == ""
    text = out.read_text()
    assert "\nmemory:\n" in text
    assert "  parent: " in text
    assert "  ram: " in text


def test_only_status_when_no_server_is_found(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/server-status?auto"
    dead = _dead_pid()
    assert main(["measure", "--pid", str(dead), "--status-url", url]) == 2
    err = capsys.readouterr().err
    assert f"no such process {dead}" in err
    assert "Connection refused" in err
    assert err.count("\n") == 1
