"""capplan's predictions for a validation case, at the load the server actually saw.

Input: a `Case`, the `Realized` inputs of a run (request rate, mean and SCV of the server's own
request time `%D`) and the host's somaxconn. Output: capplan's `MpmMetrics` from
`capplan.models.{prefork,worker,event}.evaluate`, fed with settings equal to what the generated
httpd config pins and a profile written in capplan's own profile format (format 1) and loaded
with `capplan.profile.profile_from_text`, so the comparison goes through the public contracts.
"""

from __future__ import annotations

from pathlib import Path
from typing import assert_never

from bench.validate.casefile import Case
from bench.validate.loadgen import REQUEST_TIMEOUT_S
from bench.validate.measure import Realized
from capplan.models import evaluate
from capplan.models.types import MpmMetrics
from capplan.mpm_names import EventModel
from capplan.mpm_settings import (
    CommonSettings,
    EventSettings,
    MpmSettings,
    PreforkSettings,
    WorkerSettings,
)
from capplan.profile import TrafficProfile, profile_from_text


def settings_for(case: Case, somaxconn: int) -> MpmSettings:
    """The effective settings of the config `harness.httpd_config` writes for `case`."""
    srv = case.server
    common = CommonSettings(
        keep_alive=srv.keep_alive,
        keep_alive_timeout_s=srv.keep_alive_timeout_s,
        max_keep_alive_requests=srv.max_keep_alive_requests,
        listen_backlog=srv.listen_backlog,
        somaxconn=somaxconn,
        timeout_s=60,
        max_connections_per_child=0,
    )
    c = srv.workers
    tpc = srv.threads_per_child
    threaded = {
        "server_limit": srv.processes,
        "thread_limit": tpc,
        "threads_per_child": tpc,
        "max_request_workers": c,
        "start_servers": srv.processes,
        "min_spare_threads": c,
        "max_spare_threads": c + tpc,
        "common": common,
    }
    match srv.mpm:
        case "prefork":
            return PreforkSettings(
                server_limit=c,
                max_request_workers=c,
                start_servers=c,
                min_spare_servers=c,
                max_spare_servers=c + 1,
                common=common,
            )
        case "worker":
            return WorkerSettings(**threaded)  # type: ignore[arg-type]
        case "event":
            return EventSettings(
                **threaded,  # type: ignore[arg-type]
                async_request_worker_factor=srv.async_request_worker_factor,
            )
        case other:
            assert_never(other)


def syn_times(syn_retries: int, linear_timeouts: int = 0) -> list[float]:
    """When a Linux client sends its SYNs to a queue that drops them all (s after the first).

    The first retransmission waits the initial RTO, 1 s; the next `linear_timeouts` wait 1 s
    each too (`net.ipv4.tcp_syn_linear_timeouts`, Linux 6.5 and later, 4 by default), and
    the RTO doubles from there: 0, 1, 3, 7, 15, 31, 63 s without linear timeouts, 0, 1, 2, 3, 4,
    5, 7, 11, 19, 35, 67 s with 4. The client gives up after `syn_retries` retransmissions plus
    the linear ones (`tcp_write_timeout()`): 7 SYNs or 11 with the defaults.
    """
    times = [0.0]
    for k in range(syn_retries + linear_timeouts):
        times.append(times[-1] + (1.0 if k <= linear_timeouts else 2.0 ** (k - linear_timeouts)))
    return times


def connect_attempts(timeout_s: float, syn_retries: int, linear_timeouts: int = 0) -> int:
    """How many SYNs the generator's client sends before its connect timeout gives up
    (`syn_times` before `timeout_s`)."""
    return sum(1 for t in syn_times(syn_retries, linear_timeouts) if t < timeout_s)


def read_syn_retries() -> int:
    return int(Path("/proc/sys/net/ipv4/tcp_syn_retries").read_text().strip())


def read_syn_linear_timeouts() -> int:
    """`net.ipv4.tcp_syn_linear_timeouts`, 0 on kernels before 6.5, which do not have it."""
    path = Path("/proc/sys/net/ipv4/tcp_syn_linear_timeouts")
    return int(path.read_text().strip()) if path.is_file() else 0


def profile_text(case: Case, realized: Realized) -> str:
    """A capplan profile (format 1) for what was run: realized rate, service time and visits."""
    traffic = case.traffic

    def drawn(value: float | None, nominal: float) -> float:
        return nominal if value is None else value

    per_visit = drawn(realized.requests_per_visit, traffic.requests_per_visit)
    think_s = drawn(realized.think_time_s, traffic.think_time_s)
    held = drawn(realized.idle_hold_probability, traffic.idle_hold_probability)
    attempts = connect_attempts(REQUEST_TIMEOUT_S, read_syn_retries(), read_syn_linear_timeouts())
    return (
        "version: 1\n"
        f"name: {case.name}\n"
        "traffic:\n"
        f"  requests_per_second: {realized.requests_per_second!r}\n"
        f"  service_time: {realized.service_time_s!r}s\n"
        f"  service_time_scv: {realized.service_time_scv!r}\n"
        "  worker_share: 1.0\n"
        "visits:\n"
        f"  requests_per_visit: {per_visit!r}\n"
        "  distribution: geometric\n"
        f"  think_time: {think_s!r}s\n"
        f"  idle_hold_probability: {held!r}\n"
        f"  linger: {traffic.round_trip_s!r}s\n"
        f"  connect_attempts: {attempts}\n"
    )


def profile_for(case: Case, realized: Realized) -> TrafficProfile:
    return profile_from_text(profile_text(case, realized), f"{case.name}.yaml")


def predict(case: Case, realized: Realized, somaxconn: int) -> MpmMetrics:
    """capplan's metrics for `case` at the realized inputs (`capplan.models.evaluate`)."""
    return evaluate(settings_for(case, somaxconn), profile_for(case, realized))


def predict_chain(case: Case, realized: Realized, somaxconn: int) -> MpmMetrics:
    """`predict` with event's figures from the per-child chain and the accept queue the children
    share (`evaluate(..., event_model=EventModel.chain)`, what `--event-model chain` shows).
    Other MPMs are predicted as by `predict`."""
    return evaluate(
        settings_for(case, somaxconn), profile_for(case, realized), event_model=EventModel.chain
    )
