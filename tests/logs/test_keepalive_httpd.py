"""httpd as the oracle for the keep-alive inference: a real Debian apache2 with KeepAliveTimeout
500ms and MaxKeepAliveRequests 3 serves one client whose gaps straddle the timeout; `capplan
profile` without `-c` reads the timeout and the cap back from `%k`, `%X` and the gaps."""

from __future__ import annotations

import http.client
import time
from pathlib import Path

import pytest

from capplan.logs.derive import derive_profile
from capplan.logs.logformat import compile_format
from capplan.logs.scan import ScanOptions, scan_logs
from tests.httpd import base_config, free_port, prepare_root, running_server

FORMAT = '%h %{usec}t "%r" %>s %D %k %X "%{User-Agent}i"'
TIMEOUT_S = 0.5
CAP = 3
# One cycle of gaps (seconds) between a response and the next request, with what httpd must
# do: kept (<= T), timed out (> T), or closed by the cap after the 4th request of a connection.
CYCLE = (0.35, 0.8, 0.05, 0.42, 0.1, 0.05, 0.1, 0.1, 0.1, 0.05, 0.3, 0.65, 0.45, 0.7)


class _Client:
    """One keep-alive client: reconnects when httpd has closed the connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

    def get(self) -> None:
        for _ in range(2):
            try:
                self.conn.request("GET", "/index.html", headers={"User-Agent": "capplan-test"})
                response = self.conn.getresponse()
                response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                # the timeout closed it while we thought: send again on a new connection
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.conn.close()  # the cap: httpd says so and closes
            return
        raise AssertionError("httpd did not answer twice in a row")


@pytest.mark.apache
def test_timeout_and_cap_read_back_from_a_real_httpd(apache2: str, tmp_path: Path) -> None:
    prepare_root(tmp_path)
    port = free_port()
    log = tmp_path / "logs" / "access.log"
    conf = tmp_path / "conf" / "httpd.conf"
    conf.write_text(
        base_config(tmp_path, "event", port)
        + 'LogFormat "'
        + FORMAT.replace('"', '\\"')
        + '" planning\n'
        + f'CustomLog "{log}" planning\n'
        + "KeepAlive On\n"
        + f"KeepAliveTimeout {int(TIMEOUT_S * 1000)}ms\n"
        + f"MaxKeepAliveRequests {CAP}\n"
    )
    with running_server(tmp_path, conf, port):
        client = _Client(port)
        client.get()
        for _ in range(3):
            for gap in CYCLE:
                time.sleep(gap)
                client.get()
        client.conn.close()
        time.sleep(0.3)  # the last line is written when the request ends
    result = scan_logs((str(log),), compile_format(FORMAT), ScanOptions())
    assert result.parsed == 1 + 3 * len(CYCLE)
    inferred = derive_profile(result, name="a").inferred
    assert inferred is not None
    assert inferred.max_requests == CAP
    assert inferred.largest_keepalives == CAP
    assert inferred.kept_gaps > 0
    assert inferred.broken_gaps > 0
    assert inferred.timeout_s is not None
    # kept gaps go up to 0.45 s, timed-out ones start at 0.65 s (a busy machine stretches both)
    assert 0.4 <= inferred.timeout_s <= 0.7
