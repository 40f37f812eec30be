"""`capplan measure` end to end: find the server, read /proc, derive the figures, read mod_status.

Stage: the core of the measure command. Input: what the user gave (PID, PID file, config, status
URL) and injectable system access (`ProcFS`, the HTTP fetch). Output: one frozen `Measurement`,
which `recommend --measure` can also turn into a profile's `memory:` section
(`measurement_to_profile_memory`). Raises `CapplanError` only when nothing could be measured.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import assert_never

from capplan.errors import CapplanError
from capplan.measure.cgroup import CgroupLimit, memory_limit
from capplan.measure.confighints import ConfigHints, read_config_hints
from capplan.measure.discover import DEFAULT_PIDFILES, HTTPD_NAMES, ServerProcesses, discover
from capplan.measure.memory import (
    MemoryFigures,
    ProcessReading,
    StackSample,
    derive_memory,
    stack_sample,
)
from capplan.measure.procfs import (
    ProcFS,
    ProcReadError,
    ProcStatus,
    read_listen_ports,
    read_mappings,
    read_mem_total_bytes,
    read_rollup,
)
from capplan.measure.status import (
    Fetch,
    FirstSample,
    Scoreboard,
    StatusError,
    fetch_status,
    first_sample,
    second_sample,
)
from capplan.mpm_names import Mpm
from capplan.mpm_settings import MPM_NAMES

DEFAULT_STATUS_PATH = "/server-status?auto"
# Children whose smaps are read for thread stacks: enough to average out one odd child, few
# enough that a 50-child server is still measured in milliseconds.
STACK_SAMPLE_CHILDREN = 3
_MPM_DSO = re.compile(r"/mod_mpm_(prefork|worker|event)\.so\b")
_V_MPM = re.compile(r"^Server MPM:[ \t]*(\w*)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Measurement:
    """Everything `capplan measure` found; None where a figure could not be measured."""

    mpm: Mpm | None
    mpm_evidence: str
    parent_pid: int | None
    found_by: str
    memory: MemoryFigures | None
    cgroup: CgroupLimit | None
    mem_total_bytes: int | None
    scoreboard: Scoreboard | None
    warnings: tuple[str, ...] = field(default=())

    @property
    def ram_bytes(self) -> int | None:
        """The memory httpd may use: the cgroup limit when there is one, else the host's RAM."""
        if self.cgroup is not None and self.cgroup.limit_bytes is not None:
            return self.cgroup.limit_bytes
        return self.mem_total_bytes


def _mpm_from_maps(fs: ProcFS, pids: tuple[int, ...]) -> tuple[Mpm | None, bool]:
    """The MPM module mapped into the server (Debian/RHEL load it as a DSO); (mpm, any readable)."""
    readable = False
    for pid in pids:
        try:
            text = fs.read_text(f"/proc/{pid}/maps")
        except ProcReadError:
            continue
        readable = True
        match = _MPM_DSO.search(text)
        if match:
            return _as_mpm(match.group(1)), True
    return None, readable


def _as_mpm(name: str) -> Mpm | None:
    for mpm in MPM_NAMES:
        if mpm == name.lower():
            return mpm
    return None


def _mpm_from_binary(fs: ProcFS, pid: int) -> Mpm | None:
    """`httpd -V`'s "Server MPM" for a binary with a built-in MPM (no mod_mpm_*.so mapped)."""
    if fs.root != Path("/"):
        return None
    try:
        exe = fs.readlink(f"/proc/{pid}/exe")
        proc = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=5, check=False)
    except (ProcReadError, OSError, subprocess.SubprocessError):
        return None
    return mpm_from_version_text(proc.stdout)


def mpm_from_version_text(text: str) -> Mpm | None:
    """The "Server MPM:" line of `httpd -V`; empty (None) when the MPM is a loadable module."""
    match = _V_MPM.search(text)
    return _as_mpm(match.group(1)) if match else None


# MPM evidence read from the running process itself (detect_mpm).
_PROCESS_EVIDENCE = frozenset(
    {*(f"mod_mpm_{mpm}.so is loaded" for mpm in MPM_NAMES), "built in (httpd -V)"}
)


def detect_mpm(
    fs: ProcFS, server: ServerProcesses, hints: ConfigHints | None
) -> tuple[Mpm | None, str]:
    """The MPM and the evidence for it: mapped DSO, config, `-V`, then the children's threads."""
    pids = (server.parent.pid, *(c.pid for c in server.children[:1]))
    mpm, maps_readable = _mpm_from_maps(fs, pids)
    if mpm is not None:
        return mpm, f"mod_mpm_{mpm}.so is loaded"
    if hints is not None and hints.mpm is not None:
        return hints.mpm, f"LoadModule in {hints.path}"
    # Only an httpd binary is run with -V: any other program might not take it as harmless.
    if maps_readable and server.parent.name in HTTPD_NAMES:
        mpm = _mpm_from_binary(fs, server.parent.pid)
        if mpm is not None:
            return mpm, "built in (httpd -V)"
    if server.children and all(c.threads == 1 for c in server.children):
        return Mpm.prefork, "single-threaded children"
    if any(c.threads > 1 for c in server.children):
        return None, "multi-threaded children (worker or event)"
    return None, "unknown"


def _reading(fs: ProcFS, status: ProcStatus, notes: list[str]) -> ProcessReading | None:
    """One process's reading; None (with a note) when it exited meanwhile.

    NOTE: children that switched to `User` are not dumpable, so the kernel refuses their smaps to
    that user too; httpd makes them dumpable again only when CoreDumpDirectory is set
    (os/unix/unixd.c `ap_unixd_setup_child()`: `prctl(PR_SET_DUMPABLE, 1)`).
    """
    try:
        rollup = read_rollup(fs, status.pid)
    except ProcReadError as exc:
        if exc.reason == "gone":
            notes.append(f"PID {status.pid} exited during the measurement")
            return None
        rollup = None  # counted and explained once by derive_memory
    return ProcessReading(status.pid, status.threads, status.vm_rss_bytes, rollup)


def _stack_samples(
    fs: ProcFS, children: tuple[ProcessReading, ...], notes: list[str]
) -> tuple[StackSample, ...]:
    samples = []
    for child in [c for c in children if c.rollup is not None][:STACK_SAMPLE_CHILDREN]:
        try:
            samples.append(stack_sample(read_mappings(fs, child.pid), child.threads))
        except ProcReadError as exc:
            notes.append(f"thread stacks of PID {child.pid}: {exc.detail}")
    return tuple(samples)


@dataclass(frozen=True, slots=True)
class _Target:
    server: ServerProcesses
    hints: ConfigHints | None


def _find(
    fs: ProcFS,
    *,
    pid: int | None,
    pidfile: str | os.PathLike[str] | None,
    config: str | os.PathLike[str] | None,
    hints: ConfigHints | None,
    default_pidfiles: tuple[str, ...],
    current_uid: int | None,
) -> _Target:
    if hints is None and config is not None:
        hints = read_config_hints(config)
    config_pidfile = None
    if hints is not None and hints.pidfile is not None:
        config_pidfile = (hints.pidfile, hints.pidfile_location)
    server = discover(
        fs,
        pid=pid,
        pidfile=None if pidfile is None else os.path.abspath(pidfile),
        config_pidfile=config_pidfile,
        default_pidfiles=default_pidfiles,
        current_uid=os.getuid() if current_uid is None else current_uid,
    )
    return _Target(server, hints)


def _read(fs: ProcFS, target: _Target, notes: list[str]) -> Measurement:
    server = target.server
    notes.extend(server.warnings)
    if target.hints is not None:
        notes.extend(target.hints.warnings)
    parent = _reading(fs, server.parent, notes)
    if parent is None:
        raise CapplanError(f"PID {server.parent.pid} exited during the measurement")
    children = tuple(r for c in server.children if (r := _reading(fs, c, notes)) is not None)
    mpm, evidence = detect_mpm(fs, server, target.hints)
    threaded = mpm in (Mpm.worker, Mpm.event) or (
        mpm is None and any(c.threads > 1 for c in children)
    )
    stacks = _stack_samples(fs, children, notes) if threaded else ()
    figures = derive_memory(parent, children, threaded=threaded, stacks=stacks)
    notes.extend(figures.warnings)
    cgroup = memory_limit(fs, server.parent.pid)
    notes.extend(cgroup.warnings)
    return Measurement(
        mpm=mpm,
        mpm_evidence=evidence,
        parent_pid=server.parent.pid,
        found_by=server.found_by,
        memory=figures,
        cgroup=cgroup,
        mem_total_bytes=read_mem_total_bytes(fs),
        scoreboard=None,
    )


def measure_memory(
    *,
    pid: int | None = None,
    pidfile: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
    hints: ConfigHints | None = None,
    fs: ProcFS | None = None,
    default_pidfiles: tuple[str, ...] = DEFAULT_PIDFILES,
    current_uid: int | None = None,
) -> Measurement:
    """Measure the memory of a running httpd (no scoreboard). CapplanError when none is found."""
    fs = fs or ProcFS()
    target = _find(
        fs,
        pid=pid,
        pidfile=pidfile,
        config=config,
        hints=hints,
        default_pidfiles=default_pidfiles,
        current_uid=current_uid,
    )
    notes: list[str] = []
    measured = _read(fs, target, notes)
    return _with(measured, warnings=tuple(dict.fromkeys(notes)))


def _with(
    m: Measurement,
    *,
    warnings: tuple[str, ...],
    scoreboard: Scoreboard | None = None,
    mpm: Mpm | None = None,
    evidence: str | None = None,
) -> Measurement:
    return Measurement(
        mpm=mpm or m.mpm,
        mpm_evidence=evidence or m.mpm_evidence,
        parent_pid=m.parent_pid,
        found_by=m.found_by,
        memory=m.memory,
        cgroup=m.cgroup,
        mem_total_bytes=m.mem_total_bytes,
        scoreboard=scoreboard,
        warnings=warnings,
    )


def default_status_url(
    fs: ProcFS, hints: ConfigHints | None, parent_pid: int | None, notes: list[str]
) -> str | None:
    """Where mod_status probably answers: the config's Listen, else the parent's listening port.

    None when the config shows mod_status is not loaded (the scoreboard is then skipped).
    """
    if hints is not None and not hints.status_module:
        notes.append(f"{hints.path}: mod_status is not loaded: no scoreboard")
        return None
    if hints is not None and not hints.status_handler:
        notes.append(f"{hints.path}: no SetHandler server-status; trying the default URL")
    port = 80
    if hints is not None and hints.listen:
        ports = [p for _, p in hints.listen]
        port = 80 if 80 in ports else ports[0]
    elif parent_pid is not None:
        try:
            ports = list(read_listen_ports(fs, parent_pid))
        except ProcReadError:
            ports = []
        plain = [p for p in ports if p != 443]
        if plain:
            port = 80 if 80 in plain else plain[0]
    host = "127.0.0.1" if port == 80 else f"127.0.0.1:{port}"
    return f"http://{host}{DEFAULT_STATUS_PATH}"


def measure(
    *,
    pid: int | None = None,
    pidfile: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
    status_url: str | None = None,
    read_status: bool = True,
    interval_s: float = 1.0,
    fs: ProcFS | None = None,
    fetch: Fetch = fetch_status,
    default_pidfiles: tuple[str, ...] = DEFAULT_PIDFILES,
    current_uid: int | None = None,
) -> Measurement:
    """Memory and, when reachable, the scoreboard with the request rate over `interval_s`.

    The two status samples bracket the /proc reads, so the whole run takes about `interval_s`.
    Raises CapplanError only when neither the server's memory nor its status could be read.
    """
    fs = fs or ProcFS()
    hints = read_config_hints(config) if config is not None else None
    notes: list[str] = []
    target: _Target | None = None
    not_found: CapplanError | None = None
    try:
        target = _find(
            fs,
            pid=pid,
            pidfile=pidfile,
            config=None,
            hints=hints,
            default_pidfiles=default_pidfiles,
            current_uid=current_uid,
        )
    except CapplanError as exc:
        if status_url is None:
            raise
        not_found = exc

    url = status_url
    if read_status and url is None:
        parent_pid = target.server.parent.pid if target is not None else None
        url = default_status_url(fs, hints, parent_pid, notes)
    first: FirstSample | None = None
    if read_status and url is not None:
        try:
            first = first_sample(url, fetch=fetch)
        except StatusError as exc:
            notes.append(f"scoreboard not read: {exc}")

    if target is not None:
        measured = _read(fs, target, notes)
    else:
        assert not_found is not None
        notes.append(str(not_found))
        measured = Measurement(
            mpm=None,
            mpm_evidence="unknown",
            parent_pid=None,
            found_by="",
            memory=None,
            cgroup=None,
            mem_total_bytes=None,
            scoreboard=None,
        )

    scoreboard = None
    if first is not None:
        try:
            scoreboard, status_notes = second_sample(first, interval_s, fetch=fetch)
            notes.extend(status_notes)
        except StatusError as exc:
            notes.append(f"scoreboard not read: {exc}")
    if scoreboard is None and target is None:
        raise CapplanError("; ".join(dict.fromkeys(notes)))

    mpm, evidence = measured.mpm, measured.mpm_evidence
    board_mpm = _as_mpm(scoreboard.server_mpm or "") if scoreboard is not None else None
    if board_mpm is not None and board_mpm != mpm:
        if mpm is not None:
            notes.append(f"the scoreboard says {board_mpm}, /proc suggested {mpm} ({evidence})")
        # What the process itself shows (its mapped MPM module, its -V) beats a page that
        # may belong to another server; the page beats a config or a thread count.
        if evidence not in _PROCESS_EVIDENCE:
            mpm, evidence = board_mpm, "ServerMPM in server-status"
    return _with(
        measured,
        warnings=tuple(dict.fromkeys(notes)),
        scoreboard=scoreboard,
        mpm=mpm,
        evidence=evidence,
    )


def measurement_to_profile_memory(m: Measurement) -> dict[str, int]:
    """The profile's `memory:` keys (bytes) that the measurement supports.

    `ram`: the cgroup limit, else the host's MemTotal. `prefork_process` for prefork; for worker
    and event `threaded_process` (the per-process base) and `thread`; `process_spread`, the
    standard deviation of the children's private memory, when two or more children were read.
    Keys that were not measured are left out, so the profile's defaults (or the user's values)
    apply to them.
    """
    out: dict[str, int] = {}
    if m.ram_bytes is not None:
        out["ram"] = m.ram_bytes
    figures = m.memory
    if figures is None:
        return out
    if figures.parent_bytes is not None:
        out["parent"] = figures.parent_bytes
    if figures.shared_bytes is not None:
        out["shared"] = figures.shared_bytes
    cost = figures.thread_cost
    match m.mpm:
        case Mpm.prefork:
            if figures.private is not None:
                out["prefork_process"] = figures.private.mean_bytes
        case Mpm.worker | Mpm.event | None:
            # None: threaded children whose MPM could not be told (worker or event).
            if cost is not None:
                out["threaded_process"] = cost.process_base_bytes
                out["thread"] = cost.per_thread_bytes
        case _:
            assert_never(m.mpm)
    if figures.private is not None and figures.private.count > 1:
        out["process_spread"] = figures.private.stdev_bytes
    return out
