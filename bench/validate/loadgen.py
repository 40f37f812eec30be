"""Open-loop load generator for the validation suite (asyncio, HTTP/1.1 keep-alive, 127.0.0.1 only).

Input: a `LoadSpec` (JSON file). Traffic follows the model's assumptions (derivations §2.1):
Poisson visit arrivals, a geometric number of requests per visit sent one after another, an
exponential think gap between the end of a response and the next request, and, after the last
request, the socket kept open with probability q (the client closes it when the server does).
With a round trip (`LoadSpec.round_trip_s`) the client's closes reach the server that much
later, as a remote client's would: its answer to the server's close, and its close of an idle
connection it is done with. Each request asks the backend for an exponential service time
(`/sleep?ms=…`).

Output: one CSV row per request attempt (`RECORD_FIELDS`) and a JSON summary with the generator's
own scheduling lag and the zero-load overhead measured before the open-loop phase. Bounded by
`duration_s`, `max_requests` and `drain_s`; it stops by itself.
Run as `python -m bench.validate.loadgen SPEC.json RECORDS.csv SUMMARY.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import random
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
RECORD_FIELDS = (
    "attempt",
    "visit",
    "conn",
    "index_on_conn",
    "t_sched_s",
    "t_send_s",
    "connect_s",
    "t_first_byte_s",
    "t_done_s",
    "service_s",
    "reused",
    "status",
    "error",
)
CALIBRATION_SERVICE_S = 0.02
CALIBRATION_PAIRS = 15
# A connect or request that takes longer than this fails (the client gives up).
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """What to send. Rates and times in seconds; `port` is httpd's port on 127.0.0.1."""

    port: int
    request_rate_per_s: float
    requests_per_visit: float
    think_time_s: float
    idle_hold_probability: float
    service_time_s: float
    duration_s: float
    max_requests: int
    drain_s: float = 10.0
    request_timeout_s: float = REQUEST_TIMEOUT_S
    seed: int = 1
    # The clients' round trip: the client answers the server's close, and closes an idle
    # connection it is done with, this long after (0: at once).
    round_trip_s: float = 0.0

    @property
    def visit_rate_per_s(self) -> float:
        return self.request_rate_per_s / self.requests_per_visit


@dataclass(frozen=True, slots=True)
class Record:
    """One request attempt. Times are seconds since the start of the open-loop phase.

    `attempt` is also sent as the `id` query parameter, so the access log line can be joined.
    Calibration requests have `visit` 0 and negative times.
    """

    attempt: int
    visit: int
    conn: int
    index_on_conn: int
    t_sched_s: float
    t_send_s: float
    connect_s: float  # -1 when the request reused an open connection
    t_first_byte_s: float  # -1 when no response arrived
    t_done_s: float
    service_s: float
    reused: bool
    status: int
    error: str  # "" on success; "stale" when a reused connection closed before answering


@dataclass(frozen=True, slots=True)
class Summary:
    t0_wall_s: float  # time.time() at the start of the open-loop phase
    t0_mono_s: float  # time.perf_counter() (CLOCK_MONOTONIC, shared by processes) at that start
    duration_s: float
    requests_sent: int
    visits_started: int
    lag_mean_s: float
    lag_p99_s: float
    lag_max_s: float
    lag_samples: int
    overhead_new_s: float  # median zero-load response time minus requested service, new conn
    overhead_reused_s: float  # the same on a reused connection
    stopped_by: str  # "duration" or "max_requests"
    # The visits whose client kept (held) or closed its socket after the last request: the
    # draws with probability q, so the model can be fed the share realized (visits that lost
    # their connection to the server drew nothing).
    held_visits: tuple[int, ...] = ()
    released_visits: tuple[int, ...] = ()


class _Response(asyncio.Protocol):
    """Client side of one connection: collects one response at a time."""

    def __init__(self, round_trip_s: float = 0.0) -> None:
        self.round_trip_s = round_trip_s
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.server_will_close = False
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self.first_byte_s = -1.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.first_byte_s < 0:
            self.first_byte_s = time.perf_counter()
        self._buffer += data
        self._try_complete()

    def eof_received(self) -> bool:
        # Close our side as a browser does, at once (or a round trip later, as the server sees
        # a remote one): a half-open socket would keep a prefork/worker child in lingering
        # close for up to 2 s (ap_lingering_close).
        self.closed = True
        self._fail(ConnectionResetError("server closed the connection"))
        return self._close_after_round_trip()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("connection lost"))

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def send(self, payload: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self._buffer.clear()
        self.first_byte_s = -1.0
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def close_later(self) -> None:
        """Close an idle connection the client is done with: its EOF reaches the server a
        round trip after the last response (at once without one)."""
        self.closed = True
        if not self._close_after_round_trip():
            self.close()

    def _close_after_round_trip(self) -> bool:
        """Schedule the transport's close a round trip from now; False without a round trip."""
        if self.round_trip_s <= 0.0 or self.transport is None:
            return False
        asyncio.get_running_loop().call_later(self.round_trip_s, self.transport.close)
        return True

    def _try_complete(self) -> None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self._waiter is None or self._waiter.done():
            return
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            if key == "content-length":
                length = int(value.strip())
            elif key == "connection" and "close" in value.lower():
                self.server_will_close = True
        if len(self._buffer) < end + 4 + length:
            return
        status = int(lines[0].split(" ")[1])
        self._buffer.clear()
        self._waiter.set_result(status)


def _request(service_s: float, attempt: int) -> bytes:
    return (
        f"GET /sleep?ms={service_s * 1000.0:.3f}&id={attempt} HTTP/1.1\r\nHost: {LOOPBACK}\r\n"
        "User-Agent: capplan-validate\r\n\r\n"
    ).encode("ascii")


class Generator:
    """The open-loop phase: schedules visits, runs them, and keeps every record."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.records: list[Record] = []
        self.lags_s: list[float] = []
        self.sent = 0
        self.calibration_attempts = 0
        self.visits = 0
        self.held: list[int] = []
        self.released: list[int] = []
        self.next_conn = 0
        self.t0 = 0.0
        self.stop_at = 0.0
        self.stopped_by = "duration"
        self.open: set[_Response] = set()

    def _now(self) -> float:
        return time.perf_counter() - self.t0

    async def _sleep_until(self, target_s: float) -> None:
        delay = target_s - self._now()
        if delay > 0:
            await asyncio.sleep(delay)
        # Lag = how late the loop woke us: the generator's own contribution to every delay.
        self.lags_s.append(max(0.0, self._now() - target_s))

    def _may_send(self) -> bool:
        if self.sent - self.calibration_attempts >= self.spec.max_requests:
            self.stopped_by = "max_requests"
            return False
        return self._now() < self.stop_at

    async def _connect(self) -> tuple[_Response, float]:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        _, proto = await asyncio.wait_for(
            loop.create_connection(
                lambda: _Response(self.spec.round_trip_s), LOOPBACK, self.spec.port
            ),
            self.spec.request_timeout_s,
        )
        self.open.add(proto)
        return proto, time.perf_counter() - start

    async def _attempt(
        self,
        visit: int,
        conn: _Response | None,
        *,
        conn_id: int,
        index: int,
        t_sched: float,
        service_s: float,
    ) -> tuple[Record, _Response | None, int]:
        """Send one request (opening a connection when `conn` is None); never raises."""
        t_send = self._now()
        self.sent += 1
        attempt = self.sent
        connect_s = -1.0
        reused = conn is not None
        status = 0
        error = ""
        first_byte = -1.0
        try:
            if conn is None:
                conn, connect_s = await self._connect()
                self.next_conn += 1
                conn_id = self.next_conn
                index = 0
            index += 1
            status = await asyncio.wait_for(
                conn.send(_request(service_s, attempt)), self.spec.request_timeout_s
            )
            first_byte = conn.first_byte_s - self.t0
        except (TimeoutError, OSError) as exc:
            error = "stale" if reused and conn is not None and conn.closed else type(exc).__name__
            if conn is not None:
                conn.close()
                self.open.discard(conn)
            conn = None
        record = Record(
            attempt,
            visit,
            conn_id,
            index,
            t_sched,
            t_send,
            connect_s,
            first_byte,
            self._now(),
            service_s,
            reused,
            status,
            error,
        )
        if conn is not None and conn.server_will_close:
            conn.close_later()
            self.open.discard(conn)
            conn = None
        return record, conn, index

    async def _visit(self, visit: int) -> None:
        spec = self.spec
        continue_p = 1.0 - 1.0 / spec.requests_per_visit
        conn: _Response | None = None
        conn_id = 0
        index = 0
        t_sched = self._now()
        while True:
            if not self._may_send():
                break
            service_s = self.rng.expovariate(1.0 / spec.service_time_s)
            if conn is not None and conn.closed:
                self.open.discard(conn)
                conn = None
            record, conn, index = await self._attempt(
                visit, conn, conn_id=conn_id, index=index, t_sched=t_sched, service_s=service_s
            )
            self.records.append(record)
            if record.error == "stale":
                # The server closed the idle connection as we wrote (timeout race, or event's
                # keep-alive drop): re-send on a new connection, as browsers do for GET.
                record, conn, index = await self._attempt(
                    visit, None, conn_id=0, index=0, t_sched=t_sched, service_s=service_s
                )
                self.records.append(record)
            conn_id = record.conn
            if record.error or self.rng.random() >= continue_p:
                break
            t_sched = self._now() + self.rng.expovariate(1.0 / spec.think_time_s)
            await self._sleep_until(t_sched)
        if conn is None:
            return
        release = self.rng.random() >= spec.idle_hold_probability
        if not conn.closed:
            (self.released if release else self.held).append(visit)
        if release:
            conn.close_later()
            self.open.discard(conn)

    async def run(self) -> Summary:
        spec = self.spec
        overhead_new, overhead_reused = await self._calibrate()
        self.t0 = time.perf_counter()
        t0_wall = time.time()
        self.stop_at = spec.duration_s
        tasks: set[asyncio.Task[None]] = set()
        t_next = self.rng.expovariate(spec.visit_rate_per_s)
        while t_next < spec.duration_s and self._may_send():
            await self._sleep_until(t_next)
            self.visits += 1
            task = asyncio.create_task(self._visit(self.visits))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            t_next += self.rng.expovariate(spec.visit_rate_per_s)
        if tasks:
            drain_s = spec.drain_s + spec.request_timeout_s
            _, pending = await asyncio.wait(set(tasks), timeout=drain_s)
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*pending, return_exceptions=True)
        for proto in list(self.open):
            proto.close()
        if spec.round_trip_s > 0.0:
            await asyncio.sleep(spec.round_trip_s)  # the closes still on their way go out
        lags = sorted(self.lags_s) or [0.0]
        return Summary(
            t0_wall_s=t0_wall,
            t0_mono_s=self.t0,
            duration_s=spec.duration_s,
            requests_sent=self.sent - self.calibration_attempts,
            visits_started=self.visits,
            lag_mean_s=statistics.fmean(lags),
            lag_p99_s=lags[min(len(lags) - 1, math.ceil(0.99 * len(lags)) - 1)],
            lag_max_s=lags[-1],
            lag_samples=len(self.lags_s),
            overhead_new_s=overhead_new,
            overhead_reused_s=overhead_reused,
            stopped_by=self.stopped_by,
            held_visits=tuple(self.held),
            released_visits=tuple(self.released),
        )

    async def _calibrate(self) -> tuple[float, float]:
        """Zero-load overhead: sequential pairs of requests (new, then reused connection).

        The pairs are kept as records with visit 0, so the harness can also measure the overhead
        against the server's own request time (`%D`).
        """
        self.t0 = time.perf_counter()
        new: list[float] = []
        reused: list[float] = []
        for _ in range(CALIBRATION_PAIRS):
            conn: _Response | None = None
            conn_id, index = 0, 0
            for overheads in (new, reused):
                record, conn, index = await self._attempt(
                    0,
                    conn,
                    conn_id=conn_id,
                    index=index,
                    t_sched=self._now(),
                    service_s=CALIBRATION_SERVICE_S,
                )
                self.records.append(record)
                if record.error:
                    raise RuntimeError(f"calibration request failed: {record.error}")
                conn_id = record.conn
                overheads.append(record.t_done_s - record.t_send_s - CALIBRATION_SERVICE_S)
                if conn is None:
                    break
            if conn is not None:
                conn.close()
                self.open.discard(conn)
            await asyncio.sleep(0.01)
        self.calibration_attempts = self.sent
        median_new = statistics.median(new)
        return median_new, statistics.median(reused) if reused else median_new


def write_records(path: Path, records: list[Record]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(RECORD_FIELDS)
        for rec in records:
            writer.writerow(
                (
                    rec.attempt,
                    rec.visit,
                    rec.conn,
                    rec.index_on_conn,
                    f"{rec.t_sched_s:.6f}",
                    f"{rec.t_send_s:.6f}",
                    f"{rec.connect_s:.6f}",
                    f"{rec.t_first_byte_s:.6f}",
                    f"{rec.t_done_s:.6f}",
                    f"{rec.service_s:.6f}",
                    int(rec.reused),
                    rec.status,
                    rec.error,
                )
            )


def read_records(path: Path) -> list[Record]:
    with path.open(newline="") as handle:
        rows = csv.DictReader(handle)
        return [
            Record(
                attempt=int(row["attempt"]),
                visit=int(row["visit"]),
                conn=int(row["conn"]),
                index_on_conn=int(row["index_on_conn"]),
                t_sched_s=float(row["t_sched_s"]),
                t_send_s=float(row["t_send_s"]),
                connect_s=float(row["connect_s"]),
                t_first_byte_s=float(row["t_first_byte_s"]),
                t_done_s=float(row["t_done_s"]),
                service_s=float(row["service_s"]),
                reused=row["reused"] == "1",
                status=int(row["status"]),
                error=row["error"],
            )
            for row in rows
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Open-loop HTTP/1.1 load generator (127.0.0.1).")
    parser.add_argument("spec", type=Path)
    parser.add_argument("records", type=Path)
    parser.add_argument("summary", type=Path)
    args = parser.parse_args()
    spec = LoadSpec(**json.loads(args.spec.read_text()))
    generator = Generator(spec)
    summary = asyncio.run(generator.run())
    write_records(args.records, generator.records)
    args.summary.write_text(json.dumps(asdict(summary), indent=1))


if __name__ == "__main__":
    main()
