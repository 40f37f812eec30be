"""Raw readings of a running system: what Linux publishes under /proc and /sys/fs/cgroup.

Stage: the first step of `capplan measure`. Input: process IDs and a filesystem root (normally `/`;
tests pass a directory holding a fake /proc, and may inject the reader). Output: frozen records
parsed from the kernel's text files, not yet interpreted. Every failure to read becomes a
`ProcReadError` that says whether the process is gone, the file is forbidden, or absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from capplan.files import read_regular_file

ReadBytes = Callable[[Path], bytes]
ReadReason = Literal["gone", "denied", "unreadable"]

KIB = 1024


# smaps of a process with tens of thousands of mappings is a few MiB; a PID file a few bytes.
MAX_PROC_FILE_BYTES = 64 << 20


def _read_bytes(path: Path) -> bytes:
    return read_regular_file(path, MAX_PROC_FILE_BYTES)


class ProcReadError(Exception):
    """A file under the filesystem root could not be read.

    `reason`: `gone` (the process exited, or the file does not exist), `denied` (permission),
    `unreadable` (any other I/O error). Callers turn it into a warning; it never reaches the user
    as a traceback.
    """

    def __init__(self, path: str, reason: ReadReason, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.reason = reason
        self.detail = detail


def _classify(path: str, exc: OSError) -> ProcReadError:
    if isinstance(exc, FileNotFoundError | ProcessLookupError):
        return ProcReadError(path, "gone", "no such file (the process may have exited)")
    if isinstance(exc, PermissionError):
        return ProcReadError(path, "denied", "permission denied")
    return ProcReadError(path, "unreadable", exc.strerror or type(exc).__name__)


@dataclass(frozen=True, slots=True)
class ProcFS:
    """The system's files, rooted at `root`; `read_bytes` is the one way file contents are read.

    Paths are given as on the host (`/proc/42/status`) and mapped under `root`, so a test can build
    a fake tree in a temporary directory and make any file unreadable through `read_bytes`.
    """

    root: Path = Path("/")
    read_bytes: ReadBytes = field(default=_read_bytes)

    def path(self, host_path: str) -> Path:
        return self.root / host_path.lstrip("/")

    def read_text(self, host_path: str) -> str:
        try:
            return self.read_bytes(self.path(host_path)).decode("utf-8", "replace")
        except OSError as exc:
            raise _classify(host_path, exc) from None

    def listdir(self, host_path: str) -> tuple[str, ...]:
        try:
            return tuple(os.listdir(self.path(host_path)))
        except OSError as exc:
            raise _classify(host_path, exc) from None

    def readlink(self, host_path: str) -> str:
        try:
            return os.readlink(self.path(host_path))
        except OSError as exc:
            raise _classify(host_path, exc) from None

    def exists(self, host_path: str) -> bool:
        return self.path(host_path).exists()


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of `/proc/PID/stat` that discovery needs."""

    pid: int
    comm: str
    state: str
    ppid: int


@dataclass(frozen=True, slots=True)
class ProcStatus:
    """`/proc/PID/status`: name, state, parent, real UID, resident set and thread count.

    `vm_rss_bytes` is None for zombies and kernel threads (the kernel omits the line).
    """

    pid: int
    name: str
    state: str
    ppid: int
    uid: int
    vm_rss_bytes: int | None
    threads: int


@dataclass(frozen=True, slots=True)
class MemoryRollup:
    """`/proc/PID/smaps_rollup` in bytes: the sums over all mappings of one process.

    USS (unique set size) is the private part: pages only this process maps. PSS divides each
    shared page among the processes that map it, so PSS summed over processes counts every page
    once.
    """

    rss_bytes: int
    pss_bytes: int
    shared_clean_bytes: int
    shared_dirty_bytes: int
    private_clean_bytes: int
    private_dirty_bytes: int
    swap_bytes: int

    @property
    def uss_bytes(self) -> int:
        return self.private_clean_bytes + self.private_dirty_bytes


@dataclass(frozen=True, slots=True)
class Mapping:
    """One mapping of `/proc/PID/smaps`: address range, permissions, backing path, private bytes."""

    start: int
    end: int
    perms: str
    pathname: str
    rss_bytes: int
    private_bytes: int

    @property
    def size_bytes(self) -> int:
        return self.end - self.start

    @property
    def anonymous(self) -> bool:
        return self.pathname == ""


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of `/proc/PID/mountinfo`: the mount's root within its filesystem, where it is."""

    root: str
    mountpoint: str
    fstype: str
    super_options: tuple[str, ...]


def _int_field(line: str) -> int:
    """`Pss:   568 kB` -> 581632 (bytes); `Threads:  27` -> 27."""
    parts = line.split()
    value = int(parts[1])
    return value * KIB if len(parts) > 2 and parts[2] == "kB" else value


def list_pids(fs: ProcFS) -> tuple[int, ...]:
    return tuple(int(name) for name in fs.listdir("/proc") if name.isdigit())


def parse_stat(pid: int, text: str) -> ProcStat:
    # comm may hold spaces and parentheses: it runs from the first "(" to the last ")".
    open_at, close_at = text.find("("), text.rfind(")")
    if open_at < 0 or close_at < open_at:
        raise ProcReadError(f"/proc/{pid}/stat", "unreadable", "unexpected format")
    rest = text[close_at + 2 :].split()
    if len(rest) < 2:
        raise ProcReadError(f"/proc/{pid}/stat", "gone", "empty (the process exited)")
    return ProcStat(pid=pid, comm=text[open_at + 1 : close_at], state=rest[0], ppid=int(rest[1]))


def read_stat(fs: ProcFS, pid: int) -> ProcStat:
    return parse_stat(pid, fs.read_text(f"/proc/{pid}/stat"))


def parse_status(pid: int, text: str) -> ProcStatus:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value
    try:
        return ProcStatus(
            pid=pid,
            name=fields["Name"].strip(),
            state=fields["State"].split()[0],
            ppid=int(fields["PPid"]),
            uid=int(fields["Uid"].split()[0]),
            vm_rss_bytes=_int_field("VmRSS:" + fields["VmRSS"]) if "VmRSS" in fields else None,
            threads=int(fields["Threads"]),
        )
    except (KeyError, ValueError, IndexError):
        raise ProcReadError(f"/proc/{pid}/status", "unreadable", "unexpected format") from None


def read_status(fs: ProcFS, pid: int) -> ProcStatus:
    return parse_status(pid, fs.read_text(f"/proc/{pid}/status"))


_ROLLUP_KEYS = {
    "Rss": "rss_bytes",
    "Pss": "pss_bytes",
    "Shared_Clean": "shared_clean_bytes",
    "Shared_Dirty": "shared_dirty_bytes",
    "Private_Clean": "private_clean_bytes",
    "Private_Dirty": "private_dirty_bytes",
    "Swap": "swap_bytes",
}


def parse_rollup(path: str, text: str) -> MemoryRollup:
    """Sum the fields of `smaps_rollup` (one block) or of `smaps` (one block per mapping)."""
    sums = dict.fromkeys(_ROLLUP_KEYS.values(), 0)
    seen = False
    for line in text.splitlines():
        key, sep, _ = line.partition(":")
        name = _ROLLUP_KEYS.get(key) if sep else None
        if name is not None:
            sums[name] += _int_field(line)
            seen = True
    if not seen:
        # A zombie or an exiting process has no mappings left: the file reads empty.
        raise ProcReadError(path, "gone", "no mappings (the process is exiting)")
    return MemoryRollup(**sums)


def read_rollup(fs: ProcFS, pid: int) -> MemoryRollup:
    """`/proc/PID/smaps_rollup` (Linux 4.14+), else the sum over `/proc/PID/smaps`."""
    path = f"/proc/{pid}/smaps_rollup"
    try:
        return parse_rollup(path, fs.read_text(path))
    except ProcReadError as exc:
        if exc.reason != "gone" or not fs.exists(f"/proc/{pid}/smaps"):
            raise
    path = f"/proc/{pid}/smaps"
    return parse_rollup(path, fs.read_text(path))


def parse_smaps(text: str) -> tuple[Mapping, ...]:
    """The mappings of `/proc/PID/smaps` with their resident and private bytes."""
    mappings: list[Mapping] = []
    header: tuple[int, int, str, str] | None = None
    rss_bytes = private_bytes = 0

    def flush() -> None:
        if header is not None:
            mappings.append(Mapping(*header, rss_bytes=rss_bytes, private_bytes=private_bytes))

    for line in text.splitlines():
        head, sep, _ = line.partition(":")
        if sep and " " not in head:
            if head == "Rss":
                rss_bytes = _int_field(line)
            elif head in ("Private_Clean", "Private_Dirty"):
                private_bytes += _int_field(line)
            continue
        parts = line.split(None, 5)
        if len(parts) < 5 or "-" not in parts[0]:
            continue
        flush()
        start, _, end = parts[0].partition("-")
        header = (
            int(start, 16),
            int(end, 16),
            parts[1],
            parts[5].strip() if len(parts) > 5 else "",
        )
        rss_bytes = private_bytes = 0
    flush()
    return tuple(mappings)


def read_mappings(fs: ProcFS, pid: int) -> tuple[Mapping, ...]:
    return parse_smaps(fs.read_text(f"/proc/{pid}/smaps"))


def read_children(fs: ProcFS, pid: int) -> tuple[int, ...] | None:
    """Direct children from `/proc/PID/task/TID/children`; None when the kernel lacks the file."""
    children: list[int] = []
    for tid in fs.listdir(f"/proc/{pid}/task"):
        try:
            text = fs.read_text(f"/proc/{pid}/task/{tid}/children")
        except ProcReadError as exc:
            if exc.reason == "gone" and fs.exists(f"/proc/{pid}/task/{tid}"):
                return None  # CONFIG_PROC_CHILDREN is off: the caller scans /proc instead
            if exc.reason == "gone":
                continue  # the thread exited between listing and reading
            raise
        children.extend(int(word) for word in text.split())
    return tuple(dict.fromkeys(children))


def parse_cgroup(text: str) -> tuple[tuple[str, tuple[str, ...], str], ...]:
    """`/proc/PID/cgroup` lines `id:controllers:path` -> (id, controllers, path)."""
    entries: list[tuple[str, tuple[str, ...], str]] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            controllers = tuple(c for c in parts[1].split(",") if c)
            entries.append((parts[0], controllers, parts[2]))
    return tuple(entries)


def parse_mountinfo(text: str) -> tuple[Mount, ...]:
    """`/proc/PID/mountinfo`: fields 4 (root) and 5 (mount point); fstype and options after `-`."""
    mounts: list[Mount] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        mounts.append(
            Mount(
                root=_unescape(fields[3]),
                mountpoint=_unescape(fields[4]),
                fstype=tail[0],
                super_options=tuple(tail[2].split(",")),
            )
        )
    return tuple(mounts)


def _unescape(path: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (`\\040`)."""
    if "\\" not in path:
        return path
    return path.encode("latin-1").decode("unicode_escape").encode("latin-1").decode("utf-8")


def read_mem_total_bytes(fs: ProcFS) -> int | None:
    try:
        text = fs.read_text("/proc/meminfo")
    except ProcReadError:
        return None
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return _int_field(line)
    return None


def read_listen_ports(fs: ProcFS, pid: int) -> tuple[int, ...]:
    """TCP ports the process listens on: its socket fds matched against LISTEN rows of net/tcp*.

    Needs the right to read `/proc/PID/fd` (the process owner or root); raises ProcReadError else.
    """
    inodes: set[str] = set()
    for fd in fs.listdir(f"/proc/{pid}/fd"):
        try:
            target = fs.readlink(f"/proc/{pid}/fd/{fd}")
        except ProcReadError:
            continue  # the descriptor was closed between listing and reading
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports: list[int] = []
    for table in ("tcp", "tcp6"):
        try:
            text = fs.read_text(f"/proc/{pid}/net/{table}")
        except ProcReadError:
            continue
        for line in text.splitlines()[1:]:
            cols = line.split()
            # cols: sl local_address rem_address st ... inode (index 9); st 0A is LISTEN.
            if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:
                ports.append(int(cols[1].rpartition(":")[2], 16))
    return tuple(sorted(set(ports)))
