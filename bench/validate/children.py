"""Several event children's wait for a worker: the test simulator against the closed form.

Run from the project root: `python -m bench.validate.children [--events 1000000] [--large]
[--factor F]`.

The children do not pool their workers: keep-alive requests stay with their child, a full
child's listener kills its idle connections (whose clients come back later as new connections)
and, enabled again with one worker idle, keeps it back while it holds an idle connection. With
two children or more the closed form takes a new connection's wait for a worker as Erlang C over
the workers the held-back children leave, C(P·(TPC − x), a_b) (docs/derivations.md §4.9, §4.12).
This prints, for two to four children of 4, 8 and 16 threads at worker utilisation 0.5, 0.7 and
0.85 (the grid's traffic of `tests.models.test_event_sim`: visits of 3 requests, 100 ms
requests, 200 ms think time, KeepAliveTimeout 0.5 s, AsyncRequestWorkerFactor 100 so that the
connection limit never binds), the simulator's P(wait) of a new connection with its 95 %
half-width, the same without the listener's hysteresis, the closed form's P(wait), the pooled
Erlang C, each child's own Erlang C, C(TPC, a_b/P), and (simulated) the time share every
listener is disabled, how many workers are idle then, held back by the hysteresis, and Erlang C
over the workers left when those are taken away. `--large`
prints the same for children of 25 threads (Debian's ThreadsPerChild) and of 64, at the higher
utilisation where their wait becomes likely. `--factor` sets AsyncRequestWorkerFactor (100 by
default, so that only workers are waited for): with 4 the slot rule's hysteresis holds back
children with more than one idle worker too. docs/models.md quotes the tables.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace

from capplan.queueing import erlang_c, erlang_c_real
from tests.models.event_sim import simulate_events
from tests.models.test_event_sim import grid_traffic, model_of

FACTOR = 100  # far above any connection limit the grid's traffic reaches
TIMEOUT_S = 0.5
# (children, threads, utilisation): the small children's grid and the large children's points.
SMALL = tuple(itertools.product((2, 3, 4), (4, 8, 16), (0.5, 0.7, 0.85)))
LARGE = (
    (2, 25, 0.8),
    (2, 25, 0.9),
    (4, 25, 0.85),
    (4, 25, 0.92),
    (8, 25, 0.9),
    (8, 25, 0.95),
    (2, 64, 0.95),
    (3, 64, 0.93),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events a point")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--large", action="store_true", help="children of 25 and 64 threads instead of 4 to 16"
    )
    parser.add_argument("--factor", type=int, default=FACTOR, help="AsyncRequestWorkerFactor")
    args = parser.parse_args(argv)
    print(
        "| children × threads | utilisation | simulator | without hysteresis | model "
        "| pooled C(P·TPC, a) | one child's C(TPC, a/P) | every listener disabled "
        "| idle workers then | C(P·TPC − those, a) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for processes, tpc, rho in LARGE if args.large else SMALL:
        config = grid_traffic(processes, tpc, args.factor, rho, TIMEOUT_S)
        sim = simulate_events(config, args.events, seed=args.seed)
        flat = simulate_events(replace(config, hysteresis=False), args.events, seed=args.seed)
        a_b = rho * processes * tpc
        print(
            f"| {processes} × {tpc} | {rho:g} "
            f"| {sim.p_wait.mean:.3g} ± {sim.p_wait.half_width:.2g} "
            f"| {flat.p_wait.mean:.3g} ± {flat.p_wait.half_width:.2g} "
            f"| {model_of(config).p_wait:.3g} | {erlang_c(processes * tpc, a_b):.3g} "
            f"| {erlang_c(tpc, a_b / processes):.3g} "
            f"| {sim.all_disabled.mean:.3g} | {sim.held_idle_workers.mean:.3g} "
            f"| {erlang_c_real(processes * tpc - sim.held_idle_workers.mean, a_b):.3g} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
