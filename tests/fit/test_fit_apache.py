"""`capplan fit --measure` on a live apache2 (prefork and event) on 127.0.0.1: the measured
figures are used, said so, and MaxRequestWorkers N fits while N + 1 does not."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capplan.cli import main
from tests.fit.test_fit import check_document
from tests.httpd import RunningServer, base_config, free_port, prepare_root, running_server

pytestmark = pytest.mark.apache
KIB = 1024


@pytest.fixture(scope="module", params=["prefork", "event"])
def server(
    request: pytest.FixtureRequest, apache2: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, RunningServer, Path]]:
    mpm: str = request.param
    root = tmp_path_factory.mktemp(f"fit-{mpm}")
    prepare_root(root)
    port = free_port()
    conf = root / "conf" / "httpd.conf"
    text = base_config(root, mpm, port)
    if mpm == "prefork":
        text += "StartServers 4\nMinSpareServers 4\nMaxSpareServers 8\n"
    else:
        text += "StartServers 2\nThreadsPerChild 10\nMinSpareThreads 10\nMaxSpareThreads 40\n"
    conf.write_text(text)
    with running_server(root, conf, port) as running:
        time.sleep(1.5)  # let the children settle
        yield mpm, running, conf


def _uss_bytes(pid: int) -> int:
    """Private_Clean + Private_Dirty of one process, read here without capplan."""
    total = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total += int(line.split()[1]) * KIB
    return total


def test_fit_with_the_measured_memory(
    server: tuple[str, RunningServer, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    mpm, running, conf = server
    assert main(["fit", str(conf), "--measure", "--ram", "2GiB", "--format", "json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    check_document(document)
    sources = document["sources"]
    assert sources["memory.parent"] == sources["memory.shared"] == "measured"
    if mpm == "prefork":
        assert sources["memory.prefork_process"] == "measured"
        children = [
            int(pid)
            for pid in Path(f"/proc/{running.pid}/task/{running.pid}/children").read_text().split()
        ]
        mean_uss = sum(_uss_bytes(pid) for pid in children) / len(children)
        measured = document["memory"]["prefork_process_bytes"]
        assert abs(measured - mean_uss) <= 0.1 * mean_uss
    else:
        assert sources["memory.threaded_process"] == sources["memory.thread"] == "measured"
        assert document["mpms"]["event"]["threads_per_child"] == 10
