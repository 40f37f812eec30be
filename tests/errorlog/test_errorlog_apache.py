"""A real apache2 pushed to its MaxRequestWorkers on 127.0.0.1 writes AH00161 (prefork) and
AH00484 (event); `capplan measure --error-log` counts exactly what `grep -c` counts."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from capplan.cli import main
from tests.httpd import base_config, free_port, prepare_root, running_server

pytestmark = pytest.mark.apache
HOLD_S = 3.5  # the parent checks its workers once a second
TUNING = {
    "prefork": "StartServers 2\nMinSpareServers 1\nMaxSpareServers 2\nMaxRequestWorkers 2\n",
    "event": (
        "ServerLimit 1\nThreadsPerChild 2\nThreadLimit 2\nMaxRequestWorkers 2\nStartServers 1\n"
        "MinSpareThreads 1\nMaxSpareThreads 4\n"
    ),
}
CODES = {"prefork": "AH00161", "event": "AH00484"}


@contextlib.contextmanager
def held_connections(port: int, count: int) -> Iterator[None]:
    """`count` connections that send half a request and wait: each holds a worker reading it."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sockets.append(sock)
        yield
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.parametrize("mpm", ["prefork", "event"])
def test_saturation_is_counted_like_grep(
    mpm: str, apache2: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / mpm
    prepare_root(root)
    port = free_port()
    conf = root / "conf" / "httpd.conf"
    conf.write_text(base_config(root, mpm, port) + "Timeout 30\n" + TUNING[mpm])
    log = root / "logs" / "error.log"
    with running_server(root, conf, port) as running:
        time.sleep(1.0)
        with held_connections(port, 3):
            deadline = time.monotonic() + HOLD_S
            while time.monotonic() < deadline and CODES[mpm] not in log.read_text():
                time.sleep(0.25)
        args = ["measure", "--pid", str(running.pid), "--no-status", "--error-log", str(log)]
        assert main([*args, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    messages = document["error_log"]["messages"]
    assert messages[CODES[mpm]]["count"] >= 1, log.read_text()
    for code, counted in messages.items():
        grep = subprocess.run(
            ["grep", "-c", code, str(log)], capture_output=True, text=True, check=False
        )
        assert counted["count"] == int(grep.stdout.strip() or 0), code
