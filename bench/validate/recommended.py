"""Does event's advice hold up? The shipped profiles' event sizes under the test simulator.

Run from the project root: `python -m bench.validate.recommended [--events 20000000]
[--profiles NAME ...]`.

For each shipped profile, `capplan recommend --mpm event --format json` sizes event for the
bundled Debian config (examples/debian/apache2/apache2.conf) at the profile's rate plus the
recommendation's headroom. The test simulator (`tests.models.event_sim`, event.c's listener
rules, not the model's equations) then runs that size and the same with one child fewer at the
same rate, and the closed form evaluates the simulated traffic. The table gives, for each, the
three probabilities the targets bound and the sizing turns on: P(a new connection waits),
P(it waits longer than the profile's max_wait time) and P_limit (the time share no child can
accept), with the simulator's 95 % half-width; "meets" says whether the simulator's mean is
within every one of those targets, which is what the recommendation claims for its size and
(being the smallest that does) denies for one child fewer.

What the simulated traffic leaves out (so the comparison is the model against httpd's rules,
not against the profile itself): a worker holds a request for the profile's worker time
(service time × worker_share) and the connection slot frees with it (the model also holds the
slot through the asynchronous write completion, λ·(S − S_w) more connections); service times
are gamma with the profile's mean and SCV; MaxKeepAliveRequests does not cap visits (100 against
visits of 6 to 15 requests on average); the accept queue is 512 places. Profiles whose visits
are not geometric are skipped. The simulator's visits start empty, so 20,000,000 events (one to
five simulated hours here, a tenth of it warm-up) are needed for visits of a minute to settle;
each run takes about a minute. A size whose simulated connections pile up in the accept queue
(a twentieth of the events runs out of its budget first) is reported as overloaded.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from capplan.profile import TrafficProfile, load_profile
from tests.models.event_sim import SimConfig, SimResult, simulate_events
from tests.models.test_event_sim import model_of

CONFIG = Path("examples/debian/apache2/apache2.conf")
PROFILES = Path("profiles")


@dataclass(frozen=True, slots=True)
class Sized:
    """The event settings `capplan recommend --mpm event` proposes, and the rate it sized for."""

    processes: int
    threads_per_child: int
    factor: int
    keepalive_timeout_s: float
    rate_per_s: float


def recommended(profile: str) -> Sized:
    command = [sys.executable, "-c", "from capplan.cli import run; run()", "recommend"]
    out = subprocess.run(
        [*command, str(CONFIG), "-p", profile, "--mpm", "event", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    doc = json.loads(out)
    directives = doc["recommendation"]["directives"]
    tpc = int(directives["ThreadsPerChild"])
    return Sized(
        processes=int(directives["MaxRequestWorkers"]) // tpc,
        threads_per_child=tpc,
        factor=max(1, math.floor(float(directives["AsyncRequestWorkerFactor"]))),
        keepalive_timeout_s=float(directives["KeepAliveTimeout"]),
        rate_per_s=float(doc["headroom"]["rate_per_s"]),
    )


def sim_config(profile: TrafficProfile, sized: Sized, processes: int) -> SimConfig:
    traffic, visits = profile.traffic, profile.visits
    targets = profile.targets
    threshold = targets.max_wait.time_s if targets.max_wait is not None else 0.005
    return SimConfig(
        processes=processes,
        threads_per_child=sized.threads_per_child,
        factor=sized.factor,
        requests_per_s=sized.rate_per_s,
        service_s=traffic.worker_time_s,
        service_scv=traffic.service_time_scv,
        requests_per_visit=visits.requests_per_visit,
        think_s=visits.think_time_s,
        keepalive_timeout_s=sized.keepalive_timeout_s,
        idle_hold_probability=visits.idle_hold_probability,
        wait_threshold_s=threshold,
    )


def _cell(sim: float, half: float) -> str:
    return f"{sim:.2g} ± {half:.1g}"


def _meets(profile: TrafficProfile, sim: SimResult) -> bool:
    t = profile.targets
    checks = [
        (t.max_wait_probability, sim.p_wait.mean),
        (t.max_wait.probability if t.max_wait is not None else None, sim.p_wait_above.mean),
        (t.max_connection_limit_probability, sim.p_limit.mean),
    ]
    return all(limit is None or value <= limit for limit, value in checks)


def row(name: str, profile: TrafficProfile, config: SimConfig, events: int) -> str:
    model = model_of(config)
    wait_t = config.wait_threshold_s  # the profile's max_wait time (`sim_config`)
    assert model.event is not None
    size = f"| {name} | {config.processes} × {config.threads_per_child}, F = {config.factor} "
    size += f"| {model.utilization:.2g} "
    try:
        simulate_events(config, max(events // 20, 100_000), seed=3)
        sim = simulate_events(config, events, seed=3)
    except ValueError:
        # The event budget ran out before ten batches: connections pile up in the queue.
        return (
            size + f"| overloaded | {model.p_wait:.2g} | overloaded "
            f"| {model.p_wait_exceeds(wait_t):.2g} | overloaded "
            f"| {model.event.p_connection_limit:.2g} | - | {model.open_connections_mean:.0f} | no |"
        )
    return (
        size + f"| {_cell(sim.p_wait.mean, sim.p_wait.half_width)} | {model.p_wait:.2g} "
        f"| {_cell(sim.p_wait_above.mean, sim.p_wait_above.half_width)} "
        f"| {model.p_wait_exceeds(wait_t):.2g} "
        f"| {_cell(sim.p_limit.mean, sim.p_limit.half_width)} "
        f"| {model.event.p_connection_limit:.2g} "
        f"| {sim.open_connections.mean:.0f} | {model.open_connections_mean:.0f} "
        f"| {'yes' if _meets(profile, sim) else 'no'} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000_000, help="events a run")
    parser.add_argument("--profiles", nargs="*", help="shipped profile names (default: all)")
    args = parser.parse_args(argv)
    names = args.profiles or sorted(p.stem for p in PROFILES.glob("*.yaml"))
    print(
        "| profile | size | utilisation | P(wait) simulated | model "
        "| P(wait > max_wait time) simulated | model | P_limit simulated | model "
        "| open connections simulated | model | simulator meets the targets |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        profile = load_profile(PROFILES / f"{name}.yaml")
        if profile.visits.distribution != "geometric":
            continue
        sized = recommended(name)
        for processes in (sized.processes, sized.processes - 1):
            if processes < 1:
                continue
            label = name if processes == sized.processes else "… one child fewer"
            config = sim_config(profile, sized, processes)
            print(row(label, profile, config, args.events), flush=True)


if __name__ == "__main__":
    main()
