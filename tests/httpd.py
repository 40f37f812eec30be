"""Running the real Debian apache2 for tests: config tests and short-lived servers on 127.0.0.1.

Every server gets its own ServerRoot, PidFile, lock and log files under a temporary directory,
listens on 127.0.0.1 only, and is stopped by PID. /etc/apache2 is never read or written.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MODULE_DIR = Path("/usr/lib/apache2/modules")


def apache2_binary() -> str | None:
    """Path of Debian's apache2 binary, or None when it is not installed."""
    found = shutil.which("apache2")
    if found:
        return found
    candidate = Path("/usr/sbin/apache2")
    return str(candidate) if candidate.exists() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_config(root: Path, mpm: str, port: int, *, extra_modules: tuple[str, ...] = ()) -> str:
    """A minimal, self-contained main config for `mpm` rooted at `root` (no /etc/apache2)."""
    modules = ("authz_core", "mime", *extra_modules)
    lines = [
        f'ServerRoot "{root}"',
        f'DefaultRuntimeDir "{root}/run"',
        f'PidFile "{root}/run/httpd.pid"',
        f'ErrorLog "{root}/logs/error.log"',
        "LogLevel warn",
        "ServerName 127.0.0.1",
        f"Listen 127.0.0.1:{port}",
        f"LoadModule mpm_{mpm}_module {MODULE_DIR}/mod_mpm_{mpm}.so",
    ]
    lines += [f"LoadModule {m}_module {MODULE_DIR}/mod_{m}.so" for m in dict.fromkeys(modules)]
    lines.append(f'DocumentRoot "{root}/htdocs"')
    return "\n".join(lines) + "\n"


def prepare_root(root: Path) -> None:
    for sub in ("run", "logs", "htdocs", "conf"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "htdocs" / "index.html").write_text("ok\n")
    # mod_mime reads TypesConfig (default `mime.types` under ServerRoot) when the server starts.
    (root / "mime.types").touch()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APACHE_")}
    env.setdefault("LANG", "C")
    return env


def configtest(conf: Path, *defines: str, extra_args: tuple[str, ...] = ()) -> tuple[int, str]:
    """Run `apache2 -t -f conf [-D …]`; return (exit code, stderr+stdout text)."""
    binary = apache2_binary()
    assert binary is not None, "apache2 is not installed"
    args = [binary, "-t", "-f", str(conf)]
    for name in defines:
        args += ["-D", name]
    args += list(extra_args)
    proc = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=60, check=False)
    return proc.returncode, proc.stderr + proc.stdout


@dataclass
class RunningServer:
    root: Path
    port: int
    pid: int

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def status(self, timeout_s: float = 5.0) -> str:
        with urllib.request.urlopen(self.url("/server-status?auto"), timeout=timeout_s) as resp:
            return str(resp.read().decode("utf-8", "replace"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def running_server(
    root: Path, conf: Path, port: int, *, start_timeout_s: float = 15.0
) -> Iterator[RunningServer]:
    """Start apache2 with `conf` (which must use `root/run/httpd.pid`), yield, stop by PID."""
    binary = apache2_binary()
    assert binary is not None, "apache2 is not installed"
    pidfile = root / "run" / "httpd.pid"
    proc = subprocess.run(
        [binary, "-f", str(conf), "-k", "start"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"apache2 failed to start: {proc.stderr.strip()}")
    deadline = time.monotonic() + start_timeout_s
    pid = 0
    while time.monotonic() < deadline:
        if pidfile.exists():
            text = pidfile.read_text().strip()
            if text.isdigit():
                pid = int(text)
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=0.5),
                ):
                    break
        time.sleep(0.05)
    if pid == 0:
        raise RuntimeError("apache2 did not write its PidFile in time")
    try:
        yield RunningServer(root=root, port=port, pid=pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        stop_deadline = time.monotonic() + 10.0
        while _pid_alive(pid) and time.monotonic() < stop_deadline:
            time.sleep(0.05)
        if _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def slow_backend(delay_s: float) -> Iterator[int]:
    """A local HTTP backend on 127.0.0.1 that answers every GET with "ok" after `delay_s` (for
    mod_proxy to hold workers busy); yields its port and stops with the block."""

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(delay_s)
            body = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
