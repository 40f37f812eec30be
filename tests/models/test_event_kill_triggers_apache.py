"""A kill'em-all that the listener rules of the event models do not count, on a real httpd.

event's listener kills a child's idle keep-alive connections whenever an iteration finds no idle
worker (`workers_were_busy`, then `process_keepalive_queue(0)` in `listener_thread()`). The
models count two such iterations: a new connection on an enabled listener, and a keep-alive
request. A third is a connection in lingering close that becomes readable, its client's FIN:
`listener_thread()` asks for a worker without waiting (`get_worker()` with `blocking = 0` for
`CONN_STATE_LINGER_NORMAL`), and finding none sets `workers_were_busy` too.

`python -m tests.models.test_event_kill_triggers_apache [TRIES]` measures how often a client
that closes right after its response, with the child's other worker busy, finds its own worker
not yet idle and so gets the child's idle connection killed (derivations F7b).

One child of two threads: C's request ends with `Connection: close`, so httpd shuts C's side and
lingers while C holds its socket open; A stays idle on a keep-alive connection; two slow proxied
requests take both workers. When C then closes, httpd kills A at once (trace1 logs the episode);
when C stays open until the slow requests are done, nothing is killed. Every socket and wait is
bounded; the server is stopped by PID.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.httpd import base_config, free_port, prepare_root, running_server, slow_backend

SLOW_S = 3.0
# C closes this long after the slow requests took both workers (httpd lingers up to 2 s).
CLOSE_AFTER_S = 0.5
TIMEOUT_S = 10.0
# A pause that lets a worker that has just answered go back to idle.
SETTLE_S = 0.2


def _get(port: int, *, close: bool) -> socket.socket:
    """A connection that has had one response to GET /index.html (and is left open)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    header = b"Connection: close\r\n" if close else b""
    sock.sendall(b"GET /index.html HTTP/1.1\r\nHost: capplan\r\n" + header + b"\r\n")
    data = b""
    while not data.endswith(b"ok\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:80]
    return sock


def _slow(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: capplan\r\nConnection: close\r\n\r\n")
        with contextlib.suppress(OSError):
            sock.recv(4096)


def _kills(log: str) -> list[float]:
    """Epoch seconds of each kill'em-all episode httpd's trace1 logged."""
    times = []
    for line in log.splitlines():
        if "will shutdown" in line and "keep-alive connections" in line:
            stamp = line[1 : line.index("]")]
            times.append(datetime.strptime(stamp, "%a %b %d %H:%M:%S.%f %Y").timestamp())
    return times


def _config(root: Path, port: int, backend: int) -> Path:
    conf = root / "conf" / "httpd.conf"
    conf.write_text(
        base_config(root, "event", port, extra_modules=("proxy", "proxy_http"))
        + "ServerLimit 1\nThreadLimit 2\nThreadsPerChild 2\nMaxRequestWorkers 2\n"
        + "StartServers 1\nMinSpareThreads 1\nMaxSpareThreads 2\n"
        + "KeepAlive On\nKeepAliveTimeout 30\nLogLevel warn mpm_event:trace1\n"
        + f"ProxyPass /slow http://127.0.0.1:{backend}/slow\n"
    )
    return conf


def _episode(root: Path, *, close_while_busy: bool) -> tuple[list[float], float, float]:
    """(kill episode times, when C closed, when the slow requests were done)."""
    prepare_root(root)
    port = free_port()
    with slow_backend(SLOW_S) as backend:
        conf = _config(root, port, backend)
        with running_server(root, conf, port):
            lingering = _get(port, close=True)
            idle = _get(port, close=False)
            slow = [threading.Thread(target=_slow, args=(port,)) for _ in range(2)]
            try:
                # Each slow request must find a worker idle, or its accept kills A already (on
                # a loaded machine a worker can be slow to go back to idle): a pause before each.
                for thread in slow:
                    time.sleep(SETTLE_S)
                    thread.start()
                time.sleep(CLOSE_AFTER_S)
                closed_at = time.time()
                if close_while_busy:
                    lingering.close()
                for thread in slow:
                    thread.join(TIMEOUT_S)
                done_at = time.time()
            finally:
                lingering.close()
                idle.close()
            time.sleep(0.3)
            log = (root / "logs" / "error.log").read_text()
    return _kills(log), closed_at, done_at


@pytest.mark.apache
def test_a_lingering_close_that_finds_every_worker_busy_kills(apache2: str, tmp_path: Path) -> None:
    kills, closed_at, done_at = _episode(tmp_path / "closes", close_while_busy=True)
    assert done_at - closed_at >= SLOW_S - CLOSE_AFTER_S - 0.5
    # One episode, when C's FIN arrived, long before a worker was free (A was the idle one).
    assert len(kills) == 1, kills
    assert abs(kills[0] - closed_at) < 0.5, (kills, closed_at)
    # The control: no FIN while the workers are busy, no kill.
    kills, _, _ = _episode(tmp_path / "holds", close_while_busy=False)
    assert kills == []


def closes_that_kill(root: Path, tries: int) -> int:
    """Kill episodes over `tries` rounds of: an idle keep-alive connection A, then a client C
    served by the one free worker (the other holds a 60 s request) that closes at once; C's
    close kills A only when its worker is not yet idle when the close arrives."""
    prepare_root(root)
    port = free_port()
    with slow_backend(60.0) as backend:
        conf = _config(root, port, backend)
        with running_server(root, conf, port):
            held = threading.Thread(target=_slow, args=(port,), daemon=True)
            held.start()
            time.sleep(CLOSE_AFTER_S)
            start = time.time()
            for round_ in range(tries):
                idle = _get(port, close=False)
                time.sleep(0.05)
                _get(port, close=round_ % 2 == 0).close()
                time.sleep(0.1)
                idle.close()
                time.sleep(0.05)
            end = time.time()
            time.sleep(0.3)
            log = (root / "logs" / "error.log").read_text()
    return sum(1 for t in _kills(log) if start <= t <= end + 0.2)


if __name__ == "__main__":
    import sys
    import tempfile

    tries = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    with tempfile.TemporaryDirectory() as scratch:
        kills = closes_that_kill(Path(scratch) / "race", tries)
    print(f"{kills} kill episodes in {tries} closes right after a response")
