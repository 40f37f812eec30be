"""The cgroup memory limit: v2 memory.max, v1 memory.limit_in_bytes, ancestors, containers."""

from __future__ import annotations

from pathlib import Path

import pytest

from capplan.measure.cgroup import memory_limit
from tests.measure.fakeproc import FakeProc

V2_MOUNT = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
V1_MOUNT = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
HOST_LIMIT_V1 = "9223372036854771712\n"  # PAGE_COUNTER_MAX pages: "no limit"

CASES = [
    pytest.param(
        "0::/system.slice/apache2.service\n",
        V2_MOUNT,
        {"/sys/fs/cgroup/system.slice/apache2.service/memory.max": "536870912\n"},
        536870912,
        id="v2-service-limit",
    ),
    pytest.param(
        "0::/system.slice/apache2.service\n",
        V2_MOUNT,
        {
            "/sys/fs/cgroup/system.slice/apache2.service/memory.max": "max\n",
            "/sys/fs/cgroup/system.slice/memory.max": "1073741824\n",
        },
        1073741824,
        id="v2-parent-slice-limit",
    ),
    pytest.param(
        "0::/user.slice\n",
        V2_MOUNT,
        {"/sys/fs/cgroup/user.slice/memory.max": "max\n"},
        None,
        id="v2-max-is-none",
    ),
    pytest.param(
        "0::/\n",
        "30 23 0:26 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n",
        {"/sys/fs/cgroup/memory.max": "268435456\n"},
        268435456,
        id="v2-container-namespace",
    ),
    pytest.param(
        "0::/docker/abc\n",
        "30 23 0:26 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n",
        {"/sys/fs/cgroup/memory.max": "268435456\n"},
        268435456,
        id="v2-container-mount-root",
    ),
    pytest.param(
        "4:memory:/process_api/381f\n0::/\n",
        V1_MOUNT,
        {
            "/sys/fs/cgroup/memory/process_api/381f/memory.limit_in_bytes": HOST_LIMIT_V1,
            "/sys/fs/cgroup/memory/memory.limit_in_bytes": HOST_LIMIT_V1,
        },
        None,
        id="v1-unlimited",
    ),
    pytest.param(
        "4:memory:/kubepods/pod1/ctr\n",
        V1_MOUNT,
        {
            "/sys/fs/cgroup/memory/kubepods/pod1/ctr/memory.limit_in_bytes": HOST_LIMIT_V1,
            "/sys/fs/cgroup/memory/kubepods/pod1/memory.limit_in_bytes": "2147483648\n",
        },
        2147483648,
        id="v1-pod-limit",
    ),
    pytest.param("0::/\n", "", {}, None, id="no-cgroup-mounted"),
]


@pytest.mark.parametrize(("cgroup", "mountinfo", "files", "expected"), CASES)
def test_memory_limit(
    tmp_path: Path, cgroup: str, mountinfo: str, files: dict[str, str], expected: int | None
) -> None:
    fake = FakeProc(tmp_path)
    fake.cgroup(cgroup, mountinfo, files, pid=42)
    assert memory_limit(fake.fs(), 42).limit_bytes == expected


def test_unreadable_cgroup_of_the_server_uses_our_own(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    fake.cgroup("0::/a\n", V2_MOUNT, {"/sys/fs/cgroup/a/memory.max": "1048576\n"}, pid=42)
    fake.denied.add("/proc/42/cgroup")
    limit = memory_limit(fake.fs(), 42)
    assert limit.limit_bytes == 1048576
    assert any("permission denied" in w for w in limit.warnings)
