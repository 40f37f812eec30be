"""How long the models take: all three MPMs for one profile, after import.

Run from the project root: `python -m bench.models_speed [--runs 200]`.

For each shipped profile (profiles/*.yaml) it times, in one process and after a warm-up call:
  1. `evaluate_all(None, profile)`: prefork, worker and event at httpd's defaults, including the
     holding time, Erlang C with Allen-Cunneen waits, M/M/c/K blocking, Poisson quantiles, event's
     kill fixed point and connection limit, and memory (target: under 20 ms);
  2. `evaluate_targets` on those metrics (values and verdicts, without the rate search);
  3. the largest sustainable rate of one target (`target_max_rate_per_s`, a search over the
     rate);
and, side by side, the peer: pyworkforce's ErlangC (the queueing package users reach for), asked
for the same P(wait) of the prefork connection queue at the same c and load. The
peer computes only Erlang C, without the holding time, blocking, event or memory, so the ratio is
the price of the whole model over a bare Erlang C. Medians over --runs calls are printed; event's
kept evaluations and carried rates are cleared before every timed call, so each computes afresh.

Then event alone, the MPM `recommend` evaluates most often: its cost per `evaluate` at
ThreadsPerChild 25, 64 and 128 (seasonal-peak profile, 4096 workers, AsyncRequestWorkerFactor 2),
with the parts of the connection level timed apart: the slot-pool limit P_limit, pooled
(`connection_limit`) and child by child (`children_at_limit`), and the accept-queue wait for a
slot or a worker (`slot_wait`); a single child at ThreadsPerChild 4, 25 and 64 offered 0.6 of its
workers (its kill episodes meet a refilled pool, with its listener's bursts); then the
per-child event chains (`capplan.models.event_chain` and, with the shared accept queue,
`capplan.models.event_backlog`, behind `--event-model chain`) at the same settings.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from capplan.models import MpmMetrics, evaluate, evaluate_all, evaluate_targets, event
from capplan.models.event_backlog import BacklogResult, evaluate_backlog
from capplan.models.event_chain import evaluate_chain
from capplan.models.slot_limit import children_at_limit, connection_limit
from capplan.models.slot_wait import slot_wait
from capplan.models.targets import target_max_rate_per_s
from capplan.mpm_names import Mpm
from capplan.mpm_settings import EventSettings
from capplan.profile import TrafficProfile, load_profile

BUDGET_S = 0.020


def _median_s(call: Callable[[], object], runs: int) -> float:
    call()  # warm-up: lazy imports (scipy.special) and the constants' caches
    times = []
    for _ in range(runs):
        _forget_evaluations()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _forget_evaluations() -> None:
    """event keeps its last evaluations and carried rates: every timed call computes afresh."""
    event._evaluate.cache_clear()
    event.carried_rate_per_s.cache_clear()


def _peer(c: int, load: float, holding_s: float) -> Callable[[], object] | None:
    try:
        # Loaded by name: the peer is optional and untyped, and mypy checks this module with or
        # without it installed.
        queuing = importlib.import_module("pyworkforce.queuing")
    except ImportError:
        return None
    # pyworkforce speaks per interval: `transactions` arrivals of `aht` each in `interval`.
    interval = 3600.0
    erlang = queuing.ErlangC(
        transactions=load / holding_s * interval,
        aht=holding_s,
        asa=holding_s,
        interval=interval,
        shrinkage=0.0,
    )

    def call() -> object:
        # Only P(wait): its service_level() overflows once the load exceeds c.
        return erlang.waiting_probability(c)

    return call


def _all_targets(metrics: tuple[MpmMetrics, ...]) -> object:
    return [evaluate_targets(m) for m in metrics]


def _event_at(threads_per_child: int, workers: int = 4096) -> EventSettings:
    processes = -(-workers // threads_per_child)
    return EventSettings(
        server_limit=processes,
        thread_limit=max(64, threads_per_child),
        threads_per_child=threads_per_child,
        max_request_workers=processes * threads_per_child,
        async_request_worker_factor=2.0,
    )


def event_costs(profile: TrafficProfile, runs: int) -> None:
    """Print event's cost per evaluation at TPC 25, 64, 128 and its connection-level parts."""
    header = (
        f"{'event, TPC':<12} {'processes':>9} {'evaluate':>11} {'P_limit':>11} {'by child':>11}"
        f" {'slot wait':>11}"
    )
    print(f"\n{header}\n{'-' * len(header)}")
    for tpc in (25, 64, 128):
        settings = _event_at(tpc)
        metrics = evaluate(settings, profile)
        assert metrics.event is not None
        e = metrics.event
        a_y = e.idle_connections_mean
        limit = partial(connection_limit, settings.workers, e.worker_factor, e.busy_erlangs, a_y)
        by_child = partial(
            children_at_limit, settings.processes, tpc, e.worker_factor, e.busy_erlangs, a_y
        )
        wait = partial(
            slot_wait,
            settings.processes,
            tpc,
            e.worker_factor,
            busy_erlangs=e.busy_erlangs,
            open_connections_mean=metrics.open_connections_mean,
            holding_s=metrics.holding_time_s,
            worker_s=profile.traffic.worker_time_s,
            accept_queue=metrics.accept_queue,
        )
        evaluate_s = _median_s(partial(evaluate, settings, profile), runs)
        limit_s = _median_s(limit, runs)
        by_child_s = _median_s(by_child, runs)
        wait_s = _median_s(wait, runs)
        print(
            f"{tpc:<12} {settings.processes:>9} {evaluate_s * 1e3:>8.3f} ms "
            f"{limit_s * 1e3:>8.3f} ms {by_child_s * 1e3:>8.3f} ms {wait_s * 1e3:>8.3f} ms"
        )


def one_child_costs(profile: TrafficProfile, runs: int) -> None:
    """Print event's cost per evaluation of a single child (ServerLimit 1) at TPC 4, 25 and 64,
    offered 0.6 of its workers: its episodes meet a refilled pool and its listener's bursts
    are taken from its chain, which several children skip (docs/derivations.md §4.4)."""
    header = f"{'one child, TPC':<16} {'rate':>9} {'evaluate':>11} {'bursts':>7}"
    print(f"\n{header}\n{'-' * len(header)}")
    for tpc in (4, 25, 64):
        settings = _event_at(tpc, workers=tpc)
        rate = 0.6 * tpc / profile.traffic.worker_time_s
        shape = replace(profile, traffic=replace(profile.traffic, requests_per_second=rate))
        evaluate_s = _median_s(partial(evaluate, settings, shape), runs)
        fixed = event.kill_fixed_point(
            shape, settings.common, 1, tpc, factor=settings.worker_factor
        )
        print(f"{tpc:<16} {rate:>7.1f}/s {evaluate_s * 1e3:>8.3f} ms {fixed.burst_share:>7.3f}")


def chain_costs(profile: TrafficProfile, runs: int) -> None:
    """Print the per-child event chains' cost per evaluation at TPC 25, 64, 128.

    Each chain is solved afresh each call (its state structure is cached): states, sparse
    solves used by the fixed point, and the median time; the backlog chain also shows where it
    cut the accept queue. The error's text beyond `MAX_STATES`, or when the search fails.
    """
    header = f"{'chain, TPC':<16} {'states':>9} {'solves':>7} {'evaluate':>11}  queue"
    print(f"\n{header}\n{'-' * len(header)}")
    for tpc in (25, 64, 128):
        settings = _event_at(tpc)
        for name, model in (("chain", evaluate_chain), ("backlog", evaluate_backlog)):
            label = f"{name} {tpc}"
            try:
                result = model(settings, profile)
            except (ValueError, ArithmeticError) as error:
                print(f"{label:<16} {error}")
                continue
            spent_s = _median_s(partial(model, settings, profile), runs)
            if isinstance(result, BacklogResult):
                solves, queue = result.evaluations, f"  {result.queue_places} places"
            else:
                solves, queue = result.steps, ""
            print(f"{label:<16} {result.states:>9} {solves:>7} {spent_s * 1e3:>8.1f} ms{queue}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    header = (
        f"{'profile':<20} {'evaluate_all':>13} {'targets':>9} {'max rate':>9} "
        f"{'peer C(c,a)':>12} {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for path in sorted((root / "profiles").glob("*.yaml")):
        profile = load_profile(path)
        all_s = _median_s(partial(evaluate_all, None, profile), args.runs)
        results = evaluate_all(None, profile)
        metrics = tuple(results.values())
        targets_s = _median_s(partial(_all_targets, metrics), args.runs)
        first = evaluate_targets(results[Mpm.worker])[0]
        rate_s = _median_s(
            partial(target_max_rate_per_s, first, results[Mpm.worker]), max(5, args.runs // 20)
        )
        prefork = results[Mpm.prefork]
        peer = _peer(prefork.workers, prefork.offered_load_erlangs, prefork.holding_time_s)
        worst = max(worst, all_s)
        if peer is None:
            side = f"{'not installed':>12} {'-':>7}"
        else:
            peer_s = _median_s(peer, args.runs)
            side = f"{peer_s * 1e3:>9.3f} ms {all_s / peer_s:>6.1f}x"
        print(
            f"{path.stem:<20} {all_s * 1e3:>10.2f} ms {targets_s * 1e3:>6.3f} ms "
            f"{rate_s * 1e3:>6.1f} ms {side}"
        )
    seasonal = load_profile(root / "profiles" / "seasonal-peak.yaml")
    event_costs(seasonal, args.runs)
    one_child_costs(seasonal, args.runs)
    chain_costs(seasonal, max(3, args.runs // 40))
    verdict = "within" if worst < BUDGET_S else "OVER"
    print(
        f"\nslowest evaluate_all: {worst * 1e3:.2f} ms ({verdict} the {BUDGET_S * 1e3:.0f} ms "
        "budget for three MPMs)"
    )
    return 0 if worst < BUDGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
