"""capplan measure against the real Debian apache2 (prefork, worker, event) on 127.0.0.1.

Each server is measured, then /proc is read again here, independently (plain text matching, no
capplan code), and the figures must agree within 5 %.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.measure import ProcFS, measure_memory
from capplan.measure.pipeline import measure
from capplan.measure.status import fetch_status
from tests.httpd import RunningServer, base_config, free_port, prepare_root, running_server

pytestmark = pytest.mark.apache
TOLERANCE = 0.05
PREFORK_CHILDREN = 6
THREADS_PER_CHILD = 25
KIB = 1024


def server_config(root: Path, mpm: str, port: int) -> str:
    text = base_config(root, mpm, port, extra_modules=("status",))
    text += "ExtendedStatus On\nKeepAlive Off\n"
    text += "<Location /server-status>\n    SetHandler server-status\n</Location>\n"
    if mpm == "prefork":
        n = PREFORK_CHILDREN
        text += f"StartServers {n}\nMinSpareServers {n}\nMaxSpareServers {n + 4}\n"
    else:
        text += f"StartServers 2\nThreadsPerChild {THREADS_PER_CHILD}\n"
        text += "MinSpareThreads 25\nMaxSpareThreads 75\n"
    return text


@pytest.fixture(scope="module", params=["prefork", "worker", "event"])
def server(
    request: pytest.FixtureRequest, apache2: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, RunningServer, Path]]:
    mpm: str = request.param
    root = tmp_path_factory.mktemp(mpm)
    prepare_root(root)
    port = free_port()
    conf = root / "conf" / "httpd.conf"
    conf.write_text(server_config(root, mpm, port))
    with running_server(root, conf, port) as running:
        threads = 1 if mpm == "prefork" else THREADS_PER_CHILD + 2  # + listener + main thread
        _wait_until_settled(running.pid, PREFORK_CHILDREN if mpm == "prefork" else 2, threads)
        yield mpm, running, conf


def _children(pid: int) -> list[int]:
    return [int(w) for w in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _wait_until_settled(pid: int, children: int, threads: int) -> None:
    """Until every child runs with all its threads and the server's PSS has stopped moving.

    Bounded at 15 s: on a loaded machine a child may still be creating threads or touching its
    first pages when the parent has already forked it.
    """
    deadline = time.monotonic() + 15
    last = -1
    while time.monotonic() < deadline:
        pids = _children(pid)
        ready = len(pids) >= children and all(_threads(p) == threads for p in pids)
        pss = _independent(pid)["pss"] if ready else -1
        if ready and abs(pss - last) <= 0.002 * pss:
            return
        last = pss
        time.sleep(0.2)


def _threads(pid: int) -> int:
    try:
        return len(list(Path(f"/proc/{pid}/task").iterdir()))
    except FileNotFoundError:
        return 0


def _kib(path: str, key: str) -> int:
    text = Path(path).read_text()
    return sum(int(v) for v in re.findall(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE))


def _independent(pid: int) -> dict[str, int]:
    """PSS/RSS sums and the parent's and children's USS, read here without capplan's parsers."""
    pids = [pid, *_children(pid)]

    def uss(p: int) -> int:
        rollup = f"/proc/{p}/smaps_rollup"
        return (_kib(rollup, "Private_Clean") + _kib(rollup, "Private_Dirty")) * KIB

    return {
        "pss": sum(_kib(f"/proc/{p}/smaps_rollup", "Pss") for p in pids) * KIB,
        "rss": sum(_kib(f"/proc/{p}/smaps_rollup", "Rss") for p in pids) * KIB,
        "parent_uss": uss(pid),
        "children_uss": sum(uss(p) for p in pids[1:]),
        "children": len(pids) - 1,
        "threads": sum(_threads(p) for p in pids[1:]),
    }


def _close(got: float | None, want: float, what: str, want_after: float | None = None) -> None:
    """Within 5 % of `want`, or of `want_after` (the same quantity read after the measurement)."""
    assert got is not None, what
    wants = (want,) if want_after is None else (want, want_after)
    low, high = min(wants) * (1 - TOLERANCE), max(wants) * (1 + TOLERANCE)
    assert low <= got <= high, f"{what}: got {got}, want {wants} within {TOLERANCE:.0%}"


def test_memory_matches_proc(server: tuple[str, RunningServer, Path]) -> None:
    """Independent readings just before and just after bracket the measurement."""
    mpm, running, _ = server
    before = _independent(running.pid)
    m = measure_memory(pid=running.pid)
    after = _independent(running.pid)
    f = m.memory
    assert f is not None
    assert m.warnings == ()
    assert m.mpm == mpm
    counts = {(t["children"], t["threads"]) for t in (before, after)}
    assert (f.processes, f.threads) in counts
    for key, got, what in (
        ("pss", f.pss_total_bytes, "PSS total"),
        ("rss", f.rss_total_bytes, "RSS total"),
        ("parent_uss", f.parent_bytes, "parent USS"),
    ):
        _close(got, before[key], what, after[key])
    assert f.private is not None
    children_uss = f.private.mean_bytes * f.processes
    _close(children_uss, before["children_uss"], "children USS", after["children_uss"])
    # The memory model: parent + shared + N × private is the PSS of the whole server.
    assert f.parent_bytes is not None
    assert f.shared_bytes is not None
    model = f.parent_bytes + f.shared_bytes + f.processes * f.private.mean_bytes
    _close(model, before["pss"], "parent + shared + N × private", after["pss"])
    assert f.shared_bytes > f.private.mean_bytes  # code and copy-on-write pages dominate idle


def test_threaded_split(server: tuple[str, RunningServer, Path]) -> None:
    mpm, running, _ = server
    m = measure_memory(pid=running.pid)
    assert m.memory is not None
    cost = m.memory.thread_cost
    if mpm == "prefork":
        assert cost is None
        return
    assert cost is not None
    assert cost.method == "stacks"  # every child runs ThreadsPerChild 25
    assert 4 * KIB <= cost.per_thread_bytes <= 256 * KIB
    assert m.memory.private is not None
    # The threads' touched stacks and arenas are a real part of a child's private memory, and
    # the rest (the process base: its heap, pools, copy-on-write pages it wrote) is not empty.
    threads_per_child = m.memory.threads / m.memory.processes
    threads_bytes = threads_per_child * cost.per_thread_bytes
    assert 0.02 * m.memory.private.mean_bytes < threads_bytes < m.memory.private.mean_bytes
    assert cost.process_base_bytes > 0


def test_scoreboard_and_request_rate(server: tuple[str, RunningServer, Path]) -> None:
    """20 requests between the two samples: the rate says 20 (our own status request excluded)."""
    mpm, running, _ = server
    calls = []

    def fetch_then_load(url: str, timeout_s: float) -> str:
        text = fetch_status(url, timeout_s)
        calls.append(url)
        if len(calls) == 1:
            for _ in range(20):
                with urllib.request.urlopen(running.url("/index.html"), timeout=5) as resp:
                    resp.read()
        return text

    m = measure(
        pid=running.pid,
        status_url=running.url("/server-status"),
        interval_s=0.3,
        fetch=fetch_then_load,
    )
    board = m.scoreboard
    assert board is not None
    assert board.server_mpm == mpm
    assert board.requests_per_s is not None
    assert board.interval_s is not None
    assert round(board.requests_per_s * board.interval_s) == 20
    states = dict(board.states)
    assert board.busy_workers >= 1
    assert states["_"] == board.idle_workers
    assert (board.conns_total is not None) == (mpm == "event")


def test_cli_with_the_config(
    server: tuple[str, RunningServer, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """-c finds the PidFile and the status URL (Listen + mod_status) through the evaluator."""
    mpm, running, conf = server
    assert main(["measure", "-c", str(conf), "--format", "json", "--interval", "0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["mpm"] == mpm
    assert data["parent_pid"] == running.pid
    assert data["scoreboard"]["server_mpm"] == mpm
    assert data["scoreboard"]["url"] == running.url("/server-status?auto")
    assert (data["per_thread_bytes"] is None) == (mpm == "prefork")


def test_default_status_url_from_the_listening_socket(
    server: tuple[str, RunningServer, Path],
) -> None:
    _, running, _ = server
    m = measure(pid=running.pid, interval_s=0)
    assert m.scoreboard is not None
    assert m.scoreboard.url == running.url("/server-status?auto")


def _read_as_nobody(path: Path) -> bytes:
    """Read a file with the kernel's permission checks for user nobody (65534), not root's."""
    setpriv = shutil.which("setpriv")
    assert setpriv is not None
    proc = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "cat", str(path)],
        capture_output=True,
        timeout=10,
        check=False,
    )
    if proc.returncode == 0:
        return proc.stdout
    if b"Permission denied" in proc.stderr:
        raise PermissionError(13, "Permission denied", str(path))
    raise FileNotFoundError(2, proc.stderr.decode(errors="replace").strip(), str(path))


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_another_users_server(server: tuple[str, RunningServer, Path]) -> None:
    """Measured as nobody: smaps_rollup of root's processes is refused; RSS and counts remain."""
    mpm, running, _ = server
    m = measure_memory(pid=running.pid, fs=ProcFS(Path("/"), _read_as_nobody))
    truth = _independent(running.pid)
    f = m.memory
    assert f is not None
    assert (f.processes, f.threads) == (truth["children"], truth["threads"])
    assert (f.pss_total_bytes, f.parent_bytes, f.private) == (None, None, None)
    _close(f.rss_total_bytes, truth["rss"], "RSS total (from status)")
    assert m.mpm == ("prefork" if mpm == "prefork" else None)
    count = truth["children"] + 1
    assert any(f"smaps_rollup unreadable for {count} of {count}" in w for w in m.warnings)
