"""The idle pool a full event child holds, and what the keep-alive drops band counts.

Run from the project root: `python -m bench.validate.pool [--events 400000] [--linger-race P]
[--one-idle-class] [--sweep]`.

Two things the closed form gets wrong for event children under kill churn (docs/derivations.md
§4.13), shown with the test simulator (with the bench's deferred-close race, p = 0.35) at the
case files' inputs of event-saturation-rho06, event-saturation-rho08 and
event-children-3x4-rho07:

1. A child's idle keep-alive connections by its busy workers: the closed form takes the pool as
   independent of them, while the child's own connections are what keep its workers busy and a
   full child has just killed its pool. The first table gives the share of a child's time at
   each count of busy workers and its mean idle connections then, the mean pool, and what a kill
   episode closes: regular ones (a connection meets the enabled, full child) and bursts (§4.10),
   against the closed form's mean pool and what its episodes close (E[Y | Y <= 1 + F] of the
   mean pool for several children; for one, of the pool refilled since its last episode, mixed
   with its bursts' 1 + g, derivations §4.4).
2. The validation's "keep-alive requests dropped" counts what clients see: requests refused for
   want of a worker, and requests sent on a connection a kill closed before the child's next
   free worker shut it (derivations F7a). The second table splits the simulator's count and
   sets the closed form's refused requests and an estimate of the late ones beside them: each
   killed connection that goes on with its visit sends its next request (rate 1/Z) before the
   first of TPC workers frees (rate TPC/S_w) with probability (1/Z) / (1/Z + TPC/S_w).
3. Where the pool goes missing: the third table splits the idle connections into held sockets
   (idle after the visit's last request, open until the KeepAliveTimeout T unless killed) and
   the rest, and gives a held socket's life, the held sockets killed a second, and the gaps
   between one child's episodes (mean and squared coefficient of variation, SCV); a connection
   that goes idle at a random time waits (1 + SCV)/2 mean gaps for its child's next episode.
   The closed form kills every idle connection at one hazard h, so its held socket lives
   (1 - e^(-h T))/h. The last two columns are the per-child chain's (derivations §4.6, no
   race): its held socket's life from the joint law of a child's busy workers and idle
   connections (`held_socket_life`), and what it would be at the chain's own mean hazard.
   The two grid points of docs/models.md with three children of 4 and 8 threads, F = 4,
   utilisation 0.7 and T = 2 s are added, simulated as the grid simulates them (no race).

With `--sweep`, one child of event-saturation-rho06's server and traffic at worker utilisations
0.5 to 0.85 instead (derivations §4.10): the simulator's kill episodes, regular and in bursts,
the idle connections they close, B_p, the mean pool, and the queue behind the full child (the
share of its full time with a connection waiting, and with two given one), against the closed
form's episodes, closes, B_p and pool.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

from bench.validate.casefile import Case, load_case
from capplan.models import MpmMetrics
from capplan.models.event_chain import held_socket_life
from capplan.models.event_listener import idle_after_request, idle_spell_shares
from tests.models.event_sim import SimConfig, SimResult, profile_of, simulate_events
from tests.models.test_event_sim import GRID, model_of, point_id, settings_of

CASES = ("event-saturation-rho06", "event-saturation-rho08", "event-children-3x4-rho07")
CASE_DIR = Path(__file__).parent / "cases"
HELD_GRID_POINTS = ("P3xT4-F4-rho0.7-ka2", "P3xT8-F4-rho0.7-ka2")


def config_of(case: Case, *, linger_race: float = 0.35, one_idle_class: bool = False) -> SimConfig:
    """The simulator at the case file's inputs, with the bench's deferred-close race unless told
    otherwise, and the chains' one exponential class of idle connections if asked."""
    server, traffic = case.server, case.traffic
    return SimConfig(
        processes=server.processes,
        threads_per_child=server.threads_per_child,
        factor=max(1, int(server.async_request_worker_factor)),
        requests_per_s=traffic.requests_per_second,
        service_s=traffic.service_time_s,
        service_scv=1.0,
        requests_per_visit=traffic.requests_per_visit,
        think_s=traffic.think_time_s,
        keepalive_timeout_s=server.keep_alive_timeout_s,
        idle_hold_probability=traffic.idle_hold_probability,
        linger_race=linger_race,
        one_idle_class=one_idle_class,
        track_pool=True,
    )


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole > 0.0 else 0.0


def _regular_episodes(sim: SimResult) -> float:
    """The simulator's kill episodes per second that are not bursts (§4.10)."""
    return sim.kill_episodes_per_s.mean - sim.kill_bursts_per_s.mean


def _model_killed(model: MpmMetrics) -> float:
    """The closed form's idle connections killed per second: h times the idle connections."""
    assert model.event is not None
    return model.event.kill_hazard_per_s * model.idle_keepalive_mean


def pool_row(name: str, sim: SimResult, config: SimConfig, model: MpmMetrics) -> str:
    assert model.event is not None
    by_busy = ", ".join(
        f"{n}: {share.mean:.2f} / {idle.mean:.2f}"
        for n, (share, idle) in enumerate(zip(sim.busy_share, sim.idle_by_busy, strict=True))
    )
    regular = _ratio(
        sim.killed_per_s.mean - sim.killed_in_bursts_per_s.mean, _regular_episodes(sim)
    )
    bursts = _ratio(sim.killed_in_bursts_per_s.mean, sim.kill_bursts_per_s.mean)
    every = _ratio(sim.killed_per_s.mean, sim.kill_episodes_per_s.mean)
    sim_pool = sim.idle_keepalive.mean / config.processes
    model_pool = model.idle_keepalive_mean / config.processes
    closed_per_episode = _ratio(_model_killed(model), model.event.kill_episodes_per_s)
    return (
        f"| {name} | {by_busy} | {sim_pool:.2f} | {regular:.2f} | {bursts:.2f} "
        f"| {every:.2f} ({_share(every, sim_pool)}) | {model_pool:.2f} "
        f"| {closed_per_episode:.2f} ({_share(closed_per_episode, model_pool)}) |"
    )


def _share(closed: float, pool: float) -> str:
    return f"{closed / pool:.2f}" if pool > 0.0 else "-"


def drops_row(name: str, sim: SimResult, config: SimConfig, model: MpmMetrics) -> str:
    assert model.event is not None
    killed = _model_killed(model)
    # The idle spells a request ends: 1 - 1/m of the requests leave a visit going on, out of
    # the g that leave the connection idle.
    go_idle = idle_after_request(profile_of(config), settings_of(config).common)
    going_on = (1.0 - 1.0 / config.requests_per_visit) / go_idle
    request, free = 1.0 / config.think_s, config.threads_per_child / config.service_s
    late = killed * going_on * request / (request + free)
    refused = sim.keepalive_drops_per_s.mean
    # The model's drops are what clients see (derivations §4.5): the refused ones are those
    # less the requests sent on killed connections.
    model_refused = model.event.keepalive_drops_per_s - model.event.stale_requests_per_s
    return (
        f"| {name} | {refused:.2f} | {sim.client_drops_per_s.mean - refused:.2f} "
        f"| {sim.killed_per_s.mean:.1f} | {model_refused:.2f} "
        f"| {late:.2f} | {killed:.1f} |"
    )


def held_row(name: str, sim: SimResult, config: SimConfig, model: MpmMetrics) -> str:
    assert model.event is not None
    h, timeout = model.event.kill_hazard_per_s, config.keepalive_timeout_s
    life = -math.expm1(-h * timeout) / h if h > 0.0 else timeout
    settings, profile = settings_of(config), profile_of(config)
    _, held_share = idle_spell_shares(profile, settings.common)
    model_held = config.requests_per_s * held_share * life
    mean_kill = f"{1e3 / h:.0f} ms" if h > 0.0 else "-"
    chain = held_socket_life(settings, profile)
    gap, scv = sim.episode_gap_s.mean, sim.episode_gap_scv.mean
    return (
        f"| {name} | {sim.idle_held.mean:.2f} / {sim.idle_keepalive.mean - sim.idle_held.mean:.2f} "
        f"| {1e3 * sim.held_life_s.mean:.0f} ± {1e3 * sim.held_life_s.half_width:.0f} ms "
        f"| {sim.killed_held_per_s.mean:.1f} "
        f"| {1e3 * gap:.0f} ms, {scv:.1f} ± {sim.episode_gap_scv.half_width:.1f} "
        f"| {1e3 * gap * (1.0 + scv) / 2.0:.0f} ms "
        f"| {model_held:.2f} / {model.idle_keepalive_mean - model_held:.2f} "
        f"| {1e3 * life:.0f} ms | {mean_kill} "
        f"| {1e3 * chain.life_s:.0f} ms | {1e3 * chain.one_hazard_s:.0f} ms |"
    )


SWEEP_CASE = "event-saturation-rho06"
SWEEP_UTILISATIONS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85)


def sweep_row(utilisation: float, sim: SimResult, model: MpmMetrics) -> str:
    assert model.event is not None
    full = [q.mean for q in sim.full_queue_at_least]
    waiting, more = _ratio(full[1], full[0]), _ratio(full[2], full[1])
    stable = "" if model.stable else " (overloaded: the carried state)"
    return (
        f"| {utilisation:g} | {sim.kill_episodes_per_s.mean:.2f} ({_regular_episodes(sim):.2f} / "
        f"{sim.kill_bursts_per_s.mean:.2f}) | {sim.killed_per_s.mean:.2f} "
        f"| {sim.process_saturation.mean:.3f} | {sim.idle_keepalive.mean:.2f} "
        f"| {waiting:.2f} / {more:.2f} | {model.event.kill_episodes_per_s:.2f} "
        f"| {_model_killed(model):.2f} "
        f"| {model.event.process_saturation:.3f} | {model.idle_keepalive_mean:.2f}{stable} |"
    )


def sweep(events: int, linger_race: float) -> None:
    """The table of `--sweep` (module docstring)."""
    base = config_of(load_case(CASE_DIR / f"{SWEEP_CASE}.yaml"), linger_race=linger_race)
    print(
        "| utilisation | simulated: episodes/s (regular / bursts) | killed/s | B_p | mean pool "
        "| full: a connection waits / two, given one | closed form: episodes/s | killed/s "
        "| B_p | mean pool |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    per_worker = base.processes * base.threads_per_child / base.service_s
    for utilisation in SWEEP_UTILISATIONS:
        config = replace(base, requests_per_s=utilisation * per_worker)
        sim = simulate_events(config, events, seed=3)
        print(sweep_row(utilisation, sim, model_of(config)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400_000, help="events a case")
    parser.add_argument(
        "--linger-race",
        type=float,
        default=0.35,
        help="the deferred-close race's chance (docs/derivations.md §4.11; 0 leaves it out)",
    )
    parser.add_argument(
        "--one-idle-class",
        action="store_true",
        help="idle connections in one exponential class, as the chains have them",
    )
    parser.add_argument(
        "--sweep", action="store_true", help="one child across utilisations (module docstring)"
    )
    args = parser.parse_args(argv)
    if args.sweep:
        sweep(args.events, args.linger_race)
        return
    runs = []
    for name in CASES:
        config = config_of(
            load_case(CASE_DIR / f"{name}.yaml"),
            linger_race=args.linger_race,
            one_idle_class=args.one_idle_class,
        )
        runs.append((name, simulate_events(config, args.events, seed=1), config, model_of(config)))
    _table(
        "| case | busy workers n: time share / idle connections of a child | mean pool "
        "| a regular episode closes | a burst closes | every episode (share of the pool) "
        "| closed form: mean pool | closes per episode (share) |",
        [pool_row(*run) for run in runs],
    )
    _table(
        "| case | simulated: refused for want of a worker | sent on a killed connection "
        "| killed | closed form: refused | late, estimated | killed |",
        [drops_row(*run) for run in runs],
    )
    for point in HELD_GRID_POINTS:
        config = replace(next(c for c in GRID if point_id(c) == point), track_pool=True)
        runs.append((point, simulate_events(config, args.events, seed=1), config, model_of(config)))
    _table(
        "| case | simulated: idle held / other | a held socket's life | held killed/s "
        "| gaps between a child's episodes: mean, SCV | wait for the next, (1 + SCV)/2 gaps "
        "| closed form: idle held / other | a held socket's life | 1/h "
        "| chain: a held socket's life | at its mean hazard |",
        [held_row(*run) for run in runs],
    )


def _table(header: str, rows: list[str]) -> None:
    """A markdown table with a blank line after it."""
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for row in rows:
        print(row)
    print()


if __name__ == "__main__":
    main()
