"""The handshake capture of the validation harness against the kernel's real accept queue.

A listening socket that never accepts, with a backlog of 0, holds one connection in its accept
queue (derivations §1, F11): of three connections opened at once the first gets in and the
kernel drops the SYNs of the other two, which their clients send again on the kernel's backoff
(F12). tcpdump on lo sees it all; the harness's reading must count exactly those two as turned
away. Needs tcpdump and the right to capture on lo (root, as in CI).
"""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import pytest

from bench.validate.capture import connections, read_pcap
from bench.validate.casefile import parse_case
from bench.validate.harness import capturing, read_handshakes
from bench.validate.predict import read_syn_linear_timeouts, read_syn_retries, syn_times


def test_the_capture_counts_the_handshakes_a_full_accept_queue_turned_away(
    tcpdump: str, tmp_path: Path
) -> None:
    pcap = tmp_path / "handshakes.pcap"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        t0 = time.time()
        with contextlib.ExitStack() as clients, capturing(port, pcap, enabled=True):
            for _ in range(3):
                client = clients.enter_context(socket.socket())
                client.setblocking(False)
                client.connect_ex(("127.0.0.1", port))
                time.sleep(0.05)  # in order: the first one fills the queue
            time.sleep(5.5)  # the dropped SYNs go out again after 1 s, and again
    handshakes = read_handshakes(pcap, t0)
    assert [blocked for _, blocked in handshakes] == [False, True, True]
    assert all(0.0 <= t < 1.0 for t, _ in handshakes)
    # The turned-away clients send their SYNs when the kernel's backoff says (`syn_times`, which
    # sets the validation's connect attempts): 0, 1, 3 s, or 0, 1, 2, 3, 4, 5 s with Linux 6.5's
    # linear timeouts.
    expected = [t for t in syn_times(read_syn_retries(), read_syn_linear_timeouts()) if t < 4.5]
    _, conns = connections(read_pcap(pcap))
    for conn in conns[1:]:
        syns = [p.time_s for p in conn.client() if p.flags == 0x02][: len(expected)]
        assert [t - syns[0] for t in syns] == pytest.approx(expected, abs=0.25)


def test_without_the_capture_nothing_is_started_or_read(tmp_path: Path) -> None:
    pcap = tmp_path / "none.pcap"
    with capturing(1, pcap, enabled=False):
        pass
    assert not pcap.exists()
    assert read_handshakes(pcap, 0.0) == ()


def test_a_case_asks_for_the_capture_in_its_file() -> None:
    text = """\
duration_s: 30
measure_block: true
capture: true
server:
  mpm: event
  processes: 1
  threads_per_child: 4
traffic:
  requests_per_second: 20
  service_time_s: 0.1
  requests_per_visit: 3
  think_time_s: 0.2
  idle_hold_probability: 0.3
"""
    assert parse_case(text, Path("c.yaml")).capture
    assert not parse_case(text.replace("capture: true\n", ""), Path("c.yaml")).capture
    with pytest.raises(ValueError, match=r"c\.yaml:3: case\.capture must be bool"):
        parse_case(text.replace("capture: true", "capture: 3"), Path("c.yaml"))
