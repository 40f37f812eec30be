"""HTTP/2 validation: real h2c traffic against apache2 with mod_http2, compared with the model.

Each case starts Debian's apache2 (its own ServerRoot, 127.0.0.1, every worker pre-spawned,
mod_http2 loaded with `Protocols h2c http/1.1`, mod_proxy to the suite's sleeping backend) and
drives it with an open-loop asyncio generator speaking HTTP/2 with prior knowledge (the `h2`
library): Poisson visits, a geometric number of requests per visit sent in bursts of k concurrent
streams, an exponential think gap after each burst's last response, and the socket kept open after
the visit with probability q. Under prefork, where mod_http2 declines HTTP/2, each visit asks for
`Upgrade: h2c` on its first request and continues over HTTP/1.1, as a browser falls back.

Measured over the window (batch means, 10 batches, ± one standard error): open connections (kernel,
every 50 ms), MPM workers busy (server-status BusyWorkers every 250 ms, less the poll itself),
streams in mod_http2 per child (access log: `%{usec}t %D %P` of every stream; `%D` of an HTTP/2
stream includes its wait for a mod_http2 worker), the mean burst time
seen by the client (less the zero-load overhead), idle sessions (open connections less the visits
inside a burst), and under prefork the upgrades granted. capplan's models, at the realized rate and
the service time the generator asked for (plus the zero-load overhead of the path), give the
predictions. `h2load` (nghttp2-client) then
cross-checks the size of mod_http2's pool: closed-loop streams far above H2MaxWorkers on a single
child must run at H2MaxWorkers / S requests per second.

Run as `python -m bench.validate.h2 [--cases NAME ...] [--seconds S] [--write FILE]`; every run is
bounded in time and count and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.validate.harness import poll_status, read_kernel
from capplan.models.types import MpmMetrics
from capplan.mpm_settings import EffectiveConfig
from tests.httpd import base_config, free_port, prepare_root, running_server

LOOPBACK = "127.0.0.1"
BATCHES = 10
REL_BAND = 0.15  # a prediction within 15 % of the measurement passes whatever the noise
REQUEST_TIMEOUT_S = 30.0
SECTION = "## HTTP/2 cases (mod_http2)"
RESULTS = Path(__file__).with_name("http2-results.md")


@dataclass(frozen=True)
class H2Case:
    """One server and one traffic pattern (rates per second, times in seconds)."""

    name: str
    mpm: str
    processes: int
    threads_per_child: int
    rate_per_s: float
    requests_per_visit: float
    streams: int
    think_s: float
    hold: float
    service_s: float
    keep_alive_timeout_s: float
    extra: tuple[str, ...] = ()


CASES = (
    H2Case("h2-event", "event", 2, 16, 120.0, 12.0, 6, 1.0, 0.7, 0.04, 2.0),
    H2Case("h2-worker", "worker", 2, 24, 80.0, 12.0, 6, 1.0, 0.7, 0.04, 2.0),
    H2Case("h2-event-pool", "event", 1, 16, 90.0, 16.0, 8, 0.5, 0.5, 0.05, 2.0,
           ("H2MaxWorkers 6", "H2MinWorkers 2")),
    H2Case("h2-prefork-fallback", "prefork", 64, 1, 20.0, 6.0, 6, 0.5, 0.7, 0.04, 2.0),
)  # fmt: skip


# --- the server ----------------------------------------------------------------------------------


def server_config(case: H2Case, root: Path, port: int, backend_port: int) -> str:
    text = base_config(
        root, case.mpm, port, extra_modules=("status", "proxy", "proxy_http", "http2")
    )
    lines = [
        "Protocols h2c http/1.1",
        "ExtendedStatus On",
        "AcceptFilter http none",
        "KeepAlive On",
        f"KeepAliveTimeout {round(case.keep_alive_timeout_s * 1000)}ms",
        "MaxKeepAliveRequests 0",
        "Timeout 60",
        "MaxConnectionsPerChild 0",
    ]
    if case.mpm == "prefork":
        c = case.processes
        lines += [
            f"ServerLimit {c}",
            f"MaxRequestWorkers {c}",
            f"StartServers {c}",
            f"MinSpareServers {c}",
            f"MaxSpareServers {c + 1}",
        ]
    else:
        tpc, p = case.threads_per_child, case.processes
        lines += [
            f"ServerLimit {p}",
            f"ThreadLimit {tpc}",
            f"ThreadsPerChild {tpc}",
            f"MaxRequestWorkers {p * tpc}",
            f"StartServers {p}",
            f"MinSpareThreads {p * tpc}",
            f"MaxSpareThreads {p * tpc + tpc}",
        ]
    lines += list(case.extra)
    lines += [
        'LogFormat "%{usec}t %D %P %H %>s %U" h2v',
        f'CustomLog "{root}/logs/access.log" h2v',
        '<Location "/server-status">',
        "    SetHandler server-status",
        "    Require all granted",
        "</Location>",
        f'ProxyPass "/sleep" "http://127.0.0.1:{backend_port}/sleep" max=200 ttl=300 retry=0',
    ]
    return text + "\n".join(lines) + "\n"


# --- the generator -------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the generator saw; `in_burst` is sampled by the window's sampler."""

    sent: int = 0
    answered: int = 0
    failed: int = 0
    in_burst: int = 0
    bursts: list[tuple[float, float, int]] = field(default_factory=list)  # (start, seconds, k)
    upgrades_granted: int = 0
    reconnects: int = 0
    requested_s: list[float] = field(default_factory=list)  # the service each request asked for


def _request_headers(path: str) -> list[tuple[str, str]]:
    return [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", LOOPBACK)]


class H2Session:
    """One cleartext HTTP/2 connection with prior knowledge; reads in a background task."""

    def __init__(self) -> None:
        import h2.config
        import h2.connection

        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.closed = False
        self.done: dict[int, asyncio.Event] = {}

    async def open(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection(LOOPBACK, port)
        self.conn.initiate_connection()
        self.writer.write(self.conn.data_to_send())
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        import h2.events
        import h2.exceptions

        try:
            while data := await self.reader.read(65536):
                try:
                    events = self.conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    break
                for event in events:
                    if isinstance(event, h2.events.DataReceived):
                        self.conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                        if event.stream_id in self.done:
                            self.done[event.stream_id].set()
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        self.closed = True
                self.writer.write(self.conn.data_to_send())
        except OSError:
            pass
        self.closed = True
        for waiter in self.done.values():
            waiter.set()

    async def burst(self, paths: Sequence[str]) -> bool:
        """Send the paths as concurrent streams; True when every one was answered."""
        ids = []
        for path in paths:
            stream = self.conn.get_next_available_stream_id()
            self.done[stream] = asyncio.Event()
            self.conn.send_headers(stream, _request_headers(path), end_stream=True)
            ids.append(stream)
        self.writer.write(self.conn.data_to_send())
        waits = [asyncio.ensure_future(self.done[s].wait()) for s in ids]
        _, pending = await asyncio.wait(waits, timeout=REQUEST_TIMEOUT_S)
        for waiter in pending:
            waiter.cancel()
        ok = not self.closed and not pending
        for s in ids:
            self.done.pop(s, None)
        return ok

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task

    async def wait_closed(self, limit_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.task, limit_s)
        await self.close()


def _geometric(rng: random.Random, mean: float) -> int:
    """1, 2, … with mean `mean` (success probability 1/mean)."""
    if mean <= 1.0:
        return 1
    u = 1.0 - rng.random()
    return 1 + int(math.log(u) / math.log(1.0 - 1.0 / mean))


async def _h2_visit(case: H2Case, port: int, rng: random.Random, tally: Tally) -> None:
    remaining = _geometric(rng, case.requests_per_visit)
    session = H2Session()
    await session.open(port)
    loop = asyncio.get_running_loop()
    while remaining > 0:
        k = min(case.streams, remaining)
        remaining -= k
        if session.closed:  # the server ended the idle session (KeepAliveTimeout)
            await session.close()
            session = H2Session()
            await session.open(port)
            tally.reconnects += 1
        asked = [rng.expovariate(1.0 / case.service_s) for _ in range(k)]
        tally.requested_s += asked
        paths = [f"/sleep?ms={x * 1000:.3f}" for x in asked]
        tally.sent += k
        tally.in_burst += 1
        start, wall = loop.time(), time.time()
        try:
            ok = await session.burst(paths)
        except (TimeoutError, OSError):
            ok = False
        tally.in_burst -= 1
        if ok:
            tally.answered += k
            tally.bursts.append((wall, loop.time() - start, k))
        else:
            tally.failed += k
        if remaining > 0:
            await asyncio.sleep(rng.expovariate(1.0 / case.think_s))
    if rng.random() < case.hold:
        await session.wait_closed(case.keep_alive_timeout_s + 5.0)
    else:
        await session.close()


async def _h1_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, upgrade: bool
) -> tuple[int, bool]:
    """One HTTP/1.1 request (asking for h2c on the first): (status, connection kept)."""
    extra = (
        "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n"
        if upgrade
        else ""
    )
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\n{extra}\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if length is not None:
        await reader.readexactly(int(length.group(1)))
    return status, b"connection: close" not in head.lower()


async def _h1_visit(case: H2Case, port: int, rng: random.Random, tally: Tally) -> None:
    """A browser's fallback under prefork: ask for h2c, then HTTP/1.1 one request at a time."""
    remaining = _geometric(rng, case.requests_per_visit)
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    first = True
    try:
        while remaining > 0:
            remaining -= 1
            asked = rng.expovariate(1.0 / case.service_s)
            tally.requested_s.append(asked)
            path = f"/sleep?ms={asked * 1000:.3f}"
            tally.sent += 1
            tally.in_burst += 1
            try:
                status, kept = await _h1_request(reader, writer, path, first)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                tally.in_burst -= 1
                tally.failed += 1
                writer.close()
                reader, writer = await asyncio.open_connection(LOOPBACK, port)
                tally.reconnects += 1
                continue
            tally.in_burst -= 1
            if status == 101:
                tally.upgrades_granted += 1
            tally.answered += 1
            first = False
            if not kept:
                writer.close()
                reader, writer = await asyncio.open_connection(LOOPBACK, port)
            if remaining > 0:
                await asyncio.sleep(rng.expovariate(1.0 / case.think_s))
                if reader.at_eof():
                    writer.close()
                    reader, writer = await asyncio.open_connection(LOOPBACK, port)
                    tally.reconnects += 1
        if rng.random() < case.hold:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.read(), case.keep_alive_timeout_s + 5.0)
    finally:
        writer.close()


async def generate(case: H2Case, port: int, seconds: float, seed: int, tally: Tally) -> None:
    """Poisson visits for `seconds`, then wait (bounded) for the visits under way."""
    rng = random.Random(seed)
    visit = _h1_visit if case.mpm == "prefork" else _h2_visit
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    tasks: set[asyncio.Task[None]] = set()
    next_at = loop.time()
    visit_rate = case.rate_per_s / case.requests_per_visit
    while next_at < end:
        await asyncio.sleep(max(0.0, next_at - loop.time()))
        task = asyncio.create_task(visit(case, port, random.Random(rng.random()), tally))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        next_at += rng.expovariate(visit_rate)
    if tasks:
        await asyncio.wait(tasks, timeout=case.keep_alive_timeout_s + 10.0)
    for task in tasks:
        task.cancel()


# --- measuring -----------------------------------------------------------------------------------


def batch_mean(
    samples: Sequence[tuple[float, float]], start: float, end: float
) -> tuple[float, float]:
    """(mean, standard error) of time-stamped samples by batch means over [start, end)."""
    width = (end - start) / BATCHES
    means = []
    for b in range(BATCHES):
        values = [v for t, v in samples if start + b * width <= t < start + (b + 1) * width]
        if values:
            means.append(statistics.fmean(values))
    if len(means) < 2:
        return (means[0] if means else math.nan), math.inf
    return statistics.fmean(means), statistics.stdev(means) / math.sqrt(len(means))


def h2_busy_per_child(
    log: Path, start_us: float, end_us: float, children: int
) -> tuple[float, float, float, float, int, int]:
    """From the access log: (busy streams per child, SE, mean %D s, SCV of %D, h2 lines, lines).

    A stream's interval is [%{usec}t, + %D]; its overlap with each batch of the window counts.
    """
    width = (end_us - start_us) / BATCHES
    busy = [0.0] * BATCHES
    durations = []
    h2_lines = lines = 0
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) < 6 or not parts[5].startswith("/sleep"):
            continue
        begin, dur = float(parts[0]), float(parts[1])
        if begin < start_us or begin >= end_us:
            continue
        lines += 1
        h2_lines += parts[3] == "HTTP/2.0"
        durations.append(dur / 1e6)
        for b in range(BATCHES):
            lo, hi = start_us + b * width, start_us + (b + 1) * width
            overlap = min(hi, begin + dur) - max(lo, begin)
            if overlap > 0:
                busy[b] += overlap
    per_batch = [x / width / children for x in busy]
    mean_d = statistics.fmean(durations) if durations else math.nan
    scv = statistics.pvariance(durations) / mean_d**2 if len(durations) > 1 else 1.0
    se = statistics.stdev(per_batch) / math.sqrt(BATCHES)
    return statistics.fmean(per_batch), se, mean_d, scv, h2_lines, lines


def zero_load_overhead_s(port: int, h2: bool) -> float:
    """Median client time of a 0 ms request, one at a time (the path's own overhead)."""

    async def run() -> float:
        times = []
        for _ in range(15):
            start = time.perf_counter()
            if h2:
                session = H2Session()
                await session.open(port)
                t0 = time.perf_counter()
                await session.burst(["/sleep?ms=0"])
                times.append(time.perf_counter() - t0)
                await session.close()
            else:
                reader, writer = await asyncio.open_connection(LOOPBACK, port)
                t0 = time.perf_counter()
                await _h1_request(reader, writer, "/sleep?ms=0", False)
                times.append(time.perf_counter() - t0)
                writer.close()
            del start
        return statistics.median(times)

    return asyncio.run(run())


@dataclass(frozen=True)
class Check:
    name: str
    predicted: float
    measured: float
    se: float
    floor: float  # an absolute difference always accepted (units of the quantity)

    @property
    def passed(self) -> bool:
        diff = abs(self.predicted - self.measured)
        return diff <= max(3 * self.se, REL_BAND * abs(self.predicted), self.floor)


def predict(
    case: H2Case, config: EffectiveConfig, rate: float, service_s: float, scv: float
) -> MpmMetrics:
    from capplan.models import evaluate
    from capplan.models.http2 import setup_from
    from capplan.profile import Traffic, TrafficProfile, Visits

    profile = TrafficProfile(
        name=case.name,
        traffic=Traffic(requests_per_second=rate, service_time_s=service_s, service_time_scv=scv),
        visits=Visits(
            requests_per_visit=case.requests_per_visit,
            think_time_s=case.think_s,
            idle_hold_probability=case.hold,
            http2_share=1.0,
            http2_streams=float(case.streams),
        ),
    )
    return evaluate(config.settings, profile, setup_from(config))


def run_case(case: H2Case, seconds: float, seed: int) -> tuple[list[Check], dict[str, float]]:
    from capplan.machine import load_effective_config

    warm = 8.0
    with tempfile.TemporaryDirectory(prefix="capplan-h2-") as tmp:
        root = Path(tmp) / "root"
        prepare_root(root)
        (root / "conf" / "mime.types").touch()
        port, backend_port = free_port(), free_port()
        backend = subprocess.Popen(
            [sys.executable, "-m", "bench.validate.backend", "--port", str(backend_port)]
        )
        try:
            time.sleep(0.5)
            conf = root / "conf" / "httpd.conf"
            conf.write_text(server_config(case, root, port, backend_port))
            config = load_effective_config(conf, somaxconn=4096)
            with running_server(root, conf, port):
                time.sleep(1.0)
                overhead = zero_load_overhead_s(port, case.mpm != "prefork")
                tally = Tally()
                conns: list[tuple[float, float]] = []
                idle: list[tuple[float, float]] = []
                busy: list[tuple[float, float]] = []
                stop = threading.Event()

                def sample_kernel() -> None:
                    while not stop.is_set():
                        now = time.time()
                        _, open_conns = read_kernel(port)
                        conns.append((now, open_conns))
                        idle.append((now, open_conns - tally.in_burst))
                        stop.wait(0.05)

                def sample_status() -> None:
                    while not stop.is_set():
                        now = time.time()
                        _, values = poll_status(port, 2.0)
                        if "BusyWorkers" in values:
                            busy.append((now, int(values["BusyWorkers"]) - 1))
                        stop.wait(0.25)

                threads = [
                    threading.Thread(target=f, daemon=True) for f in (sample_kernel, sample_status)
                ]
                for thread in threads:
                    thread.start()
                t0 = time.time()
                asyncio.run(generate(case, port, warm + seconds, seed, tally))
                stop.set()
                for thread in threads:
                    thread.join(5.0)
                start, end = t0 + warm, t0 + warm + seconds
            busy_child, busy_se, mean_d, _, h2_lines, lines = h2_busy_per_child(
                root / "logs" / "access.log", start * 1e6, end * 1e6, case.processes
            )
        finally:
            backend.terminate()
            backend.wait(10)
    rate = lines / seconds
    # NOTE: under HTTP/2 `%D` counts from the stream's arrival, so it includes the wait for a
    # mod_http2 worker: the service time is what the generator asked for plus the path's own
    # zero-load overhead, and `%D` measures streams in mod_http2 (running or queued).
    asked = tally.requested_s
    service_s = statistics.fmean(asked) + overhead
    service_scv = statistics.pvariance(asked) / service_s**2
    metrics = predict(case, config, rate, service_s, service_scv)
    checks = []
    m_conns, se_conns = batch_mean(conns, start, end)
    m_busy, se_busy = batch_mean(busy, start, end)
    m_idle, se_idle = batch_mean(idle, start, end)
    h2 = metrics.http2
    assert h2 is not None
    if h2.active:
        bursts = [
            (d - overhead, k) for t, d, k in tally.bursts if start <= t < end and k == case.streams
        ]
        burst_mean = statistics.fmean(d for d, _ in bursts) if bursts else math.nan
        burst_se = (
            statistics.stdev(d for d, _ in bursts) / math.sqrt(len(bursts))
            if len(bursts) > 1
            else math.inf
        )
        from capplan.models.http2 import burst_moments

        wait_s = h2.stream_mean_wait_s if math.isfinite(h2.stream_mean_wait_s) else 0.0
        full_burst_s = burst_moments(service_s, service_scv, float(case.streams))[0] + wait_s
        in_mod_http2 = h2.h2_workers_busy_per_child + (
            rate / case.processes * h2.stream_mean_wait_s
        )
        checks += [
            Check(
                "open connections (sessions)", metrics.open_connections_mean, m_conns, se_conns, 0.5
            ),
            Check("MPM workers held by sessions", h2.mpm_workers_held_mean, m_busy, se_busy, 0.5),
            Check(
                "streams in mod_http2 per child (running or queued, %D)",
                in_mod_http2,
                busy_child,
                busy_se,
                0.1,
            ),
            Check(
                f"burst time, {case.streams} streams (s)", full_burst_s, burst_mean, burst_se, 0.003
            ),
            Check("idle sessions", h2.idle_sessions_mean, m_idle, se_idle, 0.5),
        ]
    else:
        checks += [
            Check(
                "open connections (HTTP/1.1 fallback)",
                metrics.open_connections_mean,
                m_conns,
                se_conns,
                0.5,
            ),
            Check(
                # A connection holds its process through its requests and keep-alive gaps:
                # the carried connection load (busy_workers_mean) is every busy process.
                "busy processes (requests + keep-alive)",
                metrics.busy_workers_mean,
                m_busy,
                se_busy,
                0.5,
            ),
            Check("upgrades to h2c granted", 0.0, float(tally.upgrades_granted), 0.0, 0.0),
            Check("requests logged as HTTP/2.0", 0.0, float(h2_lines), 0.0, 0.0),
        ]
    facts = {
        "realized_rate_per_s": rate,
        "service_mean_s": service_s,
        "service_scv": service_scv,
        "logged_d_mean_s": mean_d,
        "sent": float(tally.sent),
        "failed": float(tally.failed),
        "reconnects": float(tally.reconnects),
        "zero_load_overhead_s": overhead,
        "h2_share_logged": h2_lines / lines if lines else 0.0,
    }
    return checks, facts


# --- h2load cross-check --------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolCase:
    name: str
    mpm: str
    threads_per_child: int
    extra: tuple[str, ...]
    clients: int
    streams: int
    service_ms: int


POOL_CASES = (
    PoolCase("h2load-event-default-pool", "event", 8, (), 2, 20, 50),
    PoolCase(
        "h2load-worker-h2maxworkers-5", "worker", 8, ("H2MinWorkers 2", "H2MaxWorkers 5"), 2, 20, 50
    ),
)


def h2load_case(case: PoolCase) -> Check:
    """Closed-loop h2load far above the pool on one child: throughput = H2MaxWorkers / S."""
    from capplan.machine import load_effective_config

    binary = shutil.which("h2load")
    assert binary is not None, "h2load is missing (apt-get install nghttp2-client)"
    with tempfile.TemporaryDirectory(prefix="capplan-h2load-") as tmp:
        root = Path(tmp) / "root"
        prepare_root(root)
        (root / "conf" / "mime.types").touch()
        port, backend_port = free_port(), free_port()
        spec = H2Case(
            case.name,
            case.mpm,
            1,
            case.threads_per_child,
            1.0,
            1.0,
            1,
            1.0,
            0.0,
            case.service_ms / 1000,
            5.0,
            case.extra,
        )
        conf = root / "conf" / "httpd.conf"
        conf.write_text(server_config(spec, root, port, backend_port))
        config = load_effective_config(conf, somaxconn=4096)
        assert config.http2 is not None
        pool = config.http2.max_workers
        backend = subprocess.Popen(
            [sys.executable, "-m", "bench.validate.backend", "--port", str(backend_port)]
        )
        try:
            time.sleep(0.5)
            with running_server(root, conf, port):
                time.sleep(1.0)
                requests = 40 * pool
                out = subprocess.run(
                    [
                        binary,
                        "-n",
                        str(requests),
                        "-c",
                        str(case.clients),
                        "-m",
                        str(case.streams),
                        f"http://{LOOPBACK}:{port}/sleep?ms={case.service_ms}",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                ).stdout
        finally:
            backend.terminate()
            backend.wait(10)
    found = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    measured = float(found.group(1)) if found else 0.0
    predicted = pool / (case.service_ms / 1000)
    return Check(f"{case.name}: req/s = H2MaxWorkers {pool} / S", predicted, measured, 0.0, 0.0)


# --- report --------------------------------------------------------------------------------------


def markdown(
    results: Sequence[tuple[H2Case, list[Check], dict[str, float]]],
    pools: Sequence[Check],
    runs: int,
) -> str:
    out = [
        "## HTTP/2 cases (mod_http2)",
        "",
        "Generated by `python -m bench.validate.h2 --write FILE`; method in the module docstring "
        "and docs/http2.md. A band passes when the prediction is within max(3 SE, 15 %, a "
        "small absolute floor) of the measurement.",
        "",
    ]
    for case, checks, facts in results:
        passed = sum(c.passed for c in checks)
        out += [
            f"### {case.name} ({case.mpm}, run {facts['run']:.0f} of {runs})",
            "",
            f"{case.processes} children × {case.threads_per_child} threads; "
            f"{facts['realized_rate_per_s']:.1f} req/s realized, {case.requests_per_visit:g} "
            f"requests per visit in bursts of {case.streams}, think {case.think_s:g} s, hold "
            f"{case.hold:g}, KeepAliveTimeout {case.keep_alive_timeout_s:g} s; service time "
            f"(asked + zero-load overhead) {facts['service_mean_s'] * 1000:.1f} ms, "
            f"SCV {facts['service_scv']:.2f}; "
            f"{facts['failed']:.0f} of {facts['sent']:.0f} requests failed, "
            f"{facts['reconnects']:.0f} reconnects; HTTP/2.0 in the log "
            f"{facts['h2_share_logged']:.0%}. {passed} / {len(checks)} pass.",
            "",
            "| quantity | predicted | measured | ± SE | pass |",
            "|---|---|---|---|---|",
        ]
        for c in checks:
            se = "" if c.se == 0 else ("∞" if math.isinf(c.se) else f"{c.se:.3g}")
            out.append(
                f"| {c.name} | {c.predicted:.3g} | {c.measured:.3g} | {se} | "
                f"{'pass' if c.passed else 'FAIL'} |"
            )
        out.append("")
    if pools:
        out += [
            "### h2load cross-check of mod_http2's pool",
            "",
            "| case | predicted req/s | h2load req/s | pass |",
            "|---|---|---|---|",
        ]
        for c in pools:
            out.append(
                f"| {c.name} | {c.predicted:.1f} | {c.measured:.1f} | "
                f"{'pass' if c.passed else 'FAIL'} |"
            )
        out.append("")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", nargs="*", default=[c.name for c in CASES])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--no-h2load", action="store_true")
    parser.add_argument("--write", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    # A stopped run still stops its httpd and backend (the `finally` blocks run on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: list[tuple[H2Case, list[Check], dict[str, float]]] = []
    for run in range(1, args.runs + 1):
        for case in CASES:
            if case.name not in args.cases:
                continue
            checks, facts = run_case(case, args.seconds, seed=1000 * run + len(results))
            facts["run"] = run
            results.append((case, checks, facts))
            for c in checks:
                print(
                    f"{case.name} run {run}: {c.name}: predicted {c.predicted:.4g}, measured "
                    f"{c.measured:.4g} ± {c.se:.2g} {'pass' if c.passed else 'FAIL'}",
                    flush=True,
                )
    pools = [] if args.no_h2load else [h2load_case(p) for p in POOL_CASES]
    for c in pools:
        print(
            f"{c.name}: predicted {c.predicted:.1f}, h2load {c.measured:.1f} "
            f"{'pass' if c.passed else 'FAIL'}",
            flush=True,
        )
    text = markdown(results, pools, args.runs) + "\n"
    if args.write is not None:
        # The section is kept beside the suite so that `bench.validate.run --write` keeps it.
        RESULTS.write_text(text)
        old = args.write.read_text() if args.write.exists() else ""
        head = old.split(SECTION, 1)[0].rstrip("\n")
        args.write.write_text((head + "\n\n" if head else "") + text)
        print(f"wrote {args.write} and {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
