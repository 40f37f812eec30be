"""The warning about `AcceptFilter http none` on a server whose accept queue fills."""

from __future__ import annotations

from pathlib import Path

import pytest

from capplan.cli import main
from tests.httpd import base_config

# worker, 2 x 4 threads, ListenBacklog 4, as in the validation case worker-ka-overload-block.
WORKER = (
    "ServerLimit 2\nThreadLimit 4\nThreadsPerChild 4\nMaxRequestWorkers 8\nStartServers 2\n"
    "MinSpareThreads 1\nMaxSpareThreads 8\nListenBacklog 4\nKeepAliveTimeout 1\n"
)


def _check(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, rate: float) -> str:
    conf = tmp_path / "httpd.conf"
    conf.write_text(base_config(tmp_path, "worker", 8080) + WORKER + extra)
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "version: 1\nname: p\n"
        f"traffic: {{requests_per_second: {rate}, service_time: 30ms}}\n"
        "visits: {requests_per_visit: 3, think_time: 50ms, idle_hold_probability: 0.3}\n"
    )
    main(["check", str(conf), "-p", str(profile)])
    return capsys.readouterr().out


@pytest.mark.parametrize("protocol", ["http", "https", "HTTP"])
def test_plain_accept_near_the_limit_is_warned_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], protocol: str
) -> None:
    out = _check(tmp_path, capsys, f"AcceptFilter {protocol} none\n", rate=80)
    line = len((base_config(tmp_path, "worker", 8080) + WORKER).splitlines()) + 1
    assert f"AcceptFilter none ({tmp_path / 'httpd.conf'}:{line}) with a queue that fills" in out
    assert "remove the line" in out


@pytest.mark.parametrize(
    ("extra", "rate"),
    [
        pytest.param("", 80, id="default-deferred-accept"),
        pytest.param("AcceptFilter http data\n", 80, id="explicit-data"),
        pytest.param("AcceptFilter http none\nAcceptFilter http data\n", 80, id="last-wins"),
        pytest.param("AcceptFilter http none\n", 5, id="queue-never-fills"),
    ],
)
def test_no_warning_without_a_plain_queue_that_fills(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, rate: float
) -> None:
    assert "AcceptFilter none" not in _check(tmp_path, capsys, extra, rate)
