"""The README's suggested planning LogFormat, written by a real apache2, gives a profile without
the coarse-time-stamp warning, and its think time is the client's (sub-second gaps)."""

from __future__ import annotations

import http.client
import re
import time
from pathlib import Path

import pytest

from capplan.cli import main
from tests.httpd import base_config, free_port, prepare_root, running_server

pytestmark = pytest.mark.apache
ROOT = Path(__file__).resolve().parents[2]
VISITS, REQUESTS, GAP_S = 12, 5, 0.12


def readme_logformat() -> str:
    """The format string of the README's `LogFormat "…" planning` line, unescaped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r'^LogFormat "((?:[^"\\]|\\.)*)" planning$', text, re.MULTILINE)
    assert match is not None, "the README lost its planning LogFormat"
    return match.group(1).replace('\\"', '"')


def test_the_planning_format_gives_sub_second_think_times(
    apache2: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fmt = readme_logformat()
    assert "%{usec}t" in fmt
    root = tmp_path / "srv"
    prepare_root(root)
    port = free_port()
    conf = root / "conf" / "httpd.conf"
    escaped = fmt.replace('"', '\\"')
    conf.write_text(
        base_config(root, "event", port)
        + f'LogFormat "{escaped}" planning\nCustomLog "{root}/logs/access.log" planning\n'
        + "KeepAlive On\nKeepAliveTimeout 5\n"
    )
    with running_server(root, conf, port):
        for _ in range(VISITS):
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            for _ in range(REQUESTS):
                client.request("GET", "/index.html")
                client.getresponse().read()
                time.sleep(GAP_S)
            client.close()
        time.sleep(0.3)  # the log is written when each request ends
    log = root / "logs" / "access.log"
    assert len(log.read_text().splitlines()) == VISITS * REQUESTS
    assert main(["profile", str(log), "--log-format", fmt]) == 0
    captured = capsys.readouterr()
    assert "think_time set" not in captured.err
    think = re.search(r"^  think_time: ([\d.]+)(ms|s)$", captured.out, re.MULTILINE)
    assert think is not None, captured.out
    seconds = float(think.group(1)) / (1000 if think.group(2) == "ms" else 1)
    assert GAP_S <= seconds < GAP_S + 0.1
