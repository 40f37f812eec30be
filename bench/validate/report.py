"""Markdown and plain-text reports of a validation run.

Input: the `CaseResult`s of a run and a description of the host. Output: text (the content of
`docs/validation.md`, or a short table per case for the terminal). Pure and deterministic: no
timestamps, no paths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.validate.compare import CaseResult, Check, relaxation_time_s
from bench.validate.measure import (
    BATCHES,
    BLOCK_DELAY_S,
    MAX_LAG_P99_S,
    STATUS_LATE_S,
    WAIT_THRESHOLD_S,
    Realized,
)


@dataclass(frozen=True, slots=True)
class Host:
    httpd_version: str
    somaxconn: int
    cpus: int


_UNITS = {
    "requests_per_connection": ("E[R] requests per connection", 1.0, ""),
    "connections_per_s": ("connections per second", 1.0, "/s"),
    "holding_time_s": ("E[H] connection holding time", 1e3, " ms"),
    "busy_workers_mean": ("mean busy workers", 1.0, ""),
    "busy_on_requests_mean": ("mean workers on requests (R+W)", 1.0, ""),
    "busy_workers_status": ("mean busy workers (server-status)", 1.0, ""),
    "idle_keepalive_mean": ("mean idle keep-alive connections", 1.0, ""),
    "idle_keepalive_scoreboard": ("mean K slots in server-status", 1.0, ""),
    "reading_scoreboard": ("mean R slots in server-status", 1.0, ""),
    "closing_scoreboard": ("mean C slots in server-status", 1.0, ""),
    "open_connections_mean": ("mean open accepted connections", 1.0, ""),
    "p_wait": ("P(wait), new connection", 1.0, ""),
    "p_wait_new_connection": ("P(wait > thr), new connection", 1.0, ""),
    "p_wait_request": ("P(wait > thr), request", 1.0, ""),
    "mean_wait_s": ("mean wait", 1e3, " ms"),
    "wait_p99_s": ("p99 wait", 1e3, " ms"),
    "p_block": ("P(block)", 1.0, ""),
    "process_saturated": ("B_p, process saturated", 1.0, ""),
    "kill_episodes_per_s": ("kill'em-all episodes per second", 1.0, "/s"),
    "ka_drops_per_s": ("keep-alive requests dropped per second", 1.0, "/s"),
    "ka_killed_per_s": ("idle connections killed per second", 1.0, "/s"),
    "ka_killed_per_episode": ("idle connections killed per episode", 1.0, ""),
    "kill_episodes_clustered": ("share of episodes in bursts", 1.0, ""),
}


def _num(value: float, scale: float = 1.0) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "∞"
    v = value * scale
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 0.01:
        return f"{v:.3g}"
    return f"{v:.2e}"


def _check_row(check: Check) -> str:
    label, scale, unit = _UNITS.get(check.quantity, (check.quantity, 1.0, ""))
    est = check.measured
    measured = f"{_num(est.value, scale)} ± {_num(est.se, scale)}{unit}"
    status = f"**{check.status}**" if check.status == "FAIL" else check.status
    return (
        f"| {label} | {_num(check.predicted, scale)}{unit} | {measured} | {check.band.describe()} "
        f"| {status} | {check.note} |"
    )


def _tally(result: CaseResult) -> str:
    counts = dict.fromkeys(("pass", "FAIL", "n/m", "info", "invalid"), 0)
    for check in result.checks:
        counts[check.status] += 1
    return f"{counts['pass']} / {counts['FAIL']} / {counts['n/m']}"


def _round_trip_words(round_trip_s: float) -> str:
    """How far away the clients were, when the generator put them a round trip away."""
    if round_trip_s <= 0.0:
        return ""
    return (
        f"; clients {round_trip_s * 1e3:g} ms away (they answer httpd's closes, and close "
        "idle connections, a round trip late)"
    )


def _visit_words(realized: Realized) -> str:
    """The visits' realized shape, as far as the run recorded it."""
    words = []
    if realized.requests_per_visit is not None:
        words.append(f"{realized.requests_per_visit:.3f} requests per visit")
    if realized.think_time_s is not None:
        words.append(f"think {realized.think_time_s * 1e3:.1f} ms")
    if realized.idle_hold_probability is not None:
        words.append(f"q = {realized.idle_hold_probability:.3f}")
    return "; " + ", ".join(words) if words else ""


def _server_words(result: CaseResult) -> str:
    srv = result.case.server
    if srv.mpm == "prefork":
        shape = f"{srv.workers} processes"
    else:
        shape = f"{srv.processes} x {srv.threads_per_child} threads"
    ka = (
        f"KeepAliveTimeout {srv.keep_alive_timeout_s * 1e3:g} ms, MaxKeepAliveRequests "
        f"{srv.max_keep_alive_requests}"
        if srv.keep_alive
        else "KeepAlive Off"
    )
    extra = f", AsyncRequestWorkerFactor {srv.async_request_worker_factor:g}"
    return (
        f"{srv.mpm}, {shape}, {ka}, ListenBacklog {srv.listen_backlog}"
        f"{extra if srv.mpm == 'event' else ''}"
    )


def case_section(result: CaseResult) -> str:
    case, measured, metrics = result.case, result.measured, result.metrics
    realized, validity = measured.realized, measured.validity
    traffic = case.traffic
    holding = metrics.holding_time_s
    per_batch = measured.batch_s / holding if holding > 0 else math.inf
    relax_s = relaxation_time_s(case, metrics)
    relaxations = measured.batch_s / relax_s if relax_s > 0 else math.inf
    lines = [
        f"### {case.name}",
        "",
        " ".join(case.description.split()),
        "",
        f"- Server: {_server_words(result)}.",
        f"- Traffic sent: {traffic.requests_per_second:g} requests/s nominal, geometric visits of "
        f"mean {traffic.requests_per_visit:g}, think time {traffic.think_time_s * 1e3:g} ms, "
        f"idle hold q = {traffic.idle_hold_probability:g}, exponential service of mean "
        f"{traffic.service_time_s * 1e3:g} ms{_round_trip_words(traffic.round_trip_s)}.",
        f"- Realized (model inputs): {realized.requests_per_second:.2f} requests/s, "
        f"S = {realized.service_time_s * 1e3:.2f} ms (server `%D`), SCV "
        f"{realized.service_time_scv:.2f}{_visit_words(realized)}; offered load "
        f"{metrics.offered_load_erlangs:.2f} "
        f"Erlangs on {metrics.workers} workers (utilisation {metrics.utilization:.2f}"
        f"{'' if metrics.stable else ', unstable'}).",
        f"- Window {realized.window_s:g} s after {case.warmup_s:g} s warm-up, {BATCHES} batches "
        f"of {measured.batch_s:.2f} s = {per_batch:.1f} E[H] = {relaxations:.1f} relaxation times "
        f"each (§10.3 asks for 10 of both); {realized.requests} requests.",
        f"- Generator: lag p99 {validity.lag_p99_s * 1e3:.1f} ms (max "
        f"{validity.lag_max_s * 1e3:.1f} ms), zero-load overhead "
        f"{validity.overhead_new_s * 1e3:.2f} ms new / {validity.overhead_reused_s * 1e3:.2f} ms "
        f"reused connection, {validity.failed_fraction:.2%} failed; host ListenOverflows "
        f"+{measured.listen_overflows}.",
    ]
    if not validity.valid:
        lines.append(f"- **Invalid run**: {'; '.join(validity.reasons)}.")
    lines += [
        "",
        "| quantity | predicted | measured ± SE | band | status | note |",
        "|---|---|---|---|---|---|",
        *(_check_row(c) for c in result.checks),
        "",
    ]
    return "\n".join(lines)


def _summary_table(results: Sequence[CaseResult]) -> str:
    lines = [
        "| case | MPM | workers | realized req/s | utilisation | pass / FAIL / n/m | run |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.case.name} | {r.case.server.mpm} | {r.metrics.workers} | "
            f"{r.measured.realized.requests_per_second:.1f} | {r.metrics.utilization:.2f} | "
            f"{_tally(r)} | {'valid' if r.valid else 'INVALID'} |"
        )
    return "\n".join(lines)


_METHOD = f"""\
Each case starts Debian's apache2 under its own ServerRoot on 127.0.0.1 with every worker
pre-spawned (StartServers = MinSpare = MaxSpare), MaxConnectionsPerChild 0, KeepAliveTimeout,
MaxKeepAliveRequests and ListenBacklog pinned, `AcceptFilter http none` (a plain accept queue)
unless the case keeps httpd's default on Linux (`data`, TCP_DEFER_ACCEPT: a connection is queued
only once its request has arrived), and mod_proxy to a small asyncio backend that sleeps the
requested time, with a proxy pool larger than the worker count. An open-loop asyncio generator
sends Poisson visits with a geometric number of requests over HTTP/1.1 keep-alive, exponential
think gaps and exponential service times, and keeps the socket open after a visit with
probability q. capplan's models (`capplan.models.*.evaluate`,
settings equal to what the config pins, a format-1 profile at the **realized** request rate, the
server's own mean and SCV of `%D` and the visits the generator drew (mean requests per visit, mean
think gap, share of held sockets), and the connect attempts the generator's 30 s timeout allows
with the host's `tcp_syn_retries` and `tcp_syn_linear_timeouts`) give the predictions.

Measurements (batch means over {BATCHES} equal batches of the window; ± is one standard error):

- mean busy workers: prefork/worker from the kernel, every 50 ms (server-side sockets on the port
  in ESTABLISHED or CLOSE_WAIT minus the accept queue, capped at c), and for reference from
  server-status every 250 ms (a poll answered {STATUS_LATE_S * 1e3:g} ms later than at zero load
  waited for a worker and counts as all c busy); event from the access log (`%{{usec}}t`, `%D`,
  `%P` rebuild every child's busy-worker count over time);
- idle keep-alive connections: open accepted connections' workers (kernel) minus workers on
  requests (access log) for prefork/worker, with the scoreboard's `K` count (server-status every
  250 ms) shown for reference; event open accepted connections (kernel) minus busy workers,
  which counts the connections a kill episode closed until a worker has closed them (the
  model's `deferred_closes_mean` is added to its idle and open connections there);
- P(wait), new connection: prefork/worker the time fraction with at least c connections open
  (PASTA), against M/M/c/K's P_allbusy = P(block) + (1 - P(block)) P(wait | admitted); event the
  fraction of new connections whose first request waited;
- waits: client first-byte time minus the server's `%D` minus the zero-load overhead measured
  before the run; "waited" means more than {WAIT_THRESHOLD_S * 1e3:g} ms or the generator's lag p99
  if larger (thr, in the notes), and the prediction is then the model's own P(wait > thr)
  (Allen-Cunneen tail); waits are those of admitted connections, the model's Wq | admitted
  (every request of a connection whose connect took the P(block) threshold or more is left out);
- P(block): the fraction of new connections whose connect or first byte took {BLOCK_DELAY_S:g} s
  or more (a SYN dropped by the full accept queue is retransmitted after about 1 s); in a case
  that captures its handshakes on lo (`capture: true`, tcpdump), the fraction of connections the
  full queue turned away at least once (their SYN or the server's SYN-ACK sent again, or no
  SYN-ACK at all), which a long wait in the queue, counted by the first byte, is not;
- event: B_p is the time fraction a child has every thread on a request (access-log rebuild);
  kill episodes are the `mpm_event:trace1` lines "will shutdown N keep-alive connections" (N
  summed for the connections killed; an episode less than 50 ms after the previous one is "in a
  burst"); keep-alive drops are reused connections closed by the server under a request. These
  counts are judged only when the window holds at least 20 episodes (or drops), predicted or
  seen; fewer, clustered as they are, have no error bar.

A case is invalid (not a model miss) when the generator's scheduling lag p99 exceeds
{MAX_LAG_P99_S * 1e3:g} ms or the access log misses answered requests. The model is evaluated at the
offered request rate the generator realized (every request sent in the window, once), and at the
visits it drew: those starting in the window and ending before the load stopped, their mean
length the geometric's maximum-likelihood one (a visit whose last request failed drew no "stop"),
because near a slot limit a visit 4 % longer than nominal means 3 % fewer open connections and a
third fewer new connections that wait.
"""

_LIMITS = """\
- **Transients.** Every number is steady state; workers are pre-spawned, so spawning (F16) is not
  exercised.
- **Connection arrivals are not Poisson.** Connections of one visit follow each other; with short
  visits this is close to Poisson (2.7), but the generator's visits are the only source here.
- **event waits.** event's `p_wait`, `mean_wait_s` and `wait_p99_s` are a new connection's wait
  in the accept queue for a worker or a connection slot, whichever it meets, with the open
  connections as the servers of a delay system and an exponential tail; their error bars are
  judged only with batches of ten relaxation times (and a p99 with ten tail samples per batch).
- **event saturation.** B_p follows a child's busy workers alone, as a birth-death chain whose
  births the slot rule holds back (its idle connections a pool the rule truncates and kill
  episodes empty, §4.2), and the kill hazard takes every episode to close E[Y | Y ≤ 1 + F] of
  a child's Poisson idle connections Y (those the slot rule let in with one worker idle); the
  findings below show where each assumption breaks. The per-child chain
  (`--event-model chain`) makes neither assumption; docs/validation-event-chains.md judges it on
  the same runs.
- **Retried SYNs.** The finite accept queue is M/M/c/K at the attempt load of independent
  retries; a retry that comes back while the queue is still congested is more likely dropped
  than that, which the model leaves out (see the findings).
- **Lingering close** is 0 here (the generator closes as soon as it reads the server's FIN), so
  the L term of H is not exercised.
"""


def markdown(results: Sequence[CaseResult], host: Host, findings: str = "") -> str:
    """The whole of docs/validation.md."""
    failed = [(r.case.name, c) for r in results for c in r.failures]
    invalid = [r.case.name for r in results if not r.valid]
    lines = [
        "# Validation against a real Apache httpd",
        "",
        "Generated by `python -m bench.validate.run --write docs/validation.md`; do not edit by "
        "hand. Acceptance bands: derivations §10.3.",
        "",
        f"Host: {host.httpd_version or 'apache2'}, {host.cpus} CPUs shared by httpd, the "
        f"backend and the generator, net.core.somaxconn {host.somaxconn}.",
        "",
        "## Method",
        "",
        _METHOD,
        "## Summary",
        "",
        _summary_table(results),
        "",
        f"{sum(len(r.checks) for r in results)} checks in {len(results)} cases: "
        f"{sum(1 for r in results for c in r.checks if c.status == 'pass')} pass, "
        f"{len(failed)} fail, {len(invalid)} invalid runs.",
        "",
    ]
    if failed:
        lines += ["Failed bands:", ""]
        lines += [
            f"- {name}: {_UNITS.get(c.quantity, (c.quantity,))[0]} predicted "
            f"{_num(c.predicted)}, measured {_num(c.measured.value)} ± {_num(c.measured.se)}."
            for name, c in failed
        ]
        lines.append("")
    lines += ["## Cases", ""]
    lines += [case_section(r) for r in results]
    lines += ["## What the model does not capture", "", _LIMITS]
    if findings:
        lines += [findings.rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def terminal(result: CaseResult) -> str:
    """A compact per-case table for the terminal."""
    lines = [f"{result.case.name}: {'valid' if result.valid else 'INVALID'} ({_tally(result)})"]
    for check in result.checks:
        label, scale, unit = _UNITS.get(check.quantity, (check.quantity, 1.0, ""))
        lines.append(
            f"  {label:40s} {_num(check.predicted, scale):>9}{unit:3s} "
            f"{_num(check.measured.value, scale):>9} ± {_num(check.measured.se, scale):<9}"
            f" {check.status}"
        )
    if not result.valid:
        lines.append("  invalid: " + "; ".join(result.measured.validity.reasons))
    return "\n".join(lines)
