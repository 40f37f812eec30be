"""How often httpd's deferred-close race happens, read from a real httpd's own log.

`python -m bench.validate.linger_race [--case NAME] [--events N] [--keep DIR] [--count-lag P]
[--round-trip SECONDS]`
runs one single-child event case of the validation suite (needs apache2, about two minutes),
reads the child's listener from its error log (the harness logs `mpm_event` at trace1: every
disable, re-enable and kill'em-all, docs/derivations.md §4.11), estimates the race's chance per
connection, and runs the test simulator at the run's realized inputs (the case's accept queue
included) without and with that chance, side by side with httpd; `--count-lag P` adds the
simulator with the race and with the chance P that the listener checks its limit before its
last connection is counted (F6a, which decides how often an overloaded child kills, §4.14);
`--round-trip SECONDS` has the generator's clients answer httpd's closes that much later, as
remote ones would, and adds the simulator with every connection's last word (its client's EOF
or its answer to the close) reaching the listener a round trip after the close (§4.11).

What it reads. A kill'em-all that follows "Too many open connections" with "Idle workers: 0" is
the listener finding no worker for a waiting connection; any other is a keep-alive request, or a
lingering socket, that found none. After such a kill of n connections the worker that frees
first closes them, and while it does, each of the n - 1 it has already closed can turn readable
(its client answered) and find no idle worker: the child kills again. So
P(another kill within a few service times | n) = 1 - (1 - b)(1 - p)^(n - 1), b the other
triggers; (b, p) by maximum likelihood over the run's kills. Only a single child's log can be
read this way (the log lines carry no process id).

The log also says how often the listener was disabled, and how many of those disables found no
idle worker (and so killed) rather than stopping at the slot limit with workers idle.

Exit codes: 0 done, 2 bad input (unknown case, not a single-child event case, an event budget
below 50,000, a count lag outside [0, 1], a round trip outside [0, 1] s), 1 httpd did not run
or its log has no kill'em-all to read.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.validate.casefile import MAX_ROUND_TRIP_S, Case, all_cases
from bench.validate.harness import RawRun, run_case
from bench.validate.measure import Estimate, measure
from bench.validate.simulated import DEFAULT_EVENTS, run_simulator, sim_config
from tests.models.event_sim import SimConfig, SimResult, simulate

_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d+)\] \[mpm_event:\w+\] (.*)$")
_ENABLE = re.compile(r"Accepting new connections again: .* (\d+) idle workers\s*$")
_IDLE_WORKERS = re.compile(r"^Idle workers: (\d+)")
_KILL = re.compile(r"will shutdown (\d+) keep-alive connections")
_LEAST_EVENTS = 50_000
# Another kill within this many mean times for one of the child's workers to free (S/TPC)
# counts as the race's (its median is about one such time).
_FOLLOW_TIMES = 5.0


@dataclass(frozen=True, slots=True)
class Kill:
    at_s: float
    closed: int
    for_accept: bool  # the listener found no worker for a waiting connection


@dataclass(frozen=True, slots=True)
class ListenerLog:
    """A single child's listener over the log's span."""

    span_s: float
    disabled_share: float
    enables_per_s: float
    enables_one_idle: float  # share of re-enables with exactly one idle worker
    kills: tuple[Kill, ...]
    # Disables per second, and the share of them for want of a worker: "All workers busy", or
    # "Too many open connections" with "Idle workers: 0" (connections_above_limit() found no
    # idle worker, so the child kills); the others stopped at the slot limit with workers idle.
    disables_per_s: float = 0.0
    disables_no_worker: float = 0.0


def _seconds(stamp: str, fraction: str) -> float:
    return time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + float("0." + fraction)


def read_listener_log(
    text: str, start_s: float = -math.inf, end_s: float = math.inf
) -> ListenerLog:
    """Disables, re-enables and kill'em-alls of one child from its `mpm_event` trace1 log, in
    the window from `start_s` to `end_s` (wall-clock seconds)."""
    disabled_at: float | None = None
    disabled = 0.0
    disables = no_worker = 0
    # A "Too many open connections" disable waits for its "Idle workers" line.
    pending_disable = False
    enables = one_idle = 0
    kills: list[Kill] = []
    last_idle_workers: int | None = None
    first = last = None
    for line in text.splitlines():
        match = _STAMP.match(line)
        if match is None:
            continue
        at = _seconds(match.group(1), match.group(2))
        if not start_s <= at <= end_s:
            continue
        message = match.group(3)
        first = at if first is None else first
        last = at
        if "not accepting new conns" in message:
            disables += 1
            if message.startswith("All workers busy"):
                no_worker += 1
            else:
                pending_disable = True
            if disabled_at is None:
                disabled_at = at
            continue
        if (idle := _IDLE_WORKERS.match(message)) is not None:
            last_idle_workers = int(idle.group(1))
            if pending_disable and last_idle_workers == 0:
                no_worker += 1
            pending_disable = False
            continue
        pending_disable = False
        if (enabled := _ENABLE.search(message)) is not None:
            if disabled_at is not None:
                disabled += at - disabled_at
                disabled_at = None
            enables += 1
            one_idle += enabled.group(1) == "1"
        elif (kill := _KILL.search(message)) is not None:
            kills.append(Kill(at, int(kill.group(1)), last_idle_workers == 0))
        last_idle_workers = None
    span = (last - first) if first is not None and last is not None else 0.0
    if span <= 0.0:
        return ListenerLog(0.0, 0.0, 0.0, 0.0, tuple(kills))
    return ListenerLog(
        span,
        disabled / span,
        enables / span,
        one_idle / enables if enables else 0.0,
        tuple(kills),
        disables / span,
        no_worker / disables if disables else 0.0,
    )


def measured_window(text: str, raw: RawRun) -> ListenerLog:
    """The log over the run's measurement window (its warm-up left out): the harness keeps
    each kill's time from the run's start, which places the window on the log's clock."""
    whole = read_listener_log(text)
    if not whole.kills or not raw.kill_episodes:
        return whole
    start = whole.kills[0].at_s - raw.kill_episodes[0][0]
    return read_listener_log(text, start + raw.case.warmup_s, start + raw.case.duration_s)


def followed(kills: Sequence[Kill], window_s: float) -> list[tuple[int, bool]]:
    """(connections closed, whether another kill not for an accept came within `window_s`) for
    every kill the listener made for a waiting connection."""
    out = []
    for k, kill in enumerate(kills):
        if not kill.for_accept:
            continue
        after = kills[k + 1] if k + 1 < len(kills) else None
        out.append(
            (
                kill.closed,
                after is not None and not after.for_accept and after.at_s - kill.at_s < window_s,
            )
        )
    return out


def race_estimate(observed: Sequence[tuple[int, bool]]) -> tuple[float, float]:
    """(b, p) maximising the likelihood of P(follow | n) = 1 - (1 - b)(1 - p)^(n - 1), on a
    grid of 0.01 (b in [0, 0.5], p in [0, 0.99]); the kills are counted by (n, follow) first."""
    counts = Counter((max(1, n), follow) for n, follow in observed)
    best = (-math.inf, 0.0, 0.0)
    for bi in range(51):
        b = bi / 100.0
        for pi in range(100):
            p = pi / 100.0
            total = 0.0
            for (n, follow), count in counts.items():
                q = 1.0 - (1.0 - b) * (1.0 - p) ** (n - 1)
                q = min(max(q, 1e-12), 1.0 - 1e-12)
                total += count * math.log(q if follow else 1.0 - q)
            if total > best[0]:
                best = (total, b, p)
    return best[1], best[2]


def _case(name: str) -> Case:
    for case in all_cases():
        if case.name == name:
            return case
    raise ValueError(f"unknown case {name!r}")


def _value(estimate: Estimate | None) -> float:
    return estimate.value if estimate is not None else math.nan


def _simulate(
    config: SimConfig, events: int, warmup_s: float, duration_s: float
) -> SimResult | None:
    """The simulator at `config` for about `events` events; where that does not settle (an
    overloaded server's full queue and retried SYNs outrun the event budget), for the httpd
    run's own warm-up and window with up to 20 times the events, or None."""
    try:
        return run_simulator(config, events)
    except ValueError:
        pass
    batches = 20
    try:
        return simulate(
            config,
            seed=1,
            warmup_s=warmup_s,
            batch_s=(duration_s - warmup_s) / batches,
            batches=batches,
            max_events=20 * events,
        )
    except ValueError:
        return None


def _report(raw: RawRun, log: ListenerLog, events: int, count_lag: float = 0.0) -> str:
    measured = measure(raw)
    realized = measured.realized
    server = raw.case.server
    window = _FOLLOW_TIMES * realized.service_time_s / server.threads_per_child
    observed = followed(log.kills, window)
    b, p = race_estimate(observed)
    lines = [
        f"{raw.case.name}: {realized.requests_per_second:.2f} requests/s, "
        f"S = {1000 * realized.service_time_s:.1f} ms, {len(log.kills)} kill'em-alls in "
        f"{log.span_s:.0f} s, {sum(1 for k in log.kills if not k.for_accept)} not for an accept",
        f"listener disabled {log.disables_per_s:.2f} times a second, "
        f"{log.disables_no_worker:.2f} of them for want of a worker",
        "",
        f"P(another kill within {1000 * window:.0f} ms | the listener's kill closed n):",
    ]
    for n in sorted({min(n, 4) for n, _ in observed}):
        group = [f for m, f in observed if min(m, 4) == n]
        label = f"{n}+" if n == 4 else f"{n} "
        lines.append(f"  n = {label}: {sum(group) / len(group):.2f} of {len(group)}")
    lines += [f"race chance per connection p = {p:.2f} (other triggers b = {b:.2f})", ""]
    # (race, count lag) of each simulated column: the rules, the race, and the race with the
    # listener checking its limit before its last connection is counted (F6a).
    columns = [(0.0, 0.0), (p, 0.0)] + ([(p, count_lag)] if count_lag > 0.0 else [])
    titles = ["race 0", f"race {p:.2f}", f"+ lag {count_lag:.2f}"][: len(columns)]
    round_trip = raw.case.traffic.round_trip_s
    rows = [
        "simulated at the run's inputs ('-': no steady state in the event budget)",
    ]
    sims: list[SimResult | None] = []
    configs = [
        sim_config(
            raw.case,
            realized,
            measured.wait_threshold_s,
            race,
            count_lag=lag,
            somaxconn=raw.somaxconn,
        )
        for race, lag in columns
    ]
    if round_trip > 0.0:
        # The rules alone, without every connection's last word a round trip after its close
        # (which `sim_config` gives a case whose clients are a round trip away).
        configs.insert(0, replace(configs[0], answer_delay_s=None))
        titles = ["race 0", f"answers {1000 * round_trip:g} ms"] + [
            f"+ {title.removeprefix('+ ')}" for title in titles[1:]
        ]
    for config in configs:
        sims.append(_simulate(config, events, raw.case.warmup_s, raw.case.duration_s))

    def row(label: str, httpd: float, get: str, scale: float = 1.0) -> str:
        cells = ["-" if sim is None else f"{scale * getattr(sim, get).mean:.3f}" for sim in sims]
        return f"{label:34}{scale * httpd:10.3f}" + "".join(f"{c:>16}" for c in cells)

    rows.append(f"{'':34}{'httpd':>10}" + "".join(f"{t:>16}" for t in titles))
    rows += [
        row("listener disabled, time share", log.disabled_share, "listener_disabled"),
        row("re-enables per second", log.enables_per_s, "listener_enables_per_s"),
        row("re-enables with one idle worker", log.enables_one_idle, "enables_one_idle"),
        row("kill'em-alls per second", len(log.kills) / log.span_s, "kill_episodes_per_s"),
        row("P(wait > threshold), new conn.", _value(measured.get("p_wait")), "p_wait_above"),
        row("mean wait, ms", _value(measured.get("mean_wait_s")), "mean_wait_s", 1000.0),
    ]
    return "\n".join(lines + rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.validate.linger_race",
        description="httpd's deferred-close race, read from a real httpd's log.",
    )
    parser.add_argument("--case", default="event-saturation-rho06", metavar="NAME")
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, metavar="N")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep httpd's files here")
    parser.add_argument(
        "--count-lag",
        type=float,
        default=0.0,
        metavar="P",
        help="add the simulator with the race and this chance that the listener checks its "
        "limit before its last connection is counted (F6a)",
    )
    parser.add_argument(
        "--round-trip",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="clients a network round trip away: the generator answers httpd's closes (and "
        "closes its idle connections) this long after, and the simulator gets the same rule",
    )
    args = parser.parse_args(argv)
    try:
        case = _case(args.case)
    except ValueError as exc:
        print(f"linger_race: error: {exc}", file=sys.stderr)
        return 2
    if case.server.mpm != "event" or case.server.processes != 1:
        print(f"linger_race: error: {case.name} is not a single-child event case", file=sys.stderr)
        return 2
    if not 0.0 <= args.count_lag <= 1.0:
        print("linger_race: error: --count-lag must be in [0, 1]", file=sys.stderr)
        return 2
    if not 0.0 <= args.round_trip <= MAX_ROUND_TRIP_S:
        print(
            f"linger_race: error: --round-trip must be in [0, {MAX_ROUND_TRIP_S:g}] s",
            file=sys.stderr,
        )
        return 2
    case = case.with_round_trip(args.round_trip)
    if args.events < _LEAST_EVENTS:
        print(f"linger_race: error: --events must be at least {_LEAST_EVENTS:,}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="linger-race-") as tmp:
        workdir = args.keep if args.keep is not None else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            raw = run_case(case, workdir)
        except (OSError, RuntimeError) as exc:
            print(f"linger_race: httpd did not run: {exc}", file=sys.stderr)
            return 1
        text = (workdir / "httpd" / "logs" / "error.log").read_text()
    log = measured_window(text, raw)
    if not log.kills or log.span_s <= 0.0:
        print("linger_race: the log has no kill'em-all to read", file=sys.stderr)
        return 1
    print(_report(raw, log, args.events, args.count_lag))
    return 0


if __name__ == "__main__":
    sys.exit(main())
