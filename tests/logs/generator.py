"""A seeded generator of access logs from a known traffic model (the model of derivations §2).

Visits arrive as a Poisson process; each issues a geometric number of requests one after the
other, with lognormal service times and exponential think gaps. httpd's keep-alive rules decide
`%k` and `%X`: a gap longer than KeepAliveTimeout makes the next request open a new connection;
after MaxKeepAliveRequests re-uses the server closes; after the visit's last request the client
keeps its socket open with probability q (`%X` `+`) or sends `Connection: close` (`-`).
Lines are written in order of completion, as httpd writes them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

LOG_FORMAT = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D %k %X'

_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    '(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1 \\"quoted\\"',
    "curl/8.8.0",
)
_PATHS = ("/", "/index.html", "/static/app.css", "/static/app.js", "/img/logo.png", "/api/items")


@dataclass(frozen=True, slots=True)
class TrafficModel:
    """The true parameters a generated log is drawn from."""

    visit_rate_per_s: float = 20.0
    duration_s: float = 3600.0
    service_mean_s: float = 0.05
    service_scv: float = 1.5
    requests_per_visit: float = 10.0  # m, geometric mean
    think_time_s: float = 2.0  # Z
    keepalive_timeout_s: float = 5.0  # T
    max_keepalive_requests: int = 100  # K
    idle_hold_probability: float = 0.7  # q
    abort_probability: float = 0.01  # a visit's last request is aborted (%X = X)
    start_epoch_s: float = 1_700_000_000.0
    # Visits start this long before the log does, and the log keeps only requests that start
    # within `duration_s`: a steady-state excerpt, as a real log is, with no ramp at either end.
    warmup_s: float = 600.0

    @property
    def request_rate_per_s(self) -> float:
        return self.visit_rate_per_s * self.requests_per_visit

    @property
    def requests_per_connection(self) -> float:
        """E[R] of derivations §2.2 (geometric N, cap k = K + 1)."""
        r = 1.0 - 1.0 / self.requests_per_visit
        p = 1.0 - math.exp(-self.keepalive_timeout_s / self.think_time_s)
        alpha = r * p
        k = self.max_keepalive_requests + 1
        return (1.0 - alpha**k) / (1.0 - alpha)


def generate_requests(model: TrafficModel, seed: int) -> dict[str, np.ndarray]:
    """Arrays per request (sorted by completion): start_s, service_s, keepalives, conn, visit."""
    rng = np.random.default_rng(seed)
    window_s = model.warmup_s + model.duration_s
    n_visits = int(rng.poisson(model.visit_rate_per_s * window_s))
    visit_start = np.sort(rng.uniform(-model.warmup_s, model.duration_s, n_visits))
    n_req = rng.geometric(1.0 / model.requests_per_visit, n_visits)
    total = int(n_req.sum())
    visit = np.repeat(np.arange(n_visits), n_req)
    first = np.zeros(total, dtype=bool)
    offsets = np.concatenate(([0], np.cumsum(n_req)[:-1]))
    first[offsets] = True
    last = np.zeros(total, dtype=bool)
    last[offsets + n_req - 1] = True
    sigma2 = math.log(1.0 + model.service_scv)
    mu = math.log(model.service_mean_s) - sigma2 / 2.0
    service = rng.lognormal(mu, math.sqrt(sigma2), total)
    gap_before = rng.exponential(model.think_time_s, total)
    gap_before[first] = 0.0
    step = gap_before + np.concatenate(([0.0], service[:-1]))
    step[first] = 0.0
    cum = np.cumsum(step)
    start = visit_start[visit] + cum - cum[offsets][visit]
    # Connections: a gap longer than T breaks the connection; within a run of reuses httpd
    # closes after request K+1 (%k == K), so %k counts modulo K+1.
    new_conn = first | (gap_before > model.keepalive_timeout_s)
    run_id = np.cumsum(new_conn) - 1
    run_start = np.flatnonzero(new_conn)
    pos = np.arange(total) - run_start[run_id]
    keepalives = pos % (model.max_keepalive_requests + 1)
    status = np.full(total, ord("+"), dtype=np.uint8)
    status[keepalives == model.max_keepalive_requests] = ord("-")
    u = rng.uniform(size=total)
    closes = last & (u >= model.idle_hold_probability)
    status[closes] = ord("-")
    aborted = last & (rng.uniform(size=total) < model.abort_probability)
    status[aborted] = ord("X")
    keep = (start >= 0.0) & (start < model.duration_s)
    order = np.flatnonzero(keep)[np.argsort((start + service)[keep], kind="stable")]
    return {
        "start_s": (start + model.start_epoch_s)[order],
        "service_s": service[order],
        "keepalives": keepalives[order],
        "conn": status[order],
        "visit": visit[order],
    }


def _clf(epoch: int, cache: dict[int, str]) -> str:
    text = cache.get(epoch)
    if text is None:
        text = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch))
        cache[epoch] = text
    return text


def log_lines(model: TrafficModel, seed: int) -> Iterator[str]:
    """The log, line by line (with trailing newline), in `LOG_FORMAT`."""
    req = generate_requests(model, seed)
    rng = np.random.default_rng(seed + 1)
    n = len(req["start_s"])
    ip_of_visit = rng.integers(0, 1 << 30, int(req["visit"].max()) + 1 if n else 1)
    agent_of_visit = rng.integers(0, len(_AGENTS), ip_of_visit.size)
    codes = rng.choice(np.array([200, 200, 200, 200, 200, 200, 200, 304, 404, 500]), n)
    sizes = rng.integers(200, 200_000, n)
    paths = rng.integers(0, len(_PATHS), n)
    cache: dict[int, str] = {}
    starts = req["start_s"].tolist()
    micros = np.maximum(np.rint(req["service_s"] * 1e6), 0).astype(np.int64).tolist()
    ka = req["keepalives"].tolist()
    conn = [chr(c) for c in req["conn"].tolist()]
    visits = req["visit"].tolist()
    for i in range(n):
        v = visits[i]
        ip = ip_of_visit[v]
        yield (
            f"10.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255} - - [{_clf(int(starts[i]), cache)}] "
            f'"GET {_PATHS[paths[i]]} HTTP/1.1" {codes[i]} {sizes[i]} "-" '
            f'"{_AGENTS[agent_of_visit[v]]}" {micros[i]} {ka[i]} {conn[i]}\n'
        )


def write_log(path: str, model: TrafficModel, seed: int) -> int:
    """Write the log to `path`; return the number of lines."""
    n = 0
    with open(path, "w", encoding="ascii") as fh:
        batch: list[str] = []
        for line in log_lines(model, seed):
            batch.append(line)
            if len(batch) >= 10_000:
                fh.writelines(batch)
                n += len(batch)
                batch.clear()
        fh.writelines(batch)
        n += len(batch)
    return n
