"""mod_status ?auto: parsing real captures, the request rate, and servers that do not answer it."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from capplan.measure.status import StatusError, auto_url, fetch_status, read_scoreboard
from tests.measure.fakeproc import DATA

URL = "http://127.0.0.1:8080/server-status?auto"


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        pytest.param("status-event-auto.txt", ("event", 1, 49, 150, 0), id="event"),
        pytest.param("status-worker-auto.txt", ("worker", 1, 49, 150, None), id="worker"),
        pytest.param("status-prefork-auto.txt", ("prefork", 1, 4, 150, None), id="prefork"),
        pytest.param(
            "status-event-auto-extendedstatus-off.txt", ("event", 1, 74, 400, 0), id="off"
        ),
    ],
)
def test_parse_real_captures(capture: str, expected: tuple[str, int, int, int, int | None]) -> None:
    """expected: ServerMPM, BusyWorkers, IdleWorkers, scoreboard length, ConnsTotal."""
    mpm, busy, idle, slots, conns_total = expected
    text = (DATA / capture).read_text()
    board, _ = read_scoreboard(URL, 0, fetch=lambda url, timeout_s: text)
    states = dict(board.states)
    assert (board.server_mpm, board.busy_workers, board.idle_workers) == (mpm, busy, idle)
    assert sum(states.values()) == slots
    assert states["_"] == idle
    assert states["W"] == busy
    assert board.conns_total == conns_total
    assert board.requests_per_s is None


def _with_accesses(text: str, total: int) -> str:
    return text.replace("Total Accesses: 0", f"Total Accesses: {total}")


@pytest.mark.parametrize(
    ("before", "after", "rate", "note"),
    [
        pytest.param(100, 101, 0.0, None, id="idle-only-our-request"),
        pytest.param(100, 151, 25.0, None, id="fifty-requests-in-2s"),
        pytest.param(100, 7, None, "went down", id="restart"),
    ],
)
def test_request_rate_from_two_samples(
    before: int, after: int, rate: float | None, note: str | None
) -> None:
    text = (DATA / "status-prefork-auto.txt").read_text()
    pages = iter([_with_accesses(text, before), _with_accesses(text, after)])
    now = [0.0]
    board, notes = read_scoreboard(
        URL,
        2.0,
        fetch=lambda url, timeout_s: next(pages),
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    assert board.requests_per_s == rate
    assert board.interval_s == 2.0
    assert board.total_accesses == after
    assert (note is None and not notes) or any(note in n for n in notes if note)


def test_no_rate_without_extended_status() -> None:
    text = (DATA / "status-prefork-auto-extendedstatus-off.txt").read_text()
    board, notes = read_scoreboard(URL, 0.01, fetch=lambda url, timeout_s: text)
    assert board.requests_per_s is None
    assert any("ExtendedStatus Off" in n for n in notes)


def test_auto_is_added_when_there_is_no_query() -> None:
    assert auto_url("http://127.0.0.1/server-status") == "http://127.0.0.1/server-status?auto"
    assert auto_url(URL) == URL


def test_closed_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now: the connection is refused.
    with pytest.raises(StatusError, match=f"127.0.0.1:{port}/server-status.*refused"):
        read_scoreboard(f"http://127.0.0.1:{port}/server-status", 0)


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""
    content_type = "text/html"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request log line (stderr is not for tests)."""


@contextlib.contextmanager
def serving(body: bytes, content_type: str) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"body": body, "content_type": content_type})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/server-status"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        pytest.param(
            (DATA / "status-event-auto.txt").read_bytes().replace(b"\n", b"<br>\n"),
            "text/html; charset=ISO-8859-1",
            "returned HTML",
            id="html-status-page",
        ),
        pytest.param(b"<html><body>It works!</body></html>", "text/plain", "HTML", id="html-body"),
        pytest.param(b"hello\n", "text/plain", r"not a mod_status \?auto page", id="other-text"),
        pytest.param(b"BusyWorkers: x\nScoreboard: _\n", "text/plain", "not a number", id="bad"),
    ],
)
def test_pages_that_are_not_the_auto_format(body: bytes, content_type: str, message: str) -> None:
    with serving(body, content_type) as url, pytest.raises(StatusError, match=message):
        read_scoreboard(url, 0)


def test_a_real_auto_page_over_http() -> None:
    body = (DATA / "status-worker-auto.txt").read_bytes()
    with serving(body, "text/plain; charset=ISO-8859-1") as url:
        assert "ServerMPM: worker" in fetch_status(auto_url(url), 2.0)
