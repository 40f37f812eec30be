"""Parsing the kernel's files: stat, status, smaps_rollup, smaps, mountinfo, and read failures."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from capplan.measure.procfs import (
    ProcFS,
    ProcReadError,
    parse_mountinfo,
    parse_rollup,
    parse_smaps,
    parse_stat,
    parse_status,
    read_children,
    read_listen_ports,
    read_rollup,
)
from tests.measure.fakeproc import DATA, FakeProc

KIB = 1024


@pytest.mark.parametrize(
    ("text", "comm", "state", "ppid"),
    [
        pytest.param((DATA / "worker-child.stat").read_text(), "apache2", "S", 18900, id="real"),
        pytest.param("7 (a b) c)) R 1 7 7 0 -1\n", "a b) c)", "R", 1, id="comm-with-parens"),
    ],
)
def test_parse_stat(text: str, comm: str, state: str, ppid: int) -> None:
    stat = parse_stat(7, text)
    assert (stat.comm, stat.state, stat.ppid) == (comm, state, ppid)


def test_parse_status_of_a_real_worker_child() -> None:
    status = parse_status(18901, (DATA / "worker-child.status").read_text())
    assert (status.name, status.state, status.ppid, status.uid) == ("apache2", "S", 18900, 0)
    assert status.threads == 27
    assert status.vm_rss_bytes == 4636 * KIB


def test_parse_rollup_of_a_real_worker_child() -> None:
    rollup = parse_rollup("x", (DATA / "worker-child.smaps_rollup").read_text())
    assert rollup.rss_bytes == 4636 * KIB
    assert rollup.pss_bytes == 1341 * KIB
    assert rollup.uss_bytes == 616 * KIB
    assert rollup.shared_clean_bytes + rollup.shared_dirty_bytes == (3556 + 464) * KIB


def test_smaps_sums_agree_with_the_rollup() -> None:
    """smaps (per mapping) and smaps_rollup were read at the same moment: Private and Rss match."""
    mappings = parse_smaps((DATA / "worker-child.smaps").read_text())
    summed = parse_rollup("x", (DATA / "worker-child.smaps").read_text())
    assert len(mappings) == 190
    assert sum(m.private_bytes for m in mappings) == summed.uss_bytes
    assert sum(m.rss_bytes for m in mappings) == summed.rss_bytes
    assert mappings[0].pathname.endswith("/apache2")


def test_empty_rollup_means_the_process_is_exiting() -> None:
    with pytest.raises(ProcReadError) as caught:
        parse_rollup("/proc/5/smaps_rollup", "")
    assert caught.value.reason == "gone"


def test_parse_mountinfo_unescapes_and_keeps_options() -> None:
    text = (
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "41 31 0:38 /ctr\\040one /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    )
    v1, v2 = parse_mountinfo(text)
    assert (v1.mountpoint, v1.fstype, "memory" in v1.super_options) == (
        "/sys/fs/cgroup/memory",
        "cgroup",
        True,
    )
    assert (v2.root, v2.fstype) == ("/ctr one", "cgroup2")


def test_read_failures_are_classified(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    fake.add(10, 1)
    fake.denied.add("/proc/10/smaps_rollup")
    fs = fake.fs()
    with pytest.raises(ProcReadError) as denied:
        read_rollup(fs, 10)
    assert denied.value.reason == "denied"
    with pytest.raises(ProcReadError) as gone:
        read_rollup(fs, 11)
    assert gone.value.reason == "gone"


def test_rollup_falls_back_to_smaps_on_old_kernels(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    fake.add(10, 1, smaps=(DATA / "worker-child.smaps").read_text())
    (tmp_path / "proc/10/smaps_rollup").unlink()
    assert read_rollup(fake.fs(), 10).uss_bytes == 616 * KIB


def test_children_from_every_task(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    fake.add(10, 1, threads=3, children=(11,))
    fake.write("/proc/10/task/10002/children", "12 13 ")
    assert sorted(read_children(fake.fs(), 10) or ()) == [11, 12, 13]


def test_listen_ports_of_this_process() -> None:
    """A real listening socket of the test process is found through fd and net/tcp."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port in read_listen_ports(ProcFS(), os.getpid())
