"""Runs one validation case against the real Debian apache2 and collects the raw observations.

Input: a `Case`. It writes an httpd config under its own ServerRoot in a temporary directory
(127.0.0.1 only, mod_status with ExtendedStatus, mod_proxy to the backend with a pool larger than
the worker count, every worker pre-spawned), starts the backend, httpd and the load generator as
child processes, and samples the kernel (/proc/net/tcp: accept queue and open connections on the
port; /proc/net/netstat: ListenOverflows) and `server-status?auto` while the load runs.
Output: a frozen `RawRun` with every sample, request record and access-log line; all processes are
stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.validate.capture import handshakes, read_pcap
from bench.validate.casefile import Case
from bench.validate.loadgen import LoadSpec, Record, Summary, read_records
from tests.httpd import base_config, configtest, free_port, prepare_root, running_server

KERNEL_PERIOD_S = 0.05
STATUS_PERIOD_S = 0.25
STATUS_TIMEOUT_S = 10.0
PRIORITY = -10  # nice value of httpd and the backend during a run
REALTIME_PRIORITY = 10  # SCHED_RR priority of the generator (1..99)
PROJECT_ROOT = Path(__file__).resolve().parents[2]
_TCP_ESTABLISHED = "01"
_TCP_SYN_RECV = "03"
_TCP_CLOSE_WAIT = "08"
_TCP_LISTEN = "0A"


@dataclass(frozen=True, slots=True)
class KernelSample:
    t_s: float  # seconds since the generator's open-loop start
    accept_queue: int  # Recv-Q of the listening socket: connections not yet accepted
    connections: int  # server-side ESTABLISHED + CLOSE_WAIT sockets on the port (incl. queue)
    listen_overflows: int  # TcpExtListenOverflows, cumulative, whole host


@dataclass(frozen=True, slots=True)
class StatusSample:
    t_s: float  # when the poll was sent
    latency_s: float  # -1 when unanswered within STATUS_TIMEOUT_S
    busy_workers: int  # BusyWorkers, including the worker serving this poll
    idle_workers: int
    keepalive_slots: int  # scoreboard 'K' count (prefork/worker idle keep-alive connections)
    scoreboard: str = ""  # the whole scoreboard string, one character per worker slot


@dataclass(frozen=True, slots=True)
class LogEntry:
    t_s: float  # request start (%{usec}t) in seconds since the open-loop start
    keepalives: int  # %k: 0 for the first request on a connection
    duration_s: float  # %D
    pid: int  # %P: the child that served it
    attempt: int  # the generator's attempt id, -1 for other requests (server-status)


@dataclass(frozen=True, slots=True)
class RawRun:
    case: Case
    somaxconn: int
    summary: Summary
    records: tuple[Record, ...]
    kernel: tuple[KernelSample, ...]
    status: tuple[StatusSample, ...]
    log: tuple[LogEntry, ...]
    # event: (time, N) of each "will shutdown N keep-alive connections" (kill'em-all, F8)
    kill_episodes: tuple[tuple[float, int], ...]
    status_zero_load_latency_s: float
    httpd_version: str
    # A case with `capture`: (first SYN, seconds since the open-loop start; turned away at least
    # once) for each connection the capture saw (`capture.Handshake`). Empty otherwise, and in
    # runs saved before captures were taken.
    handshakes: tuple[tuple[float, bool], ...] = ()


def load_raw(path: Path) -> RawRun | None:
    """A run saved with `pickle` (`bench.validate.run --save`), or None when the file holds
    something else. Runs saved before the harness captured handshakes get none."""
    with path.open("rb") as handle:
        raw = pickle.load(handle)
    if not isinstance(raw, RawRun):
        return None
    if not hasattr(raw, "handshakes"):
        object.__setattr__(raw, "handshakes", ())
    return raw


def read_somaxconn() -> int:
    return int(Path("/proc/sys/net/core/somaxconn").read_text().strip())


def httpd_config(case: Case, root: Path, port: int, backend_port: int) -> str:
    """The full httpd config text for `case` (pins every setting the model takes as input)."""
    srv = case.server
    text = base_config(root, srv.mpm, port, extra_modules=("status", "proxy", "proxy_http"))
    c = srv.workers
    lines = [
        # mod_mime (loaded by base_config) needs a types file; the suite serves no files.
        f'TypesConfig "{root}/conf/mime.types"',
        "ExtendedStatus On",
        # NOTE: core.c `accf_map` gives Linux listeners TCP_DEFER_ACCEPT ("data"); plain accept
        # makes the accept queue the FCFS queue of derivations §3.1 and overflows SYN drops (F12).
        # A case may ask for httpd's default instead (worker-ka-overload-block-defer).
        f"AcceptFilter http {srv.accept_filter}",
        f"KeepAlive {'On' if srv.keep_alive else 'Off'}",
        f"KeepAliveTimeout {round(srv.keep_alive_timeout_s * 1000)}ms",
        f"MaxKeepAliveRequests {srv.max_keep_alive_requests}",
        f"ListenBacklog {srv.listen_backlog}",
        "Timeout 60",
        "MaxConnectionsPerChild 0",
    ]
    if srv.mpm == "prefork":
        lines += [
            f"ServerLimit {c}",
            f"MaxRequestWorkers {c}",
            f"StartServers {c}",
            f"MinSpareServers {c}",
            f"MaxSpareServers {c + 1}",
        ]
    else:
        tpc = srv.threads_per_child
        lines += [
            f"ServerLimit {srv.processes}",
            f"ThreadLimit {tpc}",
            f"ThreadsPerChild {tpc}",
            f"MaxRequestWorkers {c}",
            f"StartServers {srv.processes}",
            f"MinSpareThreads {c}",
            f"MaxSpareThreads {c + tpc}",
        ]
        if srv.mpm == "event":
            lines += [
                f"AsyncRequestWorkerFactor {srv.async_request_worker_factor:g}",
                # trace1 logs one line per kill'em-all episode (process_keepalive_queue(0)).
                "LogLevel warn mpm_event:trace1",
            ]
    pool = c + 8
    lines += [
        'ErrorLogFormat "[%{cu}t] [%-m:%l] %M"',
        # Request start in µs, keep-alive count, duration in µs and child pid: enough to rebuild
        # every child's busy-worker count over time.
        'LogFormat "%{usec}t %k %D %P %>s %U%q" validate',
        f'CustomLog "{root}/logs/access.log" validate',
        '<Location "/server-status">',
        "    SetHandler server-status",
        "    Require all granted",
        "</Location>",
        # A pool above the worker count, never closed for idleness (the backend does not either),
        # so every request finds a pooled backend connection and httpd, not the backend, is
        # measured.
        f'ProxyPass "/sleep" "http://127.0.0.1:{backend_port}/sleep" '
        f"max={pool} ttl=300 disablereuse=Off retry=0 timeout=60",
    ]
    return text + "\n".join(lines) + "\n"


def _port_hex(port: int) -> str:
    return f":{port:04X}"


def read_kernel(port: int) -> tuple[int, int]:
    """(accept queue length, server-side open connections) for 127.0.0.1:`port`."""
    suffix = _port_hex(port)
    queue = 0
    conns = 0
    with open("/proc/net/tcp") as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            if not fields[1].endswith(suffix):
                continue
            state = fields[3]
            if state == _TCP_LISTEN:
                queue = int(fields[4].split(":")[1], 16)
            elif state in (_TCP_ESTABLISHED, _TCP_CLOSE_WAIT):
                conns += 1
    return queue, conns


def read_listen_overflows() -> int:
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        if header.startswith("TcpExt:"):
            table = dict(zip(header.split()[1:], values.split()[1:], strict=True))
            return int(table.get("ListenOverflows", "0"))
    return 0


# The address the status polls connect from, so that a capture can leave them out (the load
# generator's connections come from 127.0.0.1).
POLL_SOURCE = "127.0.0.2"


def poll_status(port: int, timeout_s: float) -> tuple[float, dict[str, str]]:
    """One `server-status?auto` request on a new connection: (latency, key: value map)."""
    start = time.perf_counter()
    try:
        with socket.create_connection(
            ("127.0.0.1", port), timeout=timeout_s, source_address=(POLL_SOURCE, 0)
        ) as sock:
            sock.sendall(
                b"GET /server-status?auto HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError:
        return -1.0, {}
    latency = time.perf_counter() - start
    body = b"".join(chunks).decode("latin-1").partition("\r\n\r\n")[2]
    values: dict[str, str] = {}
    for line in body.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    return latency, values


class _Sampler(threading.Thread):
    """Periodic sampling in a daemon thread until `stop` is set."""

    def __init__(self, period_s: float, sample: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.period_s = period_s
        self.sample = sample
        self.stop = threading.Event()

    def run(self) -> None:
        next_t = time.perf_counter()
        while not self.stop.is_set():
            self.sample()
            next_t += self.period_s
            delay = next_t - time.perf_counter()
            if delay > 0:
                self.stop.wait(delay)
            else:
                next_t = time.perf_counter()


def prioritize(pid: int) -> None:
    """Raise `pid` and its children above the host's other work (root only; else a no-op).

    Other jobs on a shared host would otherwise add their CPU contention to the measured waits;
    the generator's own lag check still catches what remains.
    """
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    for target in pids:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, target, PRIORITY)


def realtime(pid: int) -> None:
    """Give the generator a round-robin real-time priority (root only; else a no-op).

    Its timers are the open-loop schedule: a late wake-up is scheduling lag that would show as
    server wait. It uses a few % of a CPU, and the kernel's RT throttling bounds it anyway.
    """
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(pid, os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))


def _stop_pid(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(grace_s)


@contextlib.contextmanager
def capturing(port: int, pcap: Path, *, enabled: bool) -> Iterator[None]:
    """tcpdump on lo, the SYN segments between the load generator and `port` only (not the
    status polls'), written to `pcap` while the block runs (nothing when not `enabled`). It is
    started before the load and stopped with SIGINT after, which flushes the file."""
    if not enabled:
        yield
        return
    command = [
        "tcpdump", "-i", "lo", "-n", "-s", "96", "-U", "-w", str(pcap),
        f"tcp port {port} and tcp[tcpflags] & tcp-syn != 0 and not host {POLL_SOURCE}",
    ]  # fmt: skip
    try:
        dump = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise RuntimeError("the case asks for a capture and tcpdump is not installed") from None
    deadline = time.monotonic() + 10.0
    while not pcap.exists() and dump.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if dump.poll() is not None or not pcap.exists():
        _stop_pid(dump)
        error = dump.communicate()[1].decode(errors="replace").strip()
        raise RuntimeError(f"tcpdump did not start: {error.splitlines()[-1] if error else '?'}")
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(dump.pid, signal.SIGINT)
        try:
            dump.communicate(timeout=10.0)  # its closing counts, on stderr
        except subprocess.TimeoutExpired:
            _stop_pid(dump)
            dump.communicate()


def read_handshakes(pcap: Path, t0_wall_s: float) -> tuple[tuple[float, bool], ...]:
    """`RawRun.handshakes` from a capture `capturing` wrote (times from the open-loop start)."""
    if not pcap.is_file() or pcap.stat().st_size <= 24:  # no file, or a header alone
        return ()
    return tuple(
        (h.first_syn_s - t0_wall_s, h.blocked)
        for h in sorted(handshakes(read_pcap(pcap)), key=lambda h: h.first_syn_s)
    )


def _wait_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


_LOG_LINE = re.compile(r"^(\d+) (\d+) (\d+) (\d+) (\d+) (\S+)$")
_ID = re.compile(r"[?&]id=(\d+)")
_KILL = re.compile(r"^\[([0-9-]+ [0-9:.]+)\] .*will shutdown (\d+) keep-alive connections")


def parse_access_log(text: str, t0_wall_s: float) -> tuple[LogEntry, ...]:
    entries = []
    for line in text.splitlines():
        match = _LOG_LINE.match(line)
        if match is None:
            continue
        found = _ID.search(match.group(6))
        entries.append(
            LogEntry(
                t_s=int(match.group(1)) / 1e6 - t0_wall_s,
                keepalives=int(match.group(2)),
                duration_s=int(match.group(3)) / 1e6,
                pid=int(match.group(4)),
                attempt=int(found.group(1)) if found else -1,
            )
        )
    return tuple(entries)


def parse_kill_episodes(text: str, t0_wall_s: float) -> tuple[tuple[float, int], ...]:
    """(seconds since t0, connections closed) per `mpm_event:trace1` kill'em-all line."""
    episodes = []
    for line in text.splitlines():
        match = _KILL.match(line)
        if match:
            stamp, _, frac = match.group(1).partition(".")
            wall = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + float("0." + frac)
            episodes.append((wall - t0_wall_s, int(match.group(2))))
    return tuple(episodes)


def _python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def run_case(case: Case, workdir: Path | None = None) -> RawRun:
    """Run `case` once (about duration_s + 10 s) and return everything observed."""
    if workdir is not None:
        return _run_case(case, workdir)
    with tempfile.TemporaryDirectory(prefix="validate-") as tmp:
        return _run_case(case, Path(tmp))


def _run_case(case: Case, workdir: Path) -> RawRun:
    root = workdir / "httpd"
    prepare_root(root)
    port = free_port()
    backend_port = free_port()
    conf = root / "conf" / "httpd.conf"
    (root / "conf" / "mime.types").write_text("")
    conf.write_text(httpd_config(case, root, port, backend_port))
    code, output = configtest(conf)
    if code != 0:
        raise RuntimeError(f"apache2 -t rejected the generated config: {output.strip()}")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    backend = subprocess.Popen(
        _python_module("bench.validate.backend", "--port", str(backend_port)),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        prioritize(backend.pid)
        _wait_port(backend_port, 10.0)
        with running_server(root, conf, port) as server:
            zero_latency_s, version = _warm_up(port, case.server.workers)
            prioritize(server.pid)
            return _drive(case, workdir, root, port, env, warm=(zero_latency_s, version))
    finally:
        _stop_pid(backend)


def _warm_up(port: int, workers: int, timeout_s: float = 15.0) -> tuple[float, str]:
    """Wait until every worker exists; return the median zero-load poll latency and version."""
    deadline = time.monotonic() + timeout_s
    latencies: list[float] = []
    version = ""
    while time.monotonic() < deadline:
        latency, values = poll_status(port, 2.0)
        total = int(values.get("BusyWorkers", "0")) + int(values.get("IdleWorkers", "0"))
        version = values.get("ServerVersion", version)
        if latency >= 0 and total >= workers:
            latencies.append(latency)
            if len(latencies) >= 9:
                return sorted(latencies)[len(latencies) // 2], version
        time.sleep(0.05)
    raise RuntimeError(f"httpd did not start {workers} workers within {timeout_s:.0f} s")


def _drive(
    case: Case,
    workdir: Path,
    root: Path,
    port: int,
    env: dict[str, str],
    *,
    warm: tuple[float, str],
) -> RawRun:
    zero_latency_s, version = warm
    kernel_raw: list[tuple[float, int, int, int]] = []
    status_raw: list[tuple[float, float, dict[str, str]]] = []

    def sample_kernel() -> None:
        t = time.perf_counter()
        queue, conns = read_kernel(port)
        kernel_raw.append((t, queue, conns, read_listen_overflows()))

    def sample_status() -> None:
        t = time.perf_counter()
        latency, values = poll_status(port, STATUS_TIMEOUT_S)
        status_raw.append((t, latency, values))

    traffic = case.traffic
    spec = LoadSpec(
        port=port,
        request_rate_per_s=traffic.requests_per_second,
        requests_per_visit=traffic.requests_per_visit,
        think_time_s=traffic.think_time_s,
        idle_hold_probability=traffic.idle_hold_probability,
        service_time_s=traffic.service_time_s,
        duration_s=case.duration_s,
        max_requests=int(traffic.requests_per_second * case.duration_s * 1.5) + 1000,
        seed=case.seed,
        round_trip_s=traffic.round_trip_s,
    )
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(asdict(spec)))
    records_path = workdir / "records.csv"
    summary_path = workdir / "summary.json"
    samplers = (_Sampler(KERNEL_PERIOD_S, sample_kernel), _Sampler(STATUS_PERIOD_S, sample_status))
    for sampler in samplers:
        sampler.start()
    pcap = workdir / "handshakes.pcap"
    with capturing(port, pcap, enabled=case.capture):
        generator = subprocess.Popen(
            _python_module(
                "bench.validate.loadgen", str(spec_path), str(records_path), str(summary_path)
            ),
            cwd=PROJECT_ROOT,
            env=env,
        )
        prioritize(generator.pid)
        realtime(generator.pid)
        try:
            limit_s = case.duration_s + spec.drain_s + spec.request_timeout_s + 30.0
            code = generator.wait(limit_s)
        except subprocess.TimeoutExpired:
            code = -1
        finally:
            _stop_pid(generator)
            for sampler in samplers:
                sampler.stop.set()
            for sampler in samplers:
                sampler.join(STATUS_TIMEOUT_S + 1.0)
    if code != 0:
        raise RuntimeError(f"load generator failed (exit {code})")
    fields: dict[str, Any] = json.loads(summary_path.read_text())
    for name in ("held_visits", "released_visits"):
        fields[name] = tuple(fields.get(name, ()))
    summary = Summary(**fields)
    t0 = summary.t0_mono_s
    kernel = tuple(KernelSample(t - t0, q, n, o) for t, q, n, o in kernel_raw)
    status = tuple(
        StatusSample(
            t_s=t - t0,
            latency_s=latency,
            busy_workers=int(values.get("BusyWorkers", "-1")),
            idle_workers=int(values.get("IdleWorkers", "-1")),
            keepalive_slots=values.get("Scoreboard", "").count("K"),
            scoreboard=values.get("Scoreboard", ""),
        )
        for t, latency, values in status_raw
    )
    logs = root / "logs"
    return RawRun(
        case=case,
        somaxconn=read_somaxconn(),
        summary=summary,
        records=tuple(read_records(records_path)),
        kernel=kernel,
        status=status,
        log=parse_access_log((logs / "access.log").read_text(), summary.t0_wall_s),
        kill_episodes=parse_kill_episodes(
            (logs / "error.log").read_text(errors="replace"), summary.t0_wall_s
        ),
        status_zero_load_latency_s=zero_latency_s,
        httpd_version=version,
        handshakes=read_handshakes(pcap, summary.t0_wall_s) if case.capture else (),
    )
