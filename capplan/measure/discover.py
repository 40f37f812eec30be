"""Finding a running httpd: its parent process, its children and their threads.

Stage: after the raw readings, before the memory derivation. Input: a `ProcFS` and what the user
gave (`--pid`, `--pidfile`, a config's PidFile), else apachectl's default PID files, else the
process table. Output: `ServerProcesses` (the parent's and the children's `/proc/PID/status`), or a
`CapplanError` with a one-line reason when there is no server to measure.
"""

from __future__ import annotations

from dataclasses import dataclass

from capplan.errors import CapplanError
from capplan.location import Location
from capplan.measure.procfs import (
    ProcFS,
    ProcReadError,
    ProcStatus,
    list_pids,
    read_children,
    read_stat,
    read_status,
)

HTTPD_NAMES = frozenset({"apache2", "httpd"})

# Where apachectl and the packages put the PID file: Debian/Ubuntu (APACHE_PID_FILE in envvars),
# RHEL/Fedora (/run/httpd), and an upstream build under /usr/local/apache2 (DEFAULT_PIDLOG).
DEFAULT_PIDFILES = (
    "/var/run/apache2/apache2.pid",
    "/run/httpd/httpd.pid",
    "/usr/local/apache2/logs/httpd.pid",
)


@dataclass(frozen=True, slots=True)
class ServerProcesses:
    parent: ProcStatus
    children: tuple[ProcStatus, ...]
    found_by: str
    warnings: tuple[str, ...]


def _alive_status(fs: ProcFS, pid: int) -> ProcStatus | None:
    """The status of a live process; None when it is gone or a zombie."""
    try:
        status = read_status(fs, pid)
    except ProcReadError as exc:
        if exc.reason == "gone":
            return None
        raise
    return None if status.state in ("Z", "X") else status


def _parent_status(fs: ProcFS, pid: int, where: str) -> ProcStatus:
    try:
        status = _alive_status(fs, pid)
    except ProcReadError as exc:
        raise CapplanError(f"{where}: PID {pid}: cannot read {exc}") from None
    if status is None:
        raise CapplanError(f"{where}: no such process {pid} (it is not running or has exited)")
    return status


def _pid_from_file(fs: ProcFS, pidfile: str, location: Location | None = None) -> int:
    where = f"{location}: PidFile {pidfile}" if location else pidfile
    try:
        text = fs.read_text(pidfile).strip()
    except ProcReadError as exc:
        detail = "no such file (is httpd running?)" if exc.reason == "gone" else exc.detail
        raise CapplanError(f"{where}: cannot read the PID file: {detail}") from None
    if not text.isdigit() or int(text) <= 0:
        raise CapplanError(f"{where}: not a process ID: {text[:40]!r}")
    return int(text)


def _from_pidfile(fs: ProcFS, path: str, location: Location | None) -> tuple[ProcStatus, str]:
    file_pid = _pid_from_file(fs, path, location)
    where = f"{location}: PidFile {path}" if location else path
    status = _parent_status(fs, file_pid, f"{where}: stale PID file")
    return status, f"PID file {path}" + (f" (PidFile at {location})" if location else "")


def _named_parents(fs: ProcFS, current_uid: int) -> list[ProcStatus]:
    """Processes named apache2/httpd whose parent is not: the masters of running servers."""
    stats = {}
    for pid in list_pids(fs):
        try:
            stats[pid] = read_stat(fs, pid)
        except ProcReadError:
            continue  # exited while we listed, or hidden
    parents = []
    for stat in stats.values():
        if stat.comm not in HTTPD_NAMES or stat.state in ("Z", "X"):
            continue
        parent = stats.get(stat.ppid)
        if parent is not None and parent.comm in HTTPD_NAMES:
            continue
        try:
            status = read_status(fs, stat.pid)
        except ProcReadError:
            continue
        parents.append(status)
    children_of = {pid: sum(1 for s in stats.values() if s.ppid == pid) for pid in stats}
    # Prefer the current user's servers, then the one with the most children, then the oldest PID.
    parents.sort(key=lambda s: (s.uid != current_uid, -children_of.get(s.pid, 0), s.pid))
    return parents


def _search(
    fs: ProcFS, default_pidfiles: tuple[str, ...], current_uid: int, notes: list[str]
) -> tuple[ProcStatus, str]:
    """apachectl's default PID files, then the process table."""
    for candidate in default_pidfiles:
        if not fs.exists(candidate):
            continue
        try:
            file_pid = _pid_from_file(fs, candidate)
            status = _alive_status(fs, file_pid)
        except (CapplanError, ProcReadError) as exc:
            notes.append(str(exc))
            continue
        if status is not None and status.name in HTTPD_NAMES:
            return status, f"PID file {candidate}"
        notes.append(f"{candidate}: stale PID {file_pid}, ignored")
    try:
        parents = _named_parents(fs, current_uid)
    except ProcReadError as exc:
        raise CapplanError(f"cannot list processes: {exc}") from None
    if not parents:
        raise CapplanError(
            "no running httpd found (no apache2 or httpd process, no PID file in "
            + ", ".join(default_pidfiles)
            + "); use --pid, --pidfile or -c CONFIG"
        )
    if len(parents) > 1:
        others = ", ".join(str(p.pid) for p in parents[1:])
        notes.append(f"several httpd servers run (also PID {others}); measured {parents[0].pid}")
    return parents[0], f"process name {parents[0].name}"


def _links_apr(fs: ProcFS, pid: int) -> bool:
    """Whether PID maps libapr (every httpd does, whatever its name); False when unreadable."""
    try:
        maps = fs.read_text(f"/proc/{pid}/maps")
    except ProcReadError:
        return False
    return "libapr-1" in maps or "/mod_mpm_" in maps


def find_parent(
    fs: ProcFS,
    *,
    pid: int | None,
    pidfile: str | None,
    config_pidfile: tuple[str, Location | None] | None,
    default_pidfiles: tuple[str, ...],
    current_uid: int,
) -> tuple[ProcStatus, str, tuple[str, ...]]:
    """The httpd parent process, how it was found, and notes about what was skipped."""
    notes: list[str] = []
    if pid is not None:
        status = _parent_status(fs, pid, f"--pid {pid}")
        found_by = f"--pid {pid}"
    elif pidfile is not None:
        status, found_by = _from_pidfile(fs, pidfile, None)
    elif config_pidfile is not None:
        status, found_by = _from_pidfile(fs, *config_pidfile)
    else:
        status, found_by = _search(fs, default_pidfiles, current_uid, notes)

    if status.name not in HTTPD_NAMES:
        if not _links_apr(fs, status.pid):
            # Measuring `sleep` or init as if it were httpd gives numbers nobody should plan
            # with; an httpd under another name shows libapr in its maps (readable as root).
            raise CapplanError(
                f"{found_by}: PID {status.pid} is {status.name!r}, not httpd: it is not named "
                "apache2 or httpd, and its memory map shows no APR library"
            )
        notes.append(f"PID {status.pid} is {status.name!r}, not apache2 or httpd")
    # Given a child's PID, measure its server: walk up while the parent is httpd too.
    while status.name in HTTPD_NAMES:
        up = _alive_status(fs, status.ppid) if status.ppid > 1 else None
        if up is None or up.name != status.name:
            break
        notes.append(f"PID {status.pid} is a child of httpd PID {up.pid}; measured the parent")
        status = up
    return status, found_by, tuple(notes)


def find_children(fs: ProcFS, parent_pid: int) -> tuple[tuple[ProcStatus, ...], tuple[str, ...]]:
    """The parent's live children (zombies and those that exit meanwhile are left out)."""
    notes: list[str] = []
    try:
        listed = read_children(fs, parent_pid)
    except ProcReadError as exc:
        if exc.reason == "gone":
            raise CapplanError(f"PID {parent_pid} exited during the measurement") from None
        listed = None
    pids = list(listed) if listed is not None else []
    if listed is None:
        for pid in list_pids(fs):
            try:
                if read_stat(fs, pid).ppid == parent_pid:
                    pids.append(pid)
            except ProcReadError:
                continue
    children = []
    for pid in pids:
        try:
            status = _alive_status(fs, pid)
        except ProcReadError as exc:
            notes.append(f"PID {pid}: {exc.detail}")
            continue
        if status is None:
            notes.append(f"PID {pid} exited during the measurement")
            continue
        if status.ppid != parent_pid:
            continue  # the PID was reused by an unrelated process
        children.append(status)
    return tuple(children), tuple(notes)


def discover(
    fs: ProcFS,
    *,
    pid: int | None = None,
    pidfile: str | None = None,
    config_pidfile: tuple[str, Location | None] | None = None,
    default_pidfiles: tuple[str, ...] = DEFAULT_PIDFILES,
    current_uid: int = 0,
) -> ServerProcesses:
    parent, found_by, notes = find_parent(
        fs,
        pid=pid,
        pidfile=pidfile,
        config_pidfile=config_pidfile,
        default_pidfiles=default_pidfiles,
        current_uid=current_uid,
    )
    children, child_notes = find_children(fs, parent.pid)
    return ServerProcesses(parent, children, found_by, (*notes, *child_notes))
