"""httpd, the simulator and the closed form side by side: the simulated inputs, the three
judgements of a band, and the tool's input checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bench.validate.casefile import Case, all_cases
from bench.validate.compare import compare
from bench.validate.measure import Estimate, Measured, Realized, Validity
from bench.validate.predict import predict
from bench.validate.simulated import (
    main,
    markdown,
    run_simulator,
    sim_config,
    simulated_values,
    tally,
    three_way,
)

SOMAXCONN = 4096
# event-connection-limit at the inputs one of its runs realized (tests/models/test_event_sim.py).
REALIZED = Realized(55.77, 0.05236, 0.92, 100.0, 5577, 4.0, 0.1, 0.5)


def _case(name: str) -> Case:
    return next(c for c in all_cases() if c.name == name)


def test_the_simulator_runs_at_the_realized_inputs_and_threshold() -> None:
    config = sim_config(_case("event-limit-f05-2x10-ka5"), REALIZED, 0.0042)
    assert (config.processes, config.threads_per_child) == (2, 10)
    assert config.factor == 1  # AsyncRequestWorkerFactor 0.5 acts as 1
    assert config.keepalive_timeout_s == 5.0
    assert config.requests_per_s == 55.77
    assert (config.service_s, config.service_scv) == (0.05236, 0.92)
    assert (config.requests_per_visit, config.think_s, config.idle_hold_probability) == (
        4.0,
        0.1,
        0.5,
    )
    assert config.wait_threshold_s == 0.0042
    # Without the realized visit shape the case's nominal one stands.
    realized = Realized(55.77, 0.05, 1.0, 100.0, 1)
    nominal = sim_config(_case("event-limit-f05-2x10-ka5"), realized, 0.005)
    case = _case("event-limit-f05-2x10-ka5")
    assert nominal.think_s == case.traffic.think_time_s
    assert nominal.requests_per_visit == case.traffic.requests_per_visit


def _measured(quantities: tuple[tuple[str, Estimate], ...]) -> Measured:
    validity = Validity(0.001, 0.002, 0.0, 0.0, 0.0, 0.0, ())
    return Measured(REALIZED, validity, 5.0, 0.005, quantities, 0)


def test_each_band_is_judged_three_ways() -> None:
    case = _case("event-connection-limit")
    # The idle connections httpd showed in that run; a P(wait) far below what the rules give.
    measured = _measured(
        (
            ("idle_keepalive_mean", Estimate(7.72, 0.238, 20)),
            ("p_wait", Estimate(0.05, 0.005, 20)),
        )
    )
    closed = compare(case, measured, predict(case, REALIZED, SOMAXCONN))
    config = sim_config(case, REALIZED, measured.wait_threshold_s)
    sim = run_simulator(config, 100_000)
    result = three_way(closed, sim)
    rows = {row.check.quantity: row for row in result.rows}
    assert set(rows) == {"idle_keepalive_mean", "p_wait"}
    values = simulated_values(sim, REALIZED.requests_per_second)
    assert rows["p_wait"].simulated == sim.p_wait_above.mean == values["p_wait"][0]
    # httpd's idle count is the kernel's open count less the busy workers: the killed
    # connections no worker has closed yet are in it, and so in the simulator's figure.
    idle = sim.idle_keepalive.mean + sim.deferred_closes.mean
    assert rows["idle_keepalive_mean"].simulated == idle
    assert sim.deferred_closes.mean > 0.0
    # The rules hold httpd's idle connections, and so does the closed form; httpd's P(wait) is
    # off the rules, and so is the closed form's, 1.2 times the simulator's there.
    assert rows["idle_keepalive_mean"].sim_status == "pass"
    assert rows["idle_keepalive_mean"].closed_vs_sim == "pass"
    assert rows["p_wait"].sim_status == "FAIL"
    assert rows["p_wait"].check.status == "FAIL"
    assert rows["p_wait"].check.predicted > 1.15 * rows["p_wait"].simulated
    assert rows["p_wait"].closed_vs_sim == "FAIL"
    assert tally([result]) == (1, 1, 1, 2)
    page = markdown([("a test run", [result])], 100_000)
    assert "| a test run | 2 | 1 | 1 | 1 |" in page
    assert "### event-connection-limit (run 1)" in page
    assert f"Simulator: {sim.events:,} events" in page
    assert "linger" not in page
    raced = markdown([("a test run", [result])], 100_000, 0.35)
    assert "--linger-race 0.35 --write FILE" in raced
    assert "with a chance of 0.35 per connection" in raced


def test_ratios_of_the_simulators_means() -> None:
    # event-ka-rho05 at the inputs one of its runs realized: kill episodes and drops happen.
    rate = 166.21
    realized = Realized(rate, 0.05775, 0.89, 100.0, 16621, 4.0, 0.1, 0.5)
    sim = run_simulator(sim_config(_case("event-ka-rho05"), realized, 0.005), 100_000)
    assert sim.kill_episodes_per_s.mean > 0.0
    values = simulated_values(sim, rate)
    conn = sim.connections_per_s.mean
    assert values["requests_per_connection"][0] == pytest.approx(rate / conn)
    per_episode = sim.killed_per_s.mean / sim.kill_episodes_per_s.mean
    assert values["ka_killed_per_episode"][0] == pytest.approx(per_episode)
    waited = conn * sim.p_wait_above.mean + sim.client_drops_per_s.mean
    assert values["p_wait_request"][0] == pytest.approx(waited / rate)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cases", "event-ka-low"], "event-ka-low"),
        (["--label", "one", "two"], "one --label per --load"),
        (["--events", "1000"], "--events must be at least 50,000"),
    ],
)
def test_bad_input_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    out = tmp_path / "page.md"
    assert main(["--load", str(tmp_path), "--write", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("simulated: error: ")
    assert message in err
    assert "\n" not in err
    assert not out.exists()


def test_the_deferred_close_race_is_passed_on() -> None:
    case = _case("event-saturation-rho06")
    assert sim_config(case, REALIZED, 0.005).linger_race == 0.0
    assert sim_config(case, REALIZED, 0.005, 0.35).linger_race == 0.35


def test_clients_a_round_trip_away_answer_that_late_in_the_simulator() -> None:
    case = _case("event-saturation-rho06")
    assert sim_config(case, REALIZED, 0.005).answer_delay_s is None
    remote = replace(case, traffic=replace(case.traffic, round_trip_s=0.03))
    assert sim_config(remote, REALIZED, 0.005).answer_delay_s == 0.03


@pytest.mark.parametrize("race", ["-0.1", "1.5"])
def test_a_race_chance_outside_0_to_1_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], race: str
) -> None:
    out = tmp_path / "page.md"
    assert main(["--load", str(tmp_path), "--write", str(out), "--linger-race", race]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "simulated: error: --linger-race must be between 0 and 1"
    assert not out.exists()


def test_the_cases_accept_queue_and_the_count_lag_are_passed_on() -> None:
    # The kernel holds min(ListenBacklog, somaxconn) + 1 connections (F11); the simulator's
    # queue holds accept_queue + 1.
    base = _case("event-ka-rho05")
    overload = replace(base, server=replace(base.server, listen_backlog=15))
    assert sim_config(overload, REALIZED, 0.005).accept_queue == 15
    assert sim_config(overload, REALIZED, 0.005, somaxconn=8).accept_queue == 8
    assert sim_config(_case("event-ka-rho05"), REALIZED, 0.005).accept_queue == 511
    assert sim_config(overload, REALIZED, 0.005).count_lag == 0.0
    assert sim_config(overload, REALIZED, 0.005, count_lag=0.6).count_lag == 0.6
