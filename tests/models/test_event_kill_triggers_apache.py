"""A kill'em-all that the listener rules of the event models do not count, on a real httpd.

event's listener kills a child's idle keep-alive connections whenever an iteration finds no idle
worker (`workers_were_busy`, then `process_keepalive_queue(0)` in `listener_thread()`). The
models count two such iterations: a new connection on an enabled listener, and a keep-alive
request. A third is a connection in lingering close that becomes readable, its client's FIN:
`listener_thread()` asks for a worker without waiting (`get_worker()` with `blocking = 0` for
`CONN_STATE_LINGER_NORMAL`), and finding none sets `workers_were_busy` too.

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


def _episode(root: Path, *, close_while_busy: bool) -> tuple[list[float], float, float]:
    """(kill episode times, when C closed, when the slow requests were done)."""
    prepare_root(root)
    port = free_port()
    conf = root / "conf" / "httpd.conf"
    with slow_backend(SLOW_S) as backend:
        conf.write_text(
            base_config(root, "event", port, extra_modules=("proxy", "proxy_http"))
            + "ServerLimit 1\nThreadLimit 2\nThreadsPerChild 2\nMaxRequestWorkers 2\n"
            + "StartServers 1\nMinSpareThreads 1\nMaxSpareThreads 2\n"
            + "KeepAlive On\nKeepAliveTimeout 30\nLogLevel warn mpm_event:trace1\n"
            + f"ProxyPass /slow http://127.0.0.1:{backend}/slow\n"
        )
        with running_server(root, conf, port):
            lingering = _get(port, close=True)
            idle = _get(port, close=False)
            slow = [threading.Thread(target=_slow, args=(port,)) for _ in range(2)]
            try:
                for thread in slow:
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
