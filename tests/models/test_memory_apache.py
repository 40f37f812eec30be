"""The worst-case memory against a real graceful restart under load (prefork and event).

A private apache2 serves slow requests through mod_proxy (a local backend that sleeps), so the
old generation is still finishing its requests when the new one starts. The memory figures come
from `capplan measure` on the running server, the model's worst case from them and the config,
and the peak is the largest sum of PSS over the parent and its children sampled every 20 ms
through the restart. The model must never be below the peak and at most 10 % above it.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from capplan.measure import measure_memory
from capplan.models import evaluate
from capplan.pipeline import apply_measurement, load_config
from capplan.profile import profile_from_text
from tests.httpd import base_config, free_port, prepare_root, running_server

# Each proxied request holds its worker this long: longer than the new generation takes to
# start, so old and new overlap.
SLOW_S = 6.0
# Two rounds of requests on every worker before the measurement: children at their full size.
WARM_UP_S = 2 * SLOW_S + 1.0
# Clients in flight: twice the workers, so that every worker of the old generation is busy when
# the restart begins and the accept queue holds enough to fill the new generation at once.
CLIENTS_PER_WORKER = 2
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


class _Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(SLOW_S)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextlib.contextmanager
def _backend() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _load(port: int, stop: threading.Event) -> None:
    """One client: heavy slow requests back to back until `stop` (every request bounded by a
    timeout, the loop by a deadline)."""
    deadline = time.monotonic() + 60.0
    headers = {f"X-Weight-{i}": HEADER for i in range(HEADERS)}
    while not stop.is_set() and time.monotonic() < deadline:
        path = "/slow"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2 * SLOW_S)
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn.request("GET", path, headers={"Connection": "close", **headers})
            conn.getresponse().read()
        conn.close()


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
    with _backend() as backend:
        conf.write_text(
            base_config(root, mpm, port, extra_modules=("proxy", "proxy_http"))
            + sizing
            + f"ProxyPass /slow http://127.0.0.1:{backend}/slow\nKeepAlive Off\n"
            + f"ProxyTimeout {int(2 * SLOW_S)}\n"
            + "GracefulShutdownTimeout 30\nLimitRequestFieldSize 65536\nMaxMemFree 0\n"
        )
        with running_server(root, conf, port) as server:
            stop = threading.Event()
            clients = [
                threading.Thread(target=_load, args=(port, stop))
                for _ in range(CLIENTS_PER_WORKER * workers)
            ]
            for client in clients:
                client.start()
            try:
                time.sleep(WARM_UP_S)  # every worker has served heavy requests
                measured = measure_memory(pid=server.pid)
                profile, _ = apply_measurement(PROFILE, measured)
                settings = load_config(str(conf)).settings
                figures = measured.memory
                assert figures is not None
                assert figures.private is not None
                if figures.thread_cost is None and mpm != "prefork":
                    # Every child runs the same threads, so the per-thread cost cannot be told
                    # from the process base: take a child's measured private memory whole.
                    memory = replace(
                        profile.memory,
                        thread_bytes=0,
                        threaded_process_bytes=figures.private.mean_bytes,
                    )
                    profile = replace(profile, memory=memory)
                metrics = evaluate(settings, profile)
                peak_bytes, peak_children = _peak_during_restart(server.pid)
            finally:
                stop.set()
                for client in clients:
                    client.join(timeout=15)
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
        # 2 active processes and 2 slots of restart room: old and new generation overlap.
        pytest.param(
            "event",
            "ServerLimit 4\nThreadLimit 5\nThreadsPerChild 5\n"
            "MaxRequestWorkers 10\nStartServers 2\nMinSpareThreads 5\n"
            "MaxSpareThreads 20\n",
            4,
            10,
            1.35,
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
    if peak_children < processes:
        # On a loaded machine the new generation may start only after the old one is gone: the
        # run then did not reach the case it is meant to check; one more try.
        worst, worst_processes, peak, peak_children = _run(tmp_path / "2", mpm, sizing, workers)
    assert worst_processes == processes
    # The restart really reached the modelled process count (else the test proves nothing).
    assert peak_children == processes, (peak_children, processes)
    assert worst >= peak, (worst, peak)
    assert worst <= within * peak, (worst, peak)
