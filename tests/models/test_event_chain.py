"""The per-child event chain (`capplan.models.event_chain`) against the event simulator.

The same 36 points and bands as `test_event_sim`, which holds the closed-form model to them; the
chain's misses are pinned the same way, so a change that fixes or breaks a point fails here
until `CHAIN_KNOWN_MISSES` is updated. `python -m tests.models.test_event_chain` prints the
table. Also: the chain's own invariants, and the regions the closed form misses where the chain
agrees.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import pytest

from capplan.models.event import evaluate_by_chain
from capplan.models.event_chain import (
    ChainResult,
    chain_traffic,
    evaluate_chain,
    idle_cap,
    stale_requests_per_s,
)
from capplan.mpm_settings import CommonSettings, EventSettings
from capplan.profile import load_profile
from tests.models.event_sim import Estimate, SimConfig, profile_of, simulate
from tests.models.test_event_sim import (
    GRID,
    HTTPD_BANDS,
    HTTPD_RUNS,
    QUANTITIES,
    Quantity,
    Row,
    assert_misses_pinned,
    known_misses,
    parse_misses,
    point_id,
    rows_of,
    settings_of,
    simulated,
)
from tests.recommend.profiles import PROFILES_DIR


@functools.cache
def chain_of(config: SimConfig) -> ChainResult:
    return evaluate_chain(settings_of(config), profile_of(config))


def chain_value(key: str, result: ChainResult, processes: int) -> float:
    """The chain's figure for a `Quantity.key`, as the simulator measures it."""
    p = processes
    match key:
        case "busy":
            return p * result.busy_mean
        case "wait":
            return 1.0 if result.overloaded else (1.0 - result.ready) ** p
        case "limit":
            return result.closed**p
        case "conn":
            return result.connections_per_s
        case "idle":
            return p * result.idle_mean
        case "Bp":
            return result.saturation
        case "kills":
            return result.kill_episodes_per_s
        case "drops":
            return result.keepalive_drops_per_s
    raise KeyError(key)


# What the chain misses, point by point (keys as in test_event_sim.KNOWN_MISSES).
CHAIN_KNOWN_MISSES = """
P2xT4-F2-rho0.4-ka0.5    wait limit
P3xT4-F2-rho0.4-ka2      wait limit
P1xT4-F2-rho0.7-ka0.5    limit idle
P1xT4-F4-rho0.4-ka2      wait
P2xT4-F4-rho0.7-ka0.5    wait
P3xT4-F4-rho0.7-ka2      wait idle
P3xT8-F2-rho0.4-ka2      wait limit
P2xT8-F4-rho0.7-ka0.5    wait limit
P3xT8-F4-rho0.7-ka2      limit idle
P2xT16-F2-rho0.7-ka2     Bp kills
P2xT16-F4-rho0.7-ka0.5   wait limit
"""


def compare(config: SimConfig) -> list[Row]:
    result = chain_of(config)
    return rows_of(config, lambda q: chain_value(q.key, result, config.processes))


@pytest.fixture(scope="module")
def table() -> list[Row]:
    return [row for config in GRID for row in compare(config)]


def test_chain_against_simulator(table: list[Row]) -> None:
    assert_misses_pinned(table, parse_misses(CHAIN_KNOWN_MISSES))


def test_chain_agrees_where_the_closed_form_misses_most() -> None:
    # Per quantity, the chain misses fewer points than the closed-form model, and in all
    # misses at most half as many. P(wait) is the exception: the closed form's (the pooled
    # slots, with kills that close E[Y | Y <= 1 + F] per episode) misses 2 points, this chain's
    # (a child's readiness taken alone, without the shared accept queue) 8.
    chain = parse_misses(CHAIN_KNOWN_MISSES)
    closed = known_misses()
    for q in QUANTITIES:
        in_chain = sum(q.key in keys for keys in chain.values())
        in_closed = sum(q.key in keys for keys in closed.values())
        if q.key == "wait":
            assert in_closed < in_chain <= 8, (in_chain, in_closed)
        else:
            assert in_chain <= in_closed, (q.key, in_chain, in_closed)
    assert sum(map(len, chain.values())) * 2 <= sum(map(len, closed.values()))


@pytest.mark.parametrize("config", GRID, ids=point_id)
def test_chain_invariants(config: SimConfig) -> None:
    result = chain_of(config)
    p = config.processes
    offered = config.requests_per_s * config.service_s
    traffic = chain_traffic(profile_of(config), settings_of(config).common)
    assert 0.0 <= result.saturation <= 1.0
    assert 0.0 <= result.ready <= 1.0
    assert 0.0 <= result.keepalive_drops_per_s <= result.kill_episodes_per_s
    if result.overloaded:
        # The accept queue never empties: the workers carry less than is offered.
        assert p * result.busy_mean < offered
        return
    # Little's law on the workers: every offered request is served.
    assert math.isclose(p * result.busy_mean, offered, rel_tol=1e-6)
    # New connections: the visits plus the reconnections of killed, dropped and timed-out ones.
    assert result.connections_per_s >= traffic.visits_per_s * (1 - 1e-9)
    assert result.killed_per_s >= 0.0


def test_without_keepalive_the_chain_is_the_workers_alone() -> None:
    # One request per connection: no idle connection to kill or drop, so no kill episode
    # either (a full child's listener still calls process_keepalive_queue(0), which closes
    # nothing and logs nothing); the busy workers carry λ S.
    config = SimConfig(2, 8, 2, 80.0, 0.1, 1.0, 1.0, 0.0, 0.0, 0.0)
    result = chain_of(config)
    assert result.saturation > 0.01
    assert result.idle_mean == 0.0
    assert result.killed_per_s == 0.0
    assert result.keepalive_drops_per_s == 0.0
    assert result.kill_episodes_per_s == 0.0
    assert math.isclose(2 * result.busy_mean, 8.0, rel_tol=1e-6)
    assert math.isclose(result.connections_per_s, 80.0, rel_tol=1e-6)


def test_the_idle_cut_off_bounds_the_tail() -> None:
    # The slot limit when it is the tighter; else far out in the no-limit Poisson tail.
    assert idle_cap(8, 2, 1000.0) == 24
    assert idle_cap(64, 4, 10.0) == math.ceil(10.0 + 9.0 * math.sqrt(10.0) + 40.0)
    # Far from the limit the cut-off changes nothing: the chain with twice the room agrees.
    config = GRID[-4]  # P3xT16-F4-rho0.4-ka0.5: no child near its limit
    traffic = chain_traffic(profile_of(config), settings_of(config).common)
    from capplan.models.event_chain import solve_chain

    narrow = solve_chain(3, 16, 4, traffic, idle_cap(16, 4, 4.0))
    wide = solve_chain(3, 16, 4, traffic, 80)
    assert math.isclose(narrow.idle_mean, wide.idle_mean, rel_tol=1e-9)


def test_the_fixed_point_settles_in_few_solves(monkeypatch: pytest.MonkeyPatch) -> None:
    # The secant on the log accept rate settles the grid in tens of solves, about 120 at the
    # point nearest overload (the plain
    # substitution it replaced took up to 950); a search that cannot settle raises.
    assert max(chain_of(config).steps for config in GRID) <= 150
    from capplan.models import event_chain

    config = GRID[0]
    traffic = chain_traffic(profile_of(config), settings_of(config).common)
    cap = idle_cap(config.threads_per_child, config.factor, 50.0)
    monkeypatch.setattr(event_chain, "_MAX_STEPS", 2)
    with pytest.raises(ArithmeticError, match="did not settle"):
        event_chain.solve_chain(
            config.processes, config.threads_per_child, config.factor, traffic, cap
        )


def test_a_search_that_hovers_just_short_of_the_tolerance_settles() -> None:
    # Five children of 10 threads (F = 2) near their connection limit, at 37.5 requests/s and one
    # ulp below: the secants on the accept rate and on P(wait) hovered a little above 1e-8, and
    # the search took 99 solves at one rate and failed after 203 at the other (the residuals
    # at 4e-8 and 1.4e-7). Below 1e-6 and no longer halving, the point is taken.
    base = SimConfig(5, 10, 2, 37.5, 0.12, 2.0, 12.0, 6.0, 5.0, 1.0)
    results = [
        chain_of(replace(base, requests_per_s=rate)) for rate in (37.5, math.nextafter(37.5, 0.0))
    ]
    for result in results:
        assert not result.overloaded
        assert result.steps <= 60
        # The point found carries the demand, and the two rates give the same point.
        assert math.isclose(
            result.connections_per_s, result.offered_connections_per_s, rel_tol=1e-6
        )
        assert math.isclose(result.ready, results[0].ready, rel_tol=1e-5)


def test_an_overload_the_first_test_missed_is_found_by_the_search() -> None:
    # Five children of 4 threads (F = 2), 2.8 busy workers each, visits of 12 requests with 1 s
    # of thinking: some 165 connections would be open for 32 places. The overload test (every
    # accept checked) found the instant accept rate just able to carry the demand (h = +7e-4);
    # with the waiting share the search then found, it could not (h = -0.01), the search sat at
    # the top of its bracket for 200 solves and failed. It is now reported as an overload.
    config = SimConfig(5, 4, 2, 5 * 0.7 * 4 / 0.12, 0.12, 2.0, 12.0, 1.0, 5.0, 1.0)
    result = chain_of(config)
    assert result.overloaded
    assert result.steps <= 30
    assert result.connections_per_s < result.offered_connections_per_s
    # The simulated server is far beyond its slots too: nearly every new connection waits.
    sim = simulate(config, seed=1, warmup_s=30.0, batch_s=30.0, max_events=400_000)
    assert sim.p_wait.mean > 0.95


# The bands of `HTTPD_BANDS` the chain misses: P(wait) everywhere (a child's readiness is not
# independent of the others', and within a child the backlog is drained at once, not at the
# mean accept rate), and the idle connections of two children of 8 at utilisation 0.5.
CHAIN_HTTPD_MISSES = {
    ("event-connection-limit", "p_wait"),
    ("event-ka-rho05", "idle_keepalive"),
    ("event-ka-rho05", "open_connections"),
    ("event-ka-rho05", "p_wait"),
    ("event-debian-2x25-ka5", "p_wait"),
}


def _chain_field(field: str, result: ChainResult, processes: int) -> float:
    """The chain's figure for a `SimResult` field of `HTTPD_BANDS`."""
    p = processes
    figures = {
        "process_saturation": result.saturation,
        "kill_episodes_per_s": result.kill_episodes_per_s,
        "connections_per_s": result.connections_per_s,
        "idle_keepalive": p * result.idle_mean,
        "open_connections": p * (result.busy_mean + result.idle_mean),
        "p_wait": 1.0 if result.overloaded else (1.0 - result.ready) ** p,
    }
    return figures[field]


@pytest.mark.parametrize("case", list(HTTPD_RUNS))
def test_chain_against_the_httpd_runs(case: str) -> None:
    # The real httpd's bands (3 standard errors) at the runs' realized inputs; the misses are
    # pinned, so a change that moves one fails until `CHAIN_HTTPD_MISSES` is updated.
    config = HTTPD_RUNS[case]
    result = chain_of(config)
    checked = 0
    for name, field, mean, se in (line.split() for line in HTTPD_BANDS.strip().splitlines()):
        if name != case:
            continue
        got = _chain_field(field, result, config.processes)
        inside = abs(got - float(mean)) <= 3.0 * float(se)
        assert inside != ((case, field) in CHAIN_HTTPD_MISSES), (field, got, mean, se)
        checked += 1
    assert checked >= 3


# Requests clients see dropped: refused for want of a worker, or sent on a killed connection
# before the child's next free worker closed it (httpd defers the close, defer_linger_chain).
CLIENT_DROPS = Quantity(
    "client-visible drops",
    "client_drops",
    "keepalive_drops_per_s",
    "client_drops_per_s",
    2.0,
    0.05,
    factor=True,
    detail=True,
)


def _client_drops(config: SimConfig, *, stale: bool) -> float:
    result = chain_of(config)
    traffic = chain_traffic(profile_of(config), settings_of(config).common)
    extra = stale_requests_per_s(result.killed_per_s, traffic, config.threads_per_child)
    return result.keepalive_drops_per_s + (extra if stale else 0.0)


def _client_drop_misses(*, stale: bool) -> list[str]:
    return [
        point_id(config)
        for config in GRID
        if not CLIENT_DROPS.agrees(
            _client_drops(config, stale=stale), CLIENT_DROPS.sim_value(simulated(config))
        )
    ]


def test_client_visible_drops_against_simulator() -> None:
    # With the requests lost to deferred closes, one point misses: the one where the chain has
    # kill episodes the simulator never sees (pinned in CHAIN_KNOWN_MISSES as Bp and kills).
    assert _client_drop_misses(stale=True) == ["P2xT16-F2-rho0.7-ka2"]
    # Without them, the points with the most kills fall short by more than a factor of 2.
    assert len(_client_drop_misses(stale=False)) >= 4


def test_stale_requests_follow_the_first_free_worker() -> None:
    # A killed connection sends at rate θ; the child's first worker frees at T/S_w.
    config = GRID[5]
    traffic = chain_traffic(profile_of(config), settings_of(config).common)
    tpc = config.threads_per_child
    theta, release = traffic.idle_request_rate, tpc / traffic.worker_s
    assert stale_requests_per_s(10.0, traffic, tpc) == pytest.approx(
        10.0 * theta / (theta + release)
    )
    assert stale_requests_per_s(10.0, traffic, 4 * tpc) < stale_requests_per_s(10.0, traffic, tpc)
    assert stale_requests_per_s(0.0, traffic, tpc) == 0.0


def test_the_wait_at_the_limit_does_not_hang_on_the_hold_law() -> None:
    # One child of 8 with F = 1 held at its limit by idle connections (docs/validation.md's
    # event-connection-limit): the simulator's mean wait is the same whether held sockets close
    # exactly KeepAliveTimeout after going idle, as httpd does, or after an exponential time of
    # that mean, as the chain has it; and the chain's lies inside both bands (the interval
    # widened by 15 %, the grid's band for P(wait)).
    config = SimConfig(1, 8, 1, 55.0, 0.05, 1.0, 4.0, 0.1, 0.5, 0.5)
    chain = evaluate_by_chain(settings_of(config), profile_of(config))
    waits = [
        simulate(
            replace(config, exponential_hold=hold),
            seed=11,
            warmup_s=20.0,
            batch_s=400.0,
            batches=20,
            max_events=20_000_000,
        ).mean_wait_s
        for hold in (False, True)
    ]
    exact, exponential = waits
    assert abs(exact.mean - exponential.mean) <= exact.half_width + exponential.half_width
    for wait in waits:
        assert wait.holds(chain.mean_wait_s, 0.15 * wait.mean), (chain.mean_wait_s, wait)


# event-connection-limit alone for 900 s on httpd (docs/validation-event-chains.md, run 4), at the
# inputs it realized: P(wait) and the mean wait with their standard errors.
LONG_RUN = SimConfig(1, 8, 1, 54.96, 0.05186, 0.93, 4.0, 0.1, 0.5, 0.5)
LONG_RUN_P_WAIT = (0.398, 0.0211)
LONG_RUN_MEAN_WAIT_S = (0.0698, 0.00706)


def _near(estimate: float, half_width: float, measured: tuple[float, float]) -> bool:
    return abs(estimate - measured[0]) <= 3.0 * measured[1] + half_width


def test_a_lagging_connection_count_drains_the_queue_as_httpd_does() -> None:
    # Under the listener rules as modelled, httpd's queue at the limit drains faster than
    # simulated; the chain follows the rules (docs/models.md). Counting a connection only when
    # its worker starts on it, half the time after the listener's next check, matches httpd's
    # mean wait and P(wait); counting it at once does not.
    def run(config: SimConfig) -> tuple[Estimate, Estimate]:
        r = simulate(
            config, seed=123, warmup_s=60.0, batch_s=400.0, batches=20, max_events=50_000_000
        )
        return r.p_wait, r.mean_wait_s

    _, counted = run(LONG_RUN)
    p_wait, lagged = run(replace(LONG_RUN, count_lag=0.5))
    assert counted.mean - lagged.mean > counted.half_width + lagged.half_width, (counted, lagged)
    assert _near(lagged.mean, lagged.half_width, LONG_RUN_MEAN_WAIT_S), lagged
    assert _near(p_wait.mean, p_wait.half_width, LONG_RUN_P_WAIT), p_wait


def test_think_time_zero_is_refused() -> None:
    config = SimConfig(1, 4, 2, 10.0, 0.1, 1.0, 3.0, 0.0, 5.0, 0.3)
    with pytest.raises(ValueError, match="think time"):
        chain_traffic(profile_of(config), CommonSettings(keep_alive_timeout_s=5.0))


def test_many_children_under_a_heavy_profile_solve() -> None:
    # 164 children of 25 threads under seasonal-peak: the overload test's chain (an instant
    # accept rate of 1.9e6 a second beside think times) defeats the plain balance equations at
    # every pin, and the embedded jump chain's system solves it (derivations §4.6). Little's law
    # holds for the result, and the children are far from every limit.
    profile = load_profile(PROFILES_DIR / "seasonal-peak.yaml")
    settings = EventSettings(
        server_limit=164,
        thread_limit=64,
        threads_per_child=25,
        max_request_workers=4100,
        async_request_worker_factor=2.0,
    )
    result = evaluate_chain(settings, profile)
    assert not result.overloaded
    carried = profile.traffic.requests_per_second * profile.traffic.worker_time_s
    assert 164 * result.busy_mean == pytest.approx(carried, rel=1e-6)
    assert result.ready > 0.999


if __name__ == "__main__":
    rows = [row for config in GRID for row in compare(config)]
    for row in rows:
        print(row.describe())
    counts = {q.name: sum(1 for r in rows if r.quantity == q.name and r.agrees) for q in QUANTITIES}
    print({name: f"{count}/{len(GRID)}" for name, count in counts.items()})
