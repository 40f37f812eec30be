"""A fake /proc and /sys/fs/cgroup in a temporary directory, in the kernel's own text formats.

The status and smaps_rollup files are the real ones in tests/data/measure with the fields of each
test case substituted, so the parsers see what Linux writes. `denying` makes files unreadable the
way the kernel does for another user's process (PermissionError on open).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from capplan.measure.procfs import ProcFS, ReadBytes

DATA = Path(__file__).resolve().parent.parent / "data" / "measure"
KIB = 1024


def _sub(text: str, key: str, value: str) -> str:
    return re.sub(rf"^{key}:.*$", f"{key}:\t{value}", text, count=1, flags=re.MULTILINE)


def status_text(
    *, pid: int, ppid: int, name: str, uid: int, threads: int, rss_kib: int | None, state: str
) -> str:
    text = (DATA / "worker-child.status").read_text()
    for key, value in (
        ("Name", name),
        ("State", state),
        ("Tgid", str(pid)),
        ("Pid", str(pid)),
        ("PPid", str(ppid)),
        ("Uid", f"{uid}\t{uid}\t{uid}\t{uid}"),
        ("Threads", str(threads)),
    ):
        text = _sub(text, key, value)
    if rss_kib is None:  # zombies have no Vm* lines
        text = re.sub(r"^(Vm|Rss).*\n", "", text, flags=re.MULTILINE)
    else:
        text = _sub(text, "VmRSS", f"{rss_kib:>8} kB")
    return text


def rollup_text(
    *, private_kib: int, shared_kib: int, pss_kib: int, swap_kib: int = 0, clean_kib: int = 0
) -> str:
    """smaps_rollup with Private_Dirty = private − clean, Shared_Clean = shared."""
    text = (DATA / "worker-child.smaps_rollup").read_text()
    values = {
        "Rss": private_kib + shared_kib,
        "Pss": pss_kib,
        "Shared_Clean": shared_kib,
        "Shared_Dirty": 0,
        "Private_Clean": clean_kib,
        "Private_Dirty": private_kib - clean_kib,
        "Swap": swap_kib,
    }
    for key, value in values.items():
        text = re.sub(
            rf"^{key}:\s+\d+ kB$", f"{key + ':':<16}{value:>8} kB", text, flags=re.MULTILINE
        )
    return text


@dataclass
class FakeProc:
    root: Path
    denied: set[str] = field(default_factory=set)

    def write(self, host_path: str, text: str) -> None:
        path = self.root / host_path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def add(
        self,
        pid: int,
        ppid: int,
        *,
        name: str = "apache2",
        uid: int = 0,
        threads: int = 1,
        private_kib: int = 600,
        shared_kib: int = 3000,
        pss_kib: int | None = None,
        swap_kib: int = 0,
        state: str = "S (sleeping)",
        smaps: str | None = None,
        maps: str = "",
        children: tuple[int, ...] | None = None,
    ) -> None:
        """One process; `pss_kib` defaults to private + shared / 4 (four sharers)."""
        zombie = state.startswith("Z")
        self.write(
            f"/proc/{pid}/status",
            status_text(
                pid=pid,
                ppid=ppid,
                name=name,
                uid=uid,
                threads=threads,
                rss_kib=None if zombie else private_kib + shared_kib,
                state=state,
            ),
        )
        self.write(f"/proc/{pid}/stat", f"{pid} ({name}) {state[0]} {ppid} {ppid} {ppid} 0 -1\n")
        pss = private_kib + shared_kib // 4 if pss_kib is None else pss_kib
        self.write(
            f"/proc/{pid}/smaps_rollup",
            ""
            if zombie
            else rollup_text(
                private_kib=private_kib, shared_kib=shared_kib, pss_kib=pss, swap_kib=swap_kib
            ),
        )
        self.write(f"/proc/{pid}/maps", maps)
        if smaps is not None:
            self.write(f"/proc/{pid}/smaps", smaps)
        self.write(f"/proc/{pid}/task/{pid}/children", " ".join(map(str, children or ())))
        for tid in range(pid * 1000 + 1, pid * 1000 + threads):
            (self.root / f"proc/{pid}/task/{tid}").mkdir(parents=True, exist_ok=True)
            self.write(f"/proc/{pid}/task/{tid}/children", "")

    def server(
        self,
        parent: int,
        children: dict[int, tuple[int, int]],
        *,
        parent_private_kib: int = 200,
        shared_kib: int = 3000,
        mpm: str | None = None,
    ) -> None:
        """A parent and its children, `children` = {pid: (threads, private KiB)}."""
        maps = (
            f"7f00-7f01 r-xp 0 fe:00 1 /usr/lib/apache2/modules/mod_mpm_{mpm}.so\n" if mpm else ""
        )
        self.add(
            parent,
            1,
            private_kib=parent_private_kib,
            shared_kib=shared_kib,
            maps=maps,
            children=tuple(children),
        )
        for pid, (threads, private_kib) in children.items():
            self.add(pid, parent, threads=threads, private_kib=private_kib, shared_kib=shared_kib)

    def remove(self, pid: int) -> None:
        """The process exits: its /proc directory goes away."""
        for path in sorted((self.root / f"proc/{pid}").rglob("*"), reverse=True):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
        (self.root / f"proc/{pid}").rmdir()

    def cgroup(self, cgroup: str, mountinfo: str, files: dict[str, str], pid: int) -> None:
        self.write(f"/proc/{pid}/cgroup", cgroup)
        self.write("/proc/self/cgroup", cgroup)
        self.write("/proc/self/mountinfo", mountinfo)
        for path, text in files.items():
            self.write(path, text)

    def reader(self) -> ReadBytes:
        denied = self.denied

        def read(path: Path) -> bytes:
            relative = "/" + str(path.relative_to(self.root))
            if relative in denied:
                raise PermissionError(13, "Permission denied", str(path))
            return path.read_bytes()

        return read

    def fs(self) -> ProcFS:
        return ProcFS(root=self.root, read_bytes=self.reader())


def denying(real: ReadBytes, predicate: Callable[[Path], bool]) -> ReadBytes:
    """A reader that refuses, as the kernel does for another user's process, where `predicate`."""

    def read(path: Path) -> bytes:
        if predicate(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    return read
