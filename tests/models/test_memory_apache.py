"""The worst-case memory against a real graceful restart under load (prefork and event).

A private apache2 serves slow requests through mod_proxy (a local backend that sleeps). The worst
case the model counts is the one this test builds: a first wave of clients takes every worker of
the old generation, the memory figures are measured by `capplan measure` while those requests
are in flight, then a second wave queues in the listen backlog and the server restarts
gracefully. The old generation is still holding its requests when the new one takes the second
wave, so both are at their loaded size at once. The peak is the largest sum of PSS over the
parent and its children, sampled every 20 ms through the restart. The model must not be below
the peak (in one of two restarts: it holds a 95 % bound) and at most 10 % above it. Children
differ in size; `capplan measure` reports their spread and the worst case counts it
(`memory.process_spread`), so event runs four children per generation, enough for the spread
to be measured.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from capplan.measure import measure_memory
from capplan.models import evaluate
from capplan.pipeline import apply_measurement, load_config
from capplan.profile import profile_from_text
from tests.httpd import base_config, free_port, prepare_root, running_server, slow_backend

# Each proxied request holds its worker this long: longer than the measurement, the restart and
# the sampling after it, so the old generation keeps its first-wave requests throughout.
SLOW_S = 12.0
# After the first wave the children grow as their workers read the requests: the measurement
# waits until their PSS has stopped growing (checked every SETTLE_STEP_S, at most SETTLE_MAX_S; a
# loaded machine reads slowly). After the second wave its connections wait in the backlog.
SETTLE_STEP_S = 0.25
SETTLE_STEPS = 2
SETTLE_MAX_S = 5.0
QUEUE_S = 0.3
# Each request carries this many 60 KB headers; with MaxMemFree 0 a child keeps the memory its
# request pools took, so children weigh megabytes as real application children do, instead of
# the few hundred KiB of a bare httpd that the parent's restart overhead would swamp.
HEADERS = 60
HEADER = "x" * 60_000
# Sampling of /proc during the restart, bounded in time.
SAMPLE_EVERY_S = 0.02
SAMPLE_FOR_S = 3.0

PROFILE = profile_from_text(
    "version: 1\nname: restart\ntraffic:\n  requests_per_second: 1\n  service_time: 1s\n",
    "restart.yaml",
)


def _request(port: int) -> None:
    """One client: one heavy slow request, bounded by a timeout."""
    headers = {f"X-Weight-{i}": HEADER for i in range(HEADERS)}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3 * SLOW_S)
    with contextlib.suppress(OSError, http.client.HTTPException):
        conn.request("GET", "/slow", headers={"Connection": "close", **headers})
        conn.getresponse().read()
    conn.close()


def _wave(port: int, clients: int) -> list[threading.Thread]:
    """`clients` concurrent one-request clients, started."""
    threads = [threading.Thread(target=_request, args=(port,)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    return threads


def _children(parent: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == parent:
                out.append(int(entry))
    return out


def _pss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def _settle(parent: int) -> None:
    """Wait until the children's PSS has stopped growing (within 0.2 % over SETTLE_STEPS steps
    in a row: on a loaded host one quiet step can be a pause in the middle of the growth, and a
    measurement taken there sizes the worst case low)."""
    deadline = time.monotonic() + SETTLE_MAX_S
    before = -1
    quiet = 0
    while time.monotonic() < deadline:
        time.sleep(SETTLE_STEP_S)
        now = sum(_pss_bytes(child) for child in _children(parent))
        quiet = quiet + 1 if before > 0 and now <= before * 1.002 else 0
        if quiet >= SETTLE_STEPS:
            return
        before = now


def _peak_during_restart(parent: int) -> tuple[int, int]:
    """(largest PSS sum, most children) while the server restarts gracefully."""
    os.kill(parent, signal.SIGUSR1)  # apachectl graceful
    peak_bytes = peak_children = 0
    deadline = time.monotonic() + SAMPLE_FOR_S
    while time.monotonic() < deadline:
        children = _children(parent)
        peak_children = max(peak_children, len(children))
        peak_bytes = max(peak_bytes, _pss_bytes(parent) + sum(_pss_bytes(c) for c in children))
        time.sleep(SAMPLE_EVERY_S)
    return peak_bytes, peak_children


def _run(tmp_path: Path, mpm: str, sizing: str, workers: int) -> tuple[int, int, int, int]:
    """(modelled worst bytes, modelled worst processes, measured peak bytes, peak children)."""
    root = tmp_path / mpm
    prepare_root(root)
    port = free_port()
    conf = root / "conf" / "httpd.conf"
    with slow_backend(SLOW_S) as backend:
        conf.write_text(
            base_config(root, mpm, port, extra_modules=("proxy", "proxy_http"))
            + sizing
            + f"ProxyPass /slow http://127.0.0.1:{backend}/slow\nKeepAlive Off\n"
            + f"ProxyTimeout {int(2 * SLOW_S)}\n"
            + "GracefulShutdownTimeout 30\nLimitRequestFieldSize 65536\nMaxMemFree 0\n"
        )
        with running_server(root, conf, port) as server:
            clients = _wave(port, workers)  # the old generation: every worker busy
            try:
                _settle(server.pid)
                measured = measure_memory(pid=server.pid)
                profile, _ = apply_measurement(PROFILE, measured)
                settings = load_config(str(conf)).settings
                figures = measured.memory
                assert figures is not None
                assert figures.private is not None
                if figures.thread_cost is None and mpm != "prefork":
                    # Every child runs the same threads, so the per-thread cost cannot be told
                    # from the process base: take the children's mean private memory whole.
                    memory = replace(
                        profile.memory,
                        thread_bytes=0,
                        threaded_process_bytes=figures.private.mean_bytes,
                    )
                    profile = replace(profile, memory=memory)
                metrics = evaluate(settings, profile)
                clients += _wave(port, workers)  # waits in the backlog for the new generation
                time.sleep(QUEUE_S)
                peak_bytes, peak_children = _peak_during_restart(server.pid)
            finally:
                for client in clients:
                    client.join(timeout=3 * SLOW_S)
    return metrics.memory.worst_bytes, metrics.memory.worst_processes, peak_bytes, peak_children


@pytest.mark.apache
@pytest.mark.parametrize(
    ("mpm", "sizing", "processes", "workers", "within"),
    [
        # ServerLimit 20 is never used: prefork forks only below MaxRequestWorkers.
        pytest.param(
            "prefork",
            "ServerLimit 20\nMaxRequestWorkers 4\nStartServers 4\n"
            "MinSpareServers 4\nMaxSpareServers 5\n",
            4,
            4,
            1.10,
            id="prefork",
        ),
        # 4 active processes and 4 slots of restart room: old and new generation overlap.
        pytest.param(
            "event",
            "ServerLimit 8\nThreadLimit 5\nThreadsPerChild 5\n"
            "MaxRequestWorkers 20\nStartServers 4\nMinSpareThreads 5\n"
            "MaxSpareThreads 40\n",
            8,
            20,
            1.10,
            id="event",
        ),
    ],
)
def test_worst_case_memory_holds_through_a_graceful_restart(  # noqa: PLR0917 (parameters)
    apache2: str,
    tmp_path: Path,
    mpm: str,
    sizing: str,
    processes: int,
    workers: int,
    within: float,
) -> None:
    worst, worst_processes, peak, peak_children = _run(tmp_path / "1", mpm, sizing, workers)
    if peak_children < processes or worst < peak:
        # One more try, judged alone: on a loaded machine the new generation may start only after
        # the old one is gone, and the run then did not reach the case it is meant to check; and
        # the children's spread enters the worst case as a 95 % bound (1.645 x spread x sqrt(N)),
        # which one restart in twenty may exceed by a little (0.9997 x the peak in one CI run).
        # Two restarts in a row above it happen once in four hundred, and every time when the
        # bound is low.
        worst, worst_processes, peak, peak_children = _run(tmp_path / "2", mpm, sizing, workers)
    assert worst_processes == processes
    # The restart really reached the modelled process count (else the test proves nothing).
    assert peak_children == processes, (peak_children, processes)
    assert worst >= peak, (worst, peak)
    assert worst <= within * peak, (worst, peak)
