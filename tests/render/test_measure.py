"""Rendering a Measurement: profile sizes rounded up, the table, the YAML comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from capplan.measure import measure_memory
from capplan.measure.pipeline import Measurement, measure
from capplan.render.measure import profile_size, render_profile_memory, render_table
from tests.measure.fakeproc import DATA, FakeProc


@pytest.mark.parametrize(
    ("size_bytes", "text"),
    [
        pytest.param(11_985, "12KiB", id="thread-rounded-up"),
        pytest.param(1024, "1KiB", id="exact-kib"),
        pytest.param(10 * 2**20, "10MiB", id="ten-mib"),
        pytest.param(10 * 2**20 + 1, "11MiB", id="above-ten-mib-rounded-up"),
        pytest.param(8 * 2**30, "8192MiB", id="ram"),
    ],
)
def test_profile_size(size_bytes: int, text: str) -> None:
    assert profile_size(size_bytes) == text


def _event(tmp_path: Path) -> Measurement:
    fake = FakeProc(tmp_path)
    fake.server(100, {101: (27, 700), 102: (27, 720)}, mpm="event")
    fake.write("/proc/meminfo", "MemTotal:        8388608 kB\n")
    text = (DATA / "status-event-auto.txt").read_text()
    pages = iter([text, text.replace("Total Accesses: 0", "Total Accesses: 31")])
    return measure(
        pid=100,
        status_url="http://127.0.0.1/s",
        fs=fake.fs(),
        interval_s=0.01,
        fetch=lambda url, timeout_s: next(pages),
    )


def test_table_of_an_event_server(tmp_path: Path) -> None:
    table = render_table(_event(tmp_path))
    assert "MPM             event (mod_mpm_event.so is loaded)" in table
    assert "processes       2 children, 54 threads" in table
    assert "slot states     _49 W1 .100" in table
    assert "connections     0 total, 0 writing, 0 keep-alive, 0 closing" in table
    assert "no cgroup limit (host RAM 8 GiB)" in table


def test_yaml_section_of_an_event_server(tmp_path: Path) -> None:
    text = render_profile_memory(_event(tmp_path))
    lines = text.splitlines()
    assert lines[0] == "# measured by capplan measure: event, 2 children, 54 threads"
    assert lines[1].startswith("# observed request rate: ")
    assert "  ram: 8192MiB" in text
    assert "host MemTotal (no cgroup limit)" in text
    assert "  # prefork_process: not measured" in text


def test_yaml_of_a_prefork_server_leaves_threads_out(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    fake.server(100, {101: (1, 700)}, mpm="prefork")
    text = render_profile_memory(measure_memory(pid=100, fs=fake.fs()))
    assert "  prefork_process: 700KiB" in text
    assert "  # thread: not measured" in text
    assert "observed request rate" not in text
