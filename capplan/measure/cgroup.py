"""The memory limit that applies to a process: its cgroup's, not the host's MemTotal.

Stage: part of `capplan measure`. Input: a `ProcFS` and a process ID. Output: `CgroupLimit` (the
smallest limit on the path from the process's memory cgroup up to the hierarchy's root, or None
when no limit is set) plus what could not be read.
"""

from __future__ import annotations

from dataclasses import dataclass

from capplan.measure.procfs import Mount, ProcFS, ProcReadError, parse_cgroup, parse_mountinfo

# cgroup v1 reports "no limit" as PAGE_COUNTER_MAX pages (0x7ffffffffffff000 with 4 KiB pages);
# anything this large is not a limit a machine can have.
V1_UNLIMITED_BYTES = 1 << 62


@dataclass(frozen=True, slots=True)
class CgroupLimit:
    """`limit_bytes` None means unlimited (or unknown; then `warnings` says why)."""

    limit_bytes: int | None
    source: str  # the file the limit came from, or "" when none applies
    version: int | None  # 1 or 2; None when no memory cgroup was found
    warnings: tuple[str, ...] = ()


def _parse_limit(text: str, version: int) -> int | None:
    value = text.strip()
    if value == "max" or not value.isdigit():
        return None
    limit = int(value)
    return None if version == 1 and limit >= V1_UNLIMITED_BYTES else limit


def _cgroup_dir(mount: Mount, path: str) -> str:
    """Where the cgroup `path` (as /proc/PID/cgroup names it) lives under the mount point."""
    relative = path
    if mount.root != "/" and (path == mount.root or path.startswith(mount.root + "/")):
        relative = path[len(mount.root) :]
    return mount.mountpoint.rstrip("/") + "/" + relative.strip("/")


def memory_limit(fs: ProcFS, pid: int) -> CgroupLimit:
    """The effective memory limit of `pid`: the minimum over its cgroup and every ancestor.

    cgroup v2: `memory.max` ("max" = none); v1: `memory.limit_in_bytes` of the `memory`
    controller. The cgroup path comes from `/proc/PID/cgroup` (else `/proc/self/cgroup`), the
    mount point from `/proc/self/mountinfo`.
    """
    warnings: list[str] = []
    try:
        entries = parse_cgroup(fs.read_text(f"/proc/{pid}/cgroup"))
    except ProcReadError as exc:
        try:
            entries = parse_cgroup(fs.read_text("/proc/self/cgroup"))
        except ProcReadError:
            return CgroupLimit(None, "", None, (f"cgroup memory limit unknown: {exc}",))
        warnings.append(f"{exc}; using capplan's own cgroup for the memory limit")
    try:
        mounts = parse_mountinfo(fs.read_text("/proc/self/mountinfo"))
    except ProcReadError as exc:
        return CgroupLimit(None, "", None, (*warnings, f"cgroup memory limit unknown: {exc}"))

    v1 = [e for e in entries if "memory" in e[1]]
    v1_mounts = [m for m in mounts if m.fstype == "cgroup" and "memory" in m.super_options]
    v2 = [e for e in entries if e[0] == "0" and not e[1]]
    v2_mounts = [m for m in mounts if m.fstype == "cgroup2"]
    # A hybrid host keeps the memory controller on v1 even when a v2 tree is mounted.
    if v1 and v1_mounts:
        version, mount, path, filename = 1, v1_mounts[0], v1[0][2], "memory.limit_in_bytes"
    elif v2 and v2_mounts:
        version, mount, path, filename = 2, v2_mounts[0], v2[0][2], "memory.max"
    else:
        return CgroupLimit(None, "", None, tuple(warnings))

    directory = _cgroup_dir(mount, path)
    top = mount.mountpoint.rstrip("/") or "/"
    if not fs.exists(directory):
        # Inside a container without a cgroup namespace the path names the host's tree, while
        # the container sees its own cgroup mounted at the mount point.
        directory = top
    best: tuple[int, str] | None = None
    current = directory
    while True:
        candidate = current.rstrip("/") + "/" + filename
        try:
            limit = _parse_limit(fs.read_text(candidate), version)
        except ProcReadError as exc:
            if exc.reason != "gone":
                warnings.append(f"{exc}")
            limit = None
        if limit is not None and (best is None or limit < best[0]):
            best = (limit, candidate)
        if current.rstrip("/") == top.rstrip("/") or current in ("", "/"):
            break
        current = current.rstrip("/").rpartition("/")[0] or "/"
    if best is None:
        return CgroupLimit(None, "", version, tuple(warnings))
    return CgroupLimit(best[0], best[1], version, tuple(warnings))
