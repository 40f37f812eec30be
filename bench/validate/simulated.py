"""httpd, the event simulator and the closed form, side by side on saved validation runs.

`python -m bench.validate.simulated --load DIR... [--label TEXT...] [--cases NAME ...]
[--events N] [--write FILE]` takes the event cases of each run kept with `python -m
bench.validate.run --save DIR`, measures them as docs/validation.md does, and runs the test
simulator (`tests.models.event_sim`, which follows event.c's listener rules rather than the
model's equations) at the same realized inputs and the same wait threshold. Every band is then
judged three ways: the closed form against httpd (as docs/validation.md does), the simulator
against httpd (the same band, the simulator standing in for a model), and the closed form
against the simulator (the band's relative part, or its factor, around the simulator's mean,
widened by its 95 % half-width).

What that tells apart: a band the simulator passes and the closed form fails is the closed
form's error; a band the simulator fails too is httpd doing something the simulated rules do not
(or a measurement off its own error bar: the runs before are then the check). No httpd is
started. Exit codes: 0 done, 2 bad input (unknown case, missing run, a --label count that is not
the --load count, an event budget below 50,000).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.validate.casefile import Case, CaseError
from bench.validate.chains import add_run_arguments, judge_runs, judge_saved, write_page
from bench.validate.compare import Band, CaseResult, Check, judge
from bench.validate.measure import Estimate, Realized
from bench.validate.report import _UNITS, _num
from capplan.mpm_settings import CommonSettings
from tests.models.event_sim import Estimate as SimEstimate
from tests.models.event_sim import SimConfig, SimResult, simulate_events

# Batches of the simulation, and its events (about three per request) per run by default.
_BATCHES = 20
DEFAULT_EVENTS = 400_000
_LEAST_EVENTS = 50_000
# A run stops at this many times its event budget (connections piling up add events).
_BUDGET = 3


def sim_config(
    case: Case,
    realized: Realized,
    wait_threshold_s: float,
    linger_race: float = 0.0,
    *,
    count_lag: float = 0.0,
    somaxconn: int | None = None,
) -> SimConfig:
    """The simulated server and traffic at a run's realized inputs (the model's inputs), with
    the chance `linger_race` of the deferred-close race (`SimConfig.linger_race`) and the chance
    `count_lag` that the listener checks its limit before its last connection is counted
    (`SimConfig.count_lag`). The accept queue holds min(ListenBacklog, `somaxconn`) + 1
    connections, as the kernel's (`CommonSettings.accept_queue_capacity`, F11; capplan's default
    somaxconn when none is given): the simulator's holds `accept_queue` + 1. A case whose
    clients are a round trip away has the simulator's answers that long after each close
    (`SimConfig.answer_delay_s`)."""
    server, traffic = case.server, case.traffic
    listen = CommonSettings(listen_backlog=server.listen_backlog)
    if somaxconn is not None:
        listen = replace(listen, somaxconn=somaxconn)
    think = realized.think_time_s if realized.think_time_s is not None else traffic.think_time_s
    hold = realized.idle_hold_probability
    return SimConfig(
        processes=server.processes,
        threads_per_child=server.threads_per_child,
        # httpd floors AsyncRequestWorkerFactor at 1 (docs/derivations.md, F5).
        factor=max(1, int(server.async_request_worker_factor)),
        requests_per_s=realized.requests_per_second,
        service_s=realized.service_time_s,
        service_scv=realized.service_time_scv,
        requests_per_visit=realized.requests_per_visit or traffic.requests_per_visit,
        think_s=think,
        keepalive_timeout_s=server.keep_alive_timeout_s,
        idle_hold_probability=hold if hold is not None else traffic.idle_hold_probability,
        accept_queue=listen.accept_queue_capacity - 1,
        wait_threshold_s=wait_threshold_s,
        count_lag=count_lag,
        linger_race=linger_race,
        # Clients a round trip away: their closes reach the listener that much later.
        answer_delay_s=traffic.round_trip_s if traffic.round_trip_s > 0.0 else None,
    )


def run_simulator(config: SimConfig, events: int, seed: int = 1) -> SimResult:
    """`_BATCHES` batches of about `events` events in all after a warm-up of two batches."""
    return simulate_events(config, events, seed=seed, batches=_BATCHES, budget=_BUDGET)


def _requests_waiting(sim: SimResult, requests_per_s: float) -> float:
    """Requests that waited longer than the threshold, per request: the new connections that
    did, and the keep-alive requests clients saw dropped (they come back on a new connection)."""
    waited = sim.connections_per_s.mean * sim.p_wait_above.mean + sim.client_drops_per_s.mean
    return min(1.0, waited / requests_per_s) if requests_per_s > 0.0 else 0.0


def simulated_values(sim: SimResult, requests_per_s: float) -> dict[str, tuple[float, float]]:
    """(mean, 95 % half-width) of the simulator for each validation quantity it has. E[R] is the
    request rate over the simulated connection rate, with that rate's relative half-width; the
    other ratios of means have none (NaN)."""
    conn = sim.connections_per_s
    episodes = sim.kill_episodes_per_s

    def pair(estimate: SimEstimate) -> tuple[float, float]:
        return estimate.mean, estimate.half_width

    ratio = requests_per_s / conn.mean if conn.mean > 0.0 else math.nan
    per_episode = sim.killed_per_s.mean / episodes.mean if episodes.mean > 0.0 else math.nan
    return {
        "requests_per_connection": (ratio, ratio * conn.half_width / conn.mean)
        if conn.mean > 0.0
        else (math.nan, math.nan),
        "busy_workers_mean": pair(sim.busy_workers),
        # httpd's counts are the kernel's: killed connections stay open until a worker closes
        # them (its idle count is the kernel's open count less the busy workers).
        "idle_keepalive_mean": (
            sim.idle_keepalive.mean + sim.deferred_closes.mean,
            sim.idle_keepalive.half_width + sim.deferred_closes.half_width,
        ),
        "connections_per_s": pair(conn),
        "open_connections_mean": (
            sim.open_connections.mean + sim.deferred_closes.mean,
            sim.open_connections.half_width + sim.deferred_closes.half_width,
        ),
        "process_saturated": pair(sim.process_saturation),
        "kill_episodes_per_s": pair(episodes),
        "ka_drops_per_s": pair(sim.client_drops_per_s),
        "ka_killed_per_s": pair(sim.killed_per_s),
        "ka_killed_per_episode": (per_episode, math.nan),
        "p_wait": pair(sim.p_wait_above),
        "p_wait_request": (_requests_waiting(sim, requests_per_s), math.nan),
        "mean_wait_s": pair(sim.mean_wait_s),
    }


@dataclass(frozen=True, slots=True)
class Row:
    """One band: the closed form's check against httpd, and the simulator's figures."""

    check: Check
    simulated: float
    half_width: float
    sim_status: str  # the simulator judged by the band around httpd's measurement
    closed_vs_sim: str  # the closed form judged by the band around the simulator's mean


@dataclass(frozen=True, slots=True)
class ThreeWay:
    """One case: httpd's measurements, the closed form and the simulator."""

    closed: CaseResult
    sim: SimResult
    rows: tuple[Row, ...]


def _against_simulator(predicted: float, mean: float, half_width: float, band: Band) -> str:
    """`judge` with the simulator's mean as the measurement and its half-width as 3 SE."""
    if math.isnan(mean):
        return "-"
    se = half_width / 3.0 if math.isfinite(half_width) else 0.0
    return judge(predicted, Estimate(mean, se, _BATCHES), band)


def three_way(closed: CaseResult, sim: SimResult) -> ThreeWay:
    """Every band of a case judged against httpd, with the simulator's figures beside the
    closed form's."""
    values = simulated_values(sim, closed.measured.realized.requests_per_second)
    rows = []
    for check in closed.checks:
        mean, half = values.get(check.quantity, (math.nan, math.nan))
        judged = check.status in ("pass", "FAIL")
        sim_status: str = check.status
        if math.isnan(mean):
            sim_status = "-"
        elif judged:
            sim_status = judge(mean, check.measured, check.band)
        versus = _against_simulator(check.predicted, mean, half, check.band) if judged else "-"
        rows.append(Row(check, mean, half, sim_status, versus))
    return ThreeWay(closed, sim, tuple(rows))


def judge_three(case: Case, load: Path, events: int, linger_race: float = 0.0) -> ThreeWay:
    """Measure a saved run, predict it with the closed form and simulate it."""
    closed, _ = judge_saved(case, load)
    measured = closed.measured
    config = sim_config(closed.case, measured.realized, measured.wait_threshold_s, linger_race)
    return three_way(closed, run_simulator(config, events))


def _cell(value: float, half: float, scale: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    if math.isnan(half):
        return f"{_num(value, scale)}{unit}"
    return f"{_num(value, scale)} ± {_num(half, scale)}{unit}"


def table_rows(result: ThreeWay) -> list[tuple[str, ...]]:
    """(quantity, httpd ± SE, simulator ± 95 %, its status, closed form, its status, closed
    form against the simulator) per band with one."""
    out: list[tuple[str, ...]] = []
    for row in result.rows:
        check = row.check
        if check.band.kind == "none" and math.isnan(row.simulated):
            continue
        label, scale, unit = _UNITS.get(check.quantity, (check.quantity, 1.0, ""))
        est = check.measured
        out.append(
            (
                label,
                f"{_num(est.value, scale)} ± {_num(est.se, scale)}{unit}",
                _cell(row.simulated, row.half_width, scale, unit),
                row.sim_status,
                f"{_num(check.predicted, scale)}{unit}",
                check.status,
                row.closed_vs_sim,
            )
        )
    return out


def tally(results: Sequence[ThreeWay]) -> tuple[int, int, int, int]:
    """Judged bands (against httpd) the closed form fails, the simulator fails, both fail, and
    the number judged."""
    closed = sim = both = judged = 0
    for result in results:
        for row in result.rows:
            if row.check.status not in ("pass", "FAIL") or row.sim_status not in ("pass", "FAIL"):
                continue
            judged += 1
            closed += row.check.status == "FAIL"
            sim += row.sim_status == "FAIL"
            both += row.check.status == "FAIL" and row.sim_status == "FAIL"
    return closed, sim, both, judged


def _simulator_note(result: ThreeWay) -> str:
    """How long the simulation ran, and how long the connections its episodes closed had been
    idle (httpd's logs do not say)."""
    sim = result.sim
    note = f"Simulator: {sim.events:,} events, {sim.batches} batches."
    if sim.kill_episodes_per_s.mean > 0.0:
        age = sim.killed_idle_age_s
        note += (
            f" The idle connections its episodes closed had been idle "
            f"{_num(age.mean, 1e3)} ± {_num(age.half_width, 1e3)} ms on average."
        )
    return note


def _bold(cell: str) -> str:
    return "**FAIL**" if cell == "FAIL" else cell


def markdown(
    runs: Sequence[tuple[str, Sequence[ThreeWay]]], events: int, linger_race: float = 0.0
) -> str:
    """The markdown page: a tally per run, then each case's bands three ways."""
    race = (
        f" It simulated the deferred-close race (docs/derivations.md §4.11) with a chance of "
        f"{linger_race:g} per connection left to the freed worker (`--linger-race`)."
        if linger_race > 0.0
        else ""
    )
    flag = f"--linger-race {linger_race:g} " if linger_race > 0.0 else ""
    lines = [
        "# event: httpd, the simulator and the closed form on the same runs",
        "",
        "Generated by `python -m bench.validate.simulated --load DIR... --label TEXT... "
        f"{flag}--write FILE`; do not edit by hand. httpd's measurements and the bands are "
        "those of docs/validation.md's method. The simulator (`tests/models/event_sim.py`, "
        'docs/models.md, "Checked against a simulator") follows event.c\'s listener rules, one '
        f"event at a time; it ran {_BATCHES} batches of about {events:,} events in all per "
        "case (seed 1) at each run's realized inputs, with the run's wait threshold. "
        '"simulator" is the simulator judged by the band around httpd\'s measurement, as if it '
        'were a model; "closed form vs simulator" the closed form judged by the same band '
        "around the simulator's mean (its 95 % half-width taken as 3 SE). A band the "
        "simulator passes and the closed form fails is the closed form's error; one the "
        "simulator fails too is httpd doing what the simulated rules do not, or a measurement "
        f"off its error bar (the other runs tell which). The p99 wait is not simulated.{race}",
        "",
        "| run | judged bands | closed form fails | simulator fails | both fail |",
        "|---|---|---|---|---|",
    ]
    for label, results in runs:
        closed, sim, both, judged = tally(results)
        lines.append(f"| {label} | {judged} | {closed} | {sim} | {both} |")
    lines.append("")
    for number, (label, results) in enumerate(runs, start=1):
        lines += [f"## Run {number}: {label}", ""]
        for result in results:
            lines += [
                f"### {result.closed.case.name} (run {number})",
                "",
                "| quantity | httpd ± SE | simulator ± 95 % | status | closed form | status "
                "| closed form vs simulator |",
                "|---|---|---|---|---|---|---|",
            ]
            lines += ["| " + " | ".join(_bold(c) for c in row) + " |" for row in table_rows(result)]
            lines += ["", _simulator_note(result), ""]
    return "\n".join(lines).rstrip() + "\n"


def terminal(result: ThreeWay) -> str:
    lines = [result.closed.case.name]
    lines += [
        f"  {q:<40} {m:>20} {s:>20} {ss:<5} {c:>10} {cs:<5} {v:<5}"
        for q, m, s, ss, c, cs, v in table_rows(result)
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.validate.simulated",
        description="httpd, the event simulator and the closed form on saved validation runs.",
    )
    add_run_arguments(parser)
    parser.add_argument(
        "--events",
        type=int,
        default=DEFAULT_EVENTS,
        metavar="N",
        help=f"simulated events per case (default {DEFAULT_EVENTS:,})",
    )
    parser.add_argument(
        "--linger-race",
        type=float,
        default=0.0,
        metavar="P",
        help="simulate the deferred-close race with this chance per connection (default 0; "
        "about 0.35 on the validation host, docs/derivations.md §4.11)",
    )
    args = parser.parse_args(argv)
    if args.events < _LEAST_EVENTS:
        print(f"simulated: error: --events must be at least {_LEAST_EVENTS:,}", file=sys.stderr)
        return 2
    if not 0.0 <= args.linger_race <= 1.0:
        print("simulated: error: --linger-race must be between 0 and 1", file=sys.stderr)
        return 2
    try:
        runs = judge_runs(
            args,
            lambda case, load: judge_three(case, load, args.events, args.linger_race),
            terminal,
        )
    except CaseError as exc:
        print(f"simulated: error: {exc}", file=sys.stderr)
        return 2
    for label, results in runs:
        closed, sim, both, judged = tally(results)
        print(
            f"{label}: {judged} judged bands; failed by the closed form {closed}, by the "
            f"simulator {sim}, by both {both}"
        )
    if args.write is not None:
        write_page(args.write, markdown(runs, args.events, args.linger_race))
    return 0


if __name__ == "__main__":
    sys.exit(main())
