"""measure_memory on fake /proc trees: figures, permission denied, exits mid-read, the profile."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from capplan.errors import CapplanError
from capplan.measure import ProcFS, measure_memory, measurement_to_profile_memory
from capplan.measure.pipeline import measure
from capplan.measure.procfs import ReadBytes
from capplan.profile import profile_from_text
from capplan.render.measure import render_json, render_profile_memory, render_table
from tests.measure.fakeproc import DATA, FakeProc

KIB = 1024
MOUNT = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
JSON_KEYS = {
    "mpm",
    "processes",
    "threads",
    "pss_total_bytes",
    "rss_total_bytes",
    "parent_bytes",
    "shared_bytes",
    "private_per_process_bytes",
    "per_thread_bytes",
    "cgroup_limit_bytes",
    "warnings",
}


def prefork(tmp_path: Path) -> FakeProc:
    fake = FakeProc(tmp_path)
    fake.server(100, {101: (1, 600), 102: (1, 640), 103: (1, 680)}, mpm="prefork")
    fake.cgroup("0::/web\n", MOUNT, {"/sys/fs/cgroup/web/memory.max": "2147483648\n"}, pid=100)
    fake.write("/proc/meminfo", "MemTotal:       24684084 kB\n")
    return fake


def worker(tmp_path: Path, threads: tuple[int, ...]) -> FakeProc:
    fake = FakeProc(tmp_path)
    smaps = (DATA / "worker-child.smaps").read_text()
    fake.add(
        100,
        1,
        private_kib=150,
        maps="x /usr/lib/apache2/modules/mod_mpm_worker.so\n",
        children=tuple(range(101, 101 + len(threads))),
    )
    for offset, count in enumerate(threads):
        # 300 KiB per process plus 12 KiB per thread.
        fake.add(101 + offset, 100, threads=count, private_kib=300 + 12 * count, smaps=smaps)
    return fake


def test_prefork_figures(tmp_path: Path) -> None:
    m = measure_memory(pid=100, fs=prefork(tmp_path).fs())
    f = m.memory
    assert f is not None
    assert (m.mpm, f.processes, f.threads) == ("prefork", 3, 3)
    assert f.parent_bytes == 200 * KIB
    assert f.private is not None
    assert f.private.mean_bytes == 640 * KIB
    # Children of 600, 640 and 680 KiB: sample standard deviation 40 KiB.
    assert f.private.stdev_bytes == 40 * KIB
    # pss = private + shared/4 for each process (fakeproc), so shared = 4 × 3000/4 KiB.
    assert f.shared_bytes == 4 * 750 * KIB
    assert f.pss_total_bytes == (200 + 600 + 640 + 680 + 4 * 750) * KIB
    assert m.cgroup is not None
    assert m.cgroup.limit_bytes == 2 << 30
    assert m.ram_bytes == 2 << 30
    assert measurement_to_profile_memory(m) == {
        "ram": 2 << 30,
        "parent": 200 * KIB,
        "shared": 3000 * KIB,
        "prefork_process": 640 * KIB,
        "process_spread": 40 * KIB,
    }
    data = json.loads(render_json(m))
    assert data["private_per_process"]["stdev_bytes"] == 40 * KIB
    assert set(data) >= JSON_KEYS
    assert data["per_thread_bytes"] is None
    assert "PSS total" in render_table(m)


@pytest.mark.parametrize(
    ("threads", "method"),
    [
        pytest.param((27, 27, 15, 27), "fit", id="fit-when-thread-counts-differ"),
        pytest.param((27, 27, 27), "stacks", id="stacks-when-equal"),
    ],
)
def test_worker_per_thread_cost(tmp_path: Path, threads: tuple[int, ...], method: str) -> None:
    m = measure_memory(pid=100, fs=worker(tmp_path, threads).fs())
    assert m.mpm == "worker"
    assert m.memory is not None
    cost = m.memory.thread_cost
    assert cost is not None
    assert cost.method == method
    if method == "fit":
        assert (cost.process_base_bytes, cost.per_thread_bytes) == (300 * KIB, 12 * KIB)
    else:
        # From the real smaps' stacks and arenas (27 stacks, about 11 KiB each).
        assert 4 * KIB <= cost.per_thread_bytes <= 64 * KIB
    profile = measurement_to_profile_memory(m)
    assert set(profile) == {"parent", "shared", "threaded_process", "thread", "process_spread"}


def test_permission_denied_as_another_user(tmp_path: Path) -> None:
    """Reading as www-data: the root parent's smaps_rollup and maps are refused, children read."""
    fake = prefork(tmp_path)
    fake.denied |= {"/proc/100/smaps_rollup", "/proc/100/maps", "/proc/100/smaps"}
    m = measure_memory(pid=100, fs=fake.fs())
    f = m.memory
    assert f is not None
    assert f.parent_bytes is None
    assert f.pss_total_bytes is None
    assert f.private is not None
    assert f.private.mean_bytes == 640 * KIB
    assert f.rss_total_bytes == (200 + 600 + 640 + 680 + 4 * 3000) * KIB
    assert m.mpm == "prefork"  # from the children's thread counts
    assert any("unreadable for 1 of 4 processes" in w for w in m.warnings)
    assert "parent private  unknown" in render_table(m)
    assert "parent" not in measurement_to_profile_memory(m)


def test_nothing_readable_but_status(tmp_path: Path) -> None:
    fake = prefork(tmp_path)
    fake.denied |= {f"/proc/{pid}/smaps_rollup" for pid in (100, 101, 102, 103)}
    m = measure_memory(pid=100, fs=fake.fs())
    assert m.memory is not None
    assert m.memory.private is None
    assert m.memory.rss_total_bytes is not None
    assert json.loads(render_json(m))["private_per_process_bytes"] is None


def exits_when_read(fake: FakeProc, pid: int) -> ProcFS:
    """A ProcFS on which process `pid` exits just as its smaps_rollup is opened."""
    real = fake.reader()

    def read(path: Path) -> bytes:
        if path == fake.root / f"proc/{pid}/smaps_rollup":
            fake.remove(pid)
        return real(path)

    return ProcFS(fake.root, read)


def test_child_exits_between_listing_and_reading(tmp_path: Path) -> None:
    m = measure_memory(pid=100, fs=exits_when_read(prefork(tmp_path), 102))
    assert m.memory is not None
    assert m.memory.processes == 2
    assert "PID 102 exited during the measurement" in m.warnings


def test_parent_exits_mid_read(tmp_path: Path) -> None:
    with pytest.raises(CapplanError, match="PID 100 exited during the measurement"):
        measure_memory(pid=100, fs=exits_when_read(prefork(tmp_path), 100))


def test_a_real_process_exits_mid_read(tmp_path: Path) -> None:
    """A real shell (run as `httpd`) with two sleeping children; one is killed mid-read."""
    binary = tmp_path / "httpd"
    shutil.copy(shutil.which("sh") or "/bin/sh", binary)
    shell = subprocess.Popen([str(binary), "-c", "sleep 30 & sleep 30 & wait"])
    children: list[int] = []
    try:
        deadline = time.monotonic() + 5
        while len(children) < 2 and time.monotonic() < deadline:
            text = Path(f"/proc/{shell.pid}/task/{shell.pid}/children").read_text()
            children = [int(w) for w in text.split()]
            time.sleep(0.01)
        victim = children[0]
        real: ReadBytes = ProcFS().read_bytes

        def kill_on_read(path: Path) -> bytes:
            if path == Path(f"/proc/{victim}/smaps_rollup"):
                os.kill(victim, 9)
                while Path(f"/proc/{victim}").exists() and time.monotonic() < deadline:
                    time.sleep(0.005)  # the shell's `wait` reaps it
            return real(path)

        m = measure_memory(pid=shell.pid, fs=ProcFS(Path("/"), kill_on_read))
        assert m.memory is not None
        assert m.memory.processes == 1
        assert f"PID {victim} exited during the measurement" in m.warnings
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        shell.kill()
        shell.wait()


def test_a_process_that_has_exited() -> None:
    gone = subprocess.Popen(["sleep", "0"])
    gone.wait()
    with pytest.raises(CapplanError, match=f"--pid {gone.pid}: no such process"):
        measure_memory(pid=gone.pid)


def test_the_yaml_section_loads_as_a_profile(tmp_path: Path) -> None:
    m = measure_memory(pid=100, fs=worker(tmp_path, (27, 15, 27)).fs())
    section = render_profile_memory(m)
    text = "version: 1\ntraffic:\n  requests_per_second: 10\n  service_time: 80ms\n" + section
    memory = profile_from_text(text, "measured.yaml").memory
    expected = measurement_to_profile_memory(m)
    assert memory.threaded_process_bytes == math.ceil(expected["threaded_process"] / KIB) * KIB
    assert memory.thread_bytes == math.ceil(expected["thread"] / KIB) * KIB
    assert memory.parent_bytes == math.ceil(expected["parent"] / KIB) * KIB
    assert "# prefork_process: not measured" in section


def test_status_only_when_no_server_is_found(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    fake.add(1, 0, name="init")
    status = (DATA / "status-event-auto.txt").read_text()
    m = measure(
        status_url="http://127.0.0.1:1/server-status?auto",
        fs=fake.fs(),
        fetch=lambda url, timeout_s: status,
        interval_s=0,
        default_pidfiles=(),
    )
    assert m.memory is None
    assert m.scoreboard is not None
    assert m.mpm == "event"
    assert any("no running httpd found" in w for w in m.warnings)
    assert json.loads(render_json(m))["processes"] is None


def test_the_process_mpm_beats_the_status_pages(tmp_path: Path) -> None:
    """A worker server whose status URL answers for an event server (another server on the
    port): the mapped mod_mpm_worker.so wins, and the disagreement is a warning."""
    fake = FakeProc(tmp_path)
    fake.server(100, {101: (27, 2000), 102: (27, 2000)}, mpm="worker")
    status = (DATA / "status-event-auto.txt").read_text()
    m = measure(
        pid=100,
        status_url="http://127.0.0.1:1/server-status?auto",
        fs=fake.fs(),
        fetch=lambda url, timeout_s: status,
        interval_s=0,
    )
    assert (m.mpm, m.mpm_evidence) == ("worker", "mod_mpm_worker.so is loaded")
    assert "the scoreboard says event, /proc suggested worker (mod_mpm_worker.so is loaded)" in (
        m.warnings
    )
