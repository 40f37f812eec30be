"""A minimal FastCGI client for php-fpm's status page: (socket address, path) → response body.

Input: a pool's `listen` address (unix socket path or host:port on 127.0.0.1) and its
`pm.status_path`. Output: the body php-fpm returns for `PATH?json`, decoded. One request, bounded
in time (a timeout on every socket operation) and size (MAX_RESPONSE_BYTES); errors are
`StatusError` with the reason.
"""

from __future__ import annotations

import socket
import struct

from capplan.measure.status import StatusError

_VERSION = 1
_BEGIN_REQUEST, _END_REQUEST, _PARAMS, _STDIN, _STDOUT, _STDERR = 1, 3, 4, 5, 6, 7
_RESPONDER = 1
MAX_RESPONSE_BYTES = 1 << 20


def _record(kind: int, content: bytes, request_id: int = 1) -> bytes:
    """One FastCGI record: version, type, request id, content length, padding, reserved."""
    return struct.pack(">BBHHBx", _VERSION, kind, request_id, len(content), 0) + content


def _pair(name: bytes, value: bytes) -> bytes:
    """A name-value pair; lengths below 128 take one byte, others four with the top bit set."""

    def length(n: int) -> bytes:
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)

    return length(len(name)) + length(len(value)) + name + value


def _connect(address: str, timeout_s: float) -> socket.socket:
    if address.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: str | tuple[str, int] = address
    else:
        host, _, port = address.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        if host in ("0.0.0.0", "*", "::"):
            host = "127.0.0.1"
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        target = (host, int(port))
    sock.settimeout(timeout_s)
    try:
        sock.connect(target)
    except OSError as exc:
        sock.close()
        raise StatusError(f"cannot connect to the php-fpm pool at {address}: {exc}") from None
    return sock


def fastcgi_get(address: str, path: str, query: str = "", *, timeout_s: float = 5.0) -> str:
    """GET `path?query` from php-fpm at `address` over FastCGI; the body after the headers."""
    params = {
        "SCRIPT_NAME": path,
        "SCRIPT_FILENAME": path,
        "REQUEST_URI": f"{path}?{query}" if query else path,
        "QUERY_STRING": query,
        "REQUEST_METHOD": "GET",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    body = b"".join(_pair(k.encode(), v.encode()) for k, v in params.items())
    message = (
        _record(_BEGIN_REQUEST, struct.pack(">HB5x", _RESPONDER, 0))
        + _record(_PARAMS, body)
        + _record(_PARAMS, b"")
        + _record(_STDIN, b"")
    )
    out = bytearray()
    with _connect(address, timeout_s) as sock:
        try:
            sock.sendall(message)
            buffer = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                if len(buffer) > MAX_RESPONSE_BYTES:
                    raise StatusError(f"php-fpm at {address}: response larger than 1 MiB")
                ended = False
                while len(buffer) >= 8:
                    _, kind, _, size, padding = struct.unpack(">BBHHBx", buffer[:8])
                    if len(buffer) < 8 + size + padding:
                        break
                    content = buffer[8 : 8 + size]
                    buffer = buffer[8 + size + padding :]
                    if kind == _STDOUT:
                        out += content
                    elif kind == _END_REQUEST:
                        ended = True
                if ended:
                    break
        except OSError as exc:
            raise StatusError(f"php-fpm at {address}: {exc}") from None
    text = out.decode("utf-8", "replace")
    head, sep, rest = text.partition("\r\n\r\n")
    if not sep:
        head, sep, rest = text.partition("\n\n")
    status = next((line for line in head.splitlines() if line.lower().startswith("status:")), "")
    if status and not status.split(":", 1)[1].strip().startswith("200"):
        raise StatusError(
            f"php-fpm at {address} answered {path}: {status.split(':', 1)[1].strip()}"
        )
    return rest
