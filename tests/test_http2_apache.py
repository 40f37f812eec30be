"""capplan.http2 against the running apache2: what mod_http2 really starts and advertises.

For each config, capplan's effective values are compared with the server's behaviour: the worker
pool each child logs when it creates it (`h2_workers: created with min= max= idle_ms=`, at
LogLevel http2:info), the threads each child runs (/proc), the SETTINGS_MAX_CONCURRENT_STREAMS
the server sends on a cleartext HTTP/2 connection, whether an `Upgrade: h2c` is accepted, and
whether a request over HTTP/2 is served at all.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from capplan.machine import load_effective_config
from tests.httpd import base_config, free_port, prepare_root, running_server

h2_connection = pytest.importorskip("h2.connection")
h2_config = pytest.importorskip("h2.config")
h2_events = pytest.importorskip("h2.events")
h2_settings = pytest.importorskip("h2.settings")
h2_exceptions = pytest.importorskip("h2.exceptions")

pytestmark = pytest.mark.apache

_CREATED = re.compile(r"h2_workers: created with min=(\d+) max=(\d+) idle_ms=(\d+)")
# An HTTP/1.1 request asking to switch to h2c (RFC 7540 §3.2), with empty HTTP2-Settings.
_UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\nHTTP2-Settings: \r\n\r\n"
)


@dataclass(frozen=True)
class Case:
    id: str
    mpm: str
    lines: tuple[str, ...]


CASES = (
    Case("event-defaults", "event", ("Protocols h2c http/1.1",)),
    Case(
        "event-set",
        "event",
        (
            "ThreadsPerChild 10",
            "MaxRequestWorkers 20",
            "Protocols h2c http/1.1",
            "H2MinWorkers 4",
            "H2MaxWorkers 9",
            "H2MaxSessionStreams 33",
            "H2MaxWorkerIdleSeconds 42",
        ),
    ),
    Case(
        "worker-vhost-streams",
        "worker",
        (
            "ThreadsPerChild 8",
            "MaxRequestWorkers 16",
            "Protocols h2c http/1.1",
            "<VirtualHost 127.0.0.1:{port}>",
            "H2MaxSessionStreams 20",
            "</VirtualHost>",
        ),
    ),
    Case("event-max-below-min", "event", ("Protocols h2c http/1.1", "H2MaxWorkers 8")),
    Case("prefork", "prefork", ("Protocols h2c http/1.1", "MaxRequestWorkers 4")),
)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def _h2_settings_and_status(port: int) -> tuple[int | None, int | None]:
    """(SETTINGS_MAX_CONCURRENT_STREAMS, :status of GET /index.html) over prior-knowledge h2c."""
    conn = h2_connection.H2Connection(h2_config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(
        1,
        [
            (":method", "GET"),
            (":path", "/index.html"),
            (":scheme", "http"),
            (":authority", "127.0.0.1"),
        ],
        end_stream=True,
    )
    streams: int | None = None
    status: int | None = None
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(conn.data_to_send())
        deadline = time.monotonic() + 5
        while status is None and time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            try:
                events = conn.receive_data(data)
            except h2_exceptions.ProtocolError:  # the server does not speak HTTP/2
                break
            for event in events:
                if isinstance(event, h2_events.RemoteSettingsChanged):
                    code = h2_settings.SettingCodes.MAX_CONCURRENT_STREAMS
                    if code in event.changed_settings:
                        streams = event.changed_settings[code].new_value
                elif isinstance(event, h2_events.ResponseReceived):
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2_events.StreamReset | h2_events.ConnectionTerminated):
                    return streams, None
            sock.sendall(conn.data_to_send())
    return streams, status


def _upgrade_accepted(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(_UPGRADE)
        head = sock.recv(4096)
    return head.startswith(b"HTTP/1.1 101")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_inspect_matches_the_running_server(case: Case, tmp_path: Path, apache2: str) -> None:
    port = free_port()
    root = tmp_path / "root"
    prepare_root(root)
    text = base_config(root, case.mpm, port, extra_modules=("http2",))
    text += "LogLevel warn http2:info\n"
    text += "\n".join(line.format(port=port) for line in case.lines) + "\n"
    conf = root / "conf" / "httpd.conf"
    conf.write_text(text)

    config = load_effective_config(conf, somaxconn=4096)
    settings = config.http2
    assert settings is not None
    mpm_threads = 1 if case.mpm == "prefork" else config.settings.threads_per_child  # type: ignore[union-attr]

    with running_server(root, conf, port) as server:
        deadline = time.monotonic() + 10
        log = ""
        while time.monotonic() < deadline:
            log = (root / "logs" / "error.log").read_text()
            if _CREATED.search(log) and _children(server.pid):
                break
            time.sleep(0.1)
        time.sleep(0.5)  # let every child finish starting its threads
        children = _children(server.pid)
        threads = sorted(len(os.listdir(f"/proc/{child}/task")) for child in children)
        streams, status = _h2_settings_and_status(port)
        upgraded = _upgrade_accepted(port)
        time.sleep(0.3)
        log = (root / "logs" / "error.log").read_text()

    created = {tuple(int(g) for g in m.groups()) for m in _CREATED.finditer(log)}
    assert created == {
        (settings.min_workers, settings.max_workers, int(settings.worker_idle_s * 1000))
    }
    # Each child: its MPM threads (the main thread, plus a listener and ThreadsPerChild workers
    # for worker/event) and the h2 workers h2_workers_create() could start (at most max).
    base = 1 if case.mpm == "prefork" else 2 + mpm_threads
    started = min(settings.min_workers, settings.max_workers)
    assert threads
    assert set(threads) == {base + started}
    # The connection's server is the first vhost of the address when there is one.
    served_by = settings.servers[1] if len(settings.servers) > 1 else settings.main
    # Without workers the session is never set up: no SETTINGS frame at all.
    assert streams == (served_by.max_session_streams if settings.workers_start else None)
    assert (status == 200) is settings.workers_start
    assert ("AH02911" in log) is (not settings.workers_start)
    # Upgrade is mod_http2's negotiation path: declined under prefork (AH10034), as is ALPN.
    assert upgraded is settings.negotiates
    assert ("AH10034" in log) is (not settings.negotiates)
