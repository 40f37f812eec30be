"""Service-time source for the validation suite: a tiny asyncio HTTP/1.1 server on 127.0.0.1.

Input: `GET /sleep?ms=<float>` requests (from httpd's mod_proxy pool). Output: after sleeping that
long, `200` with a small body and a Content-Length, keeping the connection open. It never closes an
idle connection itself, so the proxy pool, not this server, decides connection lifetimes.
Run as `python -m bench.validate.backend --port PORT`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from urllib.parse import parse_qs, urlsplit

_BODY = b"ok\n"
_MAX_HEADER_BYTES = 16384
_MAX_SLEEP_S = 60.0


def _response(status: str, close: bool) -> bytes:
    connection = "close" if close else "keep-alive"
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(_BODY)}\r\n"
        f"Connection: {connection}\r\n\r\n"
    )
    return head.encode("ascii") + _BODY


def sleep_seconds(target: str) -> float | None:
    """The requested sleep of `/sleep?ms=X` in seconds, or None for any other target."""
    parts = urlsplit(target)
    if parts.path != "/sleep":
        return None
    values = parse_qs(parts.query).get("ms", ["0"])
    try:
        ms = float(values[0])
    except ValueError:
        return None
    if not 0.0 <= ms <= _MAX_SLEEP_S * 1000.0:
        return None
    return ms / 1000.0


class _Connection(asyncio.Protocol):
    """One client connection; requests are handled strictly in order (no pipelining needed)."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > _MAX_HEADER_BYTES and b"\r\n\r\n" not in self._buffer:
            self._close()
            return
        if not self._busy:
            self._next()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _next(self) -> None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + 4]
        lines = head.split("\r\n")
        request_line = lines[0].split(" ")
        close = any(
            line.lower().startswith("connection:") and "close" in line.lower() for line in lines[1:]
        )
        if len(request_line) != 3 or request_line[0] not in {"GET", "HEAD"}:
            self._reply("400 Bad Request", close=True)
            return
        delay_s = sleep_seconds(request_line[1])
        if delay_s is None:
            self._reply("404 Not Found", close=close)
            return
        self._busy = True
        asyncio.get_running_loop().call_later(delay_s, self._reply, "200 OK", close)

    def _reply(self, status: str, close: bool) -> None:
        self._busy = False
        if self._transport is None:
            return
        self._transport.write(_response(status, close))
        if close:
            self._close()
        elif self._buffer:
            self._next()


async def serve(port: int) -> None:
    """Serve on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    server = await loop.create_server(_Connection, "127.0.0.1", port, backlog=4096)
    async with server:
        await stop
    server.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), 2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
