"""The reserve for the rest of the box: PSS per process name, httpd and capplan left out."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from capplan.errors import CapplanError
from capplan.measure.others import measure_other_processes
from capplan.measure.procfs import ProcFS
from tests.measure.fakeproc import FakeProc

KIB = 1024


def test_groups_by_name_and_leaves_httpd_out(tmp_path: Path) -> None:
    proc = FakeProc(tmp_path)
    proc.add(10, 1, name="mysqld", private_kib=400_000, shared_kib=8000, pss_kib=402_000)
    proc.add(20, 1, name="php-fpm8.2", private_kib=30_000, shared_kib=4000, pss_kib=31_000)
    proc.add(21, 20, name="php-fpm8.2", private_kib=20_000, shared_kib=4000, pss_kib=21_000)
    proc.add(30, 1, name="apache2", private_kib=9_000, shared_kib=3000)
    proc.add(31, 30, name="apache2", private_kib=9_000, shared_kib=3000)
    proc.add(40, 1, name="zombie", state="Z (zombie)")
    others = measure_other_processes(proc.fs())
    assert [(g.name, g.processes, g.memory_bytes) for g in others.groups] == [
        ("mysqld", 1, 402_000 * KIB),
        ("php-fpm8.2", 2, 52_000 * KIB),
    ]
    assert others.total_bytes == 454_000 * KIB
    assert others.skipped_pids == 2
    assert others.by_rss == 0


def test_another_users_process_counts_by_rss(tmp_path: Path) -> None:
    proc = FakeProc(tmp_path, denied={"/proc/10/smaps_rollup"})
    proc.add(10, 1, name="redis-server", private_kib=5000, shared_kib=1000, pss_kib=5200)
    (group,) = measure_other_processes(proc.fs()).groups
    assert (group.name, group.memory_bytes, group.by_rss) == ("redis-server", 6000 * KIB, 1)


def test_excluded_pids_and_a_vanished_process(tmp_path: Path) -> None:
    proc = FakeProc(tmp_path)
    proc.add(10, 1, name="custom-httpd")
    proc.add(11, 1, name="cron")
    proc.write("/proc/12/stat", "")  # a directory whose process exited while listing
    others = measure_other_processes(proc.fs(), exclude_pids=(10,))
    assert [g.name for g in others.groups] == ["cron"]
    assert others.unreadable == 1


def test_real_processes_are_found_with_their_pss() -> None:
    """Five `sleep` processes of ours: counted once each, each with a PSS below its RSS."""
    sleepers = [subprocess.Popen(["sleep", "30"]) for _ in range(5)]
    try:
        time.sleep(0.2)
        others = measure_other_processes(ProcFS())
        group = next(g for g in others.groups if g.name == "sleep")
        assert group.processes >= 5
        assert group.memory_bytes > 0
    finally:
        for process in sleepers:
            process.kill()
            process.wait(timeout=5)


def test_an_unreadable_proc_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(CapplanError, match="cannot list the processes"):
        measure_other_processes(ProcFS(root=tmp_path / "nowhere"))
