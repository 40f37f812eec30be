"""`recommend --measure`: the memory figures of a running httpd replace the profile's guesses,
and the report lists each one with the PID and the value it replaced."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from capplan.measure import measure_memory, measurement_to_profile_memory
from capplan.measure.procfs import ProcFS, read_children
from capplan.pipeline import recommend_report
from capplan.profile import load_profile
from capplan.render.dispatch import render_report
from capplan.render.format import format_bytes
from capplan.render.formats import OutputFormat
from tests.httpd import base_config, free_port, prepare_root, running_server
from tests.recommend.profiles import PROFILES_DIR

PROFILE = PROFILES_DIR / "wordpress-prefork.yaml"


@pytest.mark.apache
def test_measured_memory_replaces_the_profile_figures(apache2: str, tmp_path: Path) -> None:
    root = tmp_path / "server"
    prepare_root(root)
    port = free_port()
    conf = root / "conf" / "httpd.conf"
    conf.write_text(
        base_config(root, "prefork", port)
        + "StartServers 3\nMinSpareServers 3\nMaxSpareServers 4\nMaxRequestWorkers 8\n"
        + "ServerLimit 8\n"
    )
    guessed = load_profile(PROFILE).memory
    with running_server(root, conf, port) as server:
        # The port answers as soon as the parent listens, before it has forked every child.
        _wait_for_children(server.pid, 3)
        report = recommend_report(str(conf), str(PROFILE), somaxconn=4096, measure=True)
        again = measurement_to_profile_memory(measure_memory(config=str(conf)))
    used = report.profile.memory
    assert "prefork_process" in again
    # A bare prefork child is a few MiB, far from the profile's 45 MiB PHP child.
    assert guessed.prefork_process_bytes == 45 << 20
    assert used.prefork_process_bytes < 20 << 20
    # Every figure taken from the server is listed with the PID and the value it replaced;
    # the profile's memory.ram (4 GiB) is a budget and stays.
    subs = {s.key: s for s in report.substitutions}
    assert set(subs) == {
        "memory.parent",
        "memory.shared",
        "memory.prefork_process",
        "memory.process_spread",
    }
    # Three children: their spread is measured too, and replaces the profile's 0.
    assert subs["memory.process_spread"].value == used.process_spread_bytes
    assert subs["memory.process_spread"].replaced == 0
    assert subs["memory.prefork_process"].value == used.prefork_process_bytes
    assert subs["memory.prefork_process"].replaced == 45 << 20
    assert all(s.pid == server.pid and s.origin == "measured" for s in subs.values())
    assert used.ram_bytes == guessed.ram_bytes
    assert dict(report.sources)["memory.prefork_process"] == f"measured (PID {server.pid})"
    text = render_report(report, OutputFormat.table)
    assert f"memory.prefork_process {format_bytes(used.prefork_process_bytes)}: measured " in text
    assert report.recommendation is not None
    assert report.recommendation.options


def _wait_for_children(pid: int, count: int, timeout_s: float = 10.0) -> None:
    """Until the process `pid` has `count` children (`read_children`, as `measure` finds them)."""
    deadline = time.monotonic() + timeout_s
    while len(read_children(ProcFS(), pid) or ()) < count:
        assert time.monotonic() < deadline, f"PID {pid} has fewer than {count} children"
        time.sleep(0.05)
