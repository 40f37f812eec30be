"""The validation suite's parts that need no load run: case files, configs, estimators, bands."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bench.validate.casefile import CaseError, all_cases, parse_case
from bench.validate.compare import (
    BLOCK,
    FACTOR2_P,
    MIN_EVENTS,
    REL5,
    REL15_P,
    REL15_WAIT,
    Band,
    compare,
    event_count,
    judge,
)
from bench.validate.harness import (
    LogEntry,
    RawRun,
    httpd_config,
    parse_access_log,
    parse_kill_episodes,
)
from bench.validate.loadgen import Record, Summary, _Response
from bench.validate.measure import (
    Estimate,
    Measured,
    Realized,
    Validity,
    batch_estimate,
    clustered_fraction,
    occupancy,
    percentile,
    realized_visits,
)
from bench.validate.predict import connect_attempts, predict, profile_for
from bench.validate.report import _round_trip_words
from tests.httpd import configtest, prepare_root

GOOD = """\
description: a case
duration_s: 30
server:
  mpm: worker
  processes: 2
  threads_per_child: 4
traffic:
  requests_per_second: 50
  service_time_s: 0.05
  requests_per_visit: 2
  think_time_s: 0.1
  idle_hold_probability: 0.5
"""


def test_a_good_case_parses_with_defaults() -> None:
    case = parse_case(GOOD, Path("cases/good.yaml"))
    assert case.name == "good"
    assert case.server.workers == 8
    assert case.server.listen_backlog == 511
    assert case.server.keep_alive is True
    assert case.warmup_s == 5.0
    assert not case.quick
    assert case.traffic.round_trip_s == 0.0
    remote = parse_case(GOOD + "  round_trip_s: 0.03\n", Path("cases/good.yaml"))
    assert remote.traffic.round_trip_s == 0.03


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(GOOD.replace("mpm: worker", "mpm: winnt"), "c.yaml:4: unknown mpm", id="mpm"),
        pytest.param(GOOD + "colour: red\n", "c.yaml:13: unknown key 'colour' in case", id="key"),
        pytest.param(
            GOOD.replace("processes: 2", "processes: two"),
            "c.yaml:5: server.processes must be int",
            id="type",
        ),
        pytest.param(
            GOOD.replace("idle_hold_probability: 0.5", "idle_hold_probability: 2"),
            "c.yaml:8: idle_hold_probability must be in [0, 1]",
            id="range",
        ),
        pytest.param(
            GOOD + "  round_trip_s: 2\n",
            "c.yaml:8: round_trip_s must be 0..1 s",
            id="round-trip",
        ),
        pytest.param(GOOD.replace("traffic:", "traffic: [\n"), "c.yaml:", id="yaml"),
        pytest.param("", "c.yaml:1: empty case file", id="empty"),
        pytest.param(
            GOOD.replace("duration_s: 30", "duration_s: 3"),
            "c.yaml:1: duration_s must be 10..600",
            id="duration",
        ),
    ],
)
def test_bad_cases_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(CaseError) as info:
        parse_case(text, Path("c.yaml"))
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_shipped_cases_cover_every_mpm_and_a_quick_subset() -> None:
    cases = all_cases()
    assert len(cases) >= 10
    assert {c.server.mpm for c in cases} == {"prefork", "worker", "event"}
    assert {c.server.mpm for c in cases if c.quick} == {"prefork", "worker", "event"}
    assert any(c.measure_block for c in cases)
    assert any(not c.server.keep_alive for c in cases)
    assert sum(c.duration_s + 8 for c in cases if c.quick) < 240


@pytest.mark.apache
@pytest.mark.parametrize("case", all_cases(), ids=[c.name for c in all_cases()])
def test_generated_config_passes_apache2_configtest(
    apache2: str, tmp_path: Path, case: object
) -> None:
    from bench.validate.casefile import Case

    assert isinstance(case, Case)
    prepare_root(tmp_path)
    (tmp_path / "conf" / "mime.types").write_text("")
    conf = tmp_path / "conf" / "httpd.conf"
    conf.write_text(httpd_config(case, tmp_path, 18080, 18081))
    code, output = configtest(conf)
    assert code == 0, output
    assert "AH0" not in output, output  # no adjustment warnings: the config means what it says


@pytest.mark.parametrize(
    ("predicted", "measured", "band", "want"),
    [
        pytest.param(10.0, Estimate(10.4, 0.01, 20), REL5, "pass", id="rel-within-5pct"),
        pytest.param(10.0, Estimate(10.6, 0.01, 20), REL5, "FAIL", id="rel-outside"),
        pytest.param(10.0, Estimate(10.6, 0.3, 20), REL5, "pass", id="rel-within-3se"),
        pytest.param(0.001, Estimate(0.002, 0.001, 20), REL15_P, "n/m", id="both-rare"),
        pytest.param(0.001, Estimate(0.2, 0.01, 20), REL15_P, "FAIL", id="rare-vs-measured"),
        pytest.param(0.0005, Estimate(0.001, 0.0, 20), REL15_WAIT, "pass", id="tiny-waits"),
        pytest.param(math.inf, Estimate(0.1, 0.01, 20), REL15_WAIT, "FAIL", id="infinite"),
        pytest.param(0.1, Estimate(0.125, 0.001, 20), BLOCK, "pass", id="factor-1.3"),
        pytest.param(0.1, Estimate(0.14, 0.001, 20), BLOCK, "FAIL", id="factor-beyond"),
        pytest.param(0.1, Estimate(0.19, 0.01, 20), FACTOR2_P, "pass", id="factor-2"),
        pytest.param(1.0, Estimate(math.nan, math.nan, 0), REL5, "n/m", id="no-data"),
        pytest.param(1.0, Estimate(3.0, 0.0, 20), Band("none", 0.0), "info", id="info"),
    ],
)
def test_judge_applies_the_bands(
    predicted: float, measured: Estimate, band: Band, want: str
) -> None:
    assert judge(predicted, measured, band) == want


def test_batch_estimate_is_mean_and_standard_error_of_batches() -> None:
    est = batch_estimate([1.0, 2.0, 3.0, math.nan])
    assert est.value == 2.0
    assert est.se == pytest.approx(1.0 / math.sqrt(3))
    assert est.batches == 3
    assert math.isnan(batch_estimate([]).value)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0
    assert math.isnan(percentile([], 0.5))


def test_occupancy_rebuilds_busy_workers_and_saturation_per_child() -> None:
    # Child 1 has two requests overlapping on [1, 2); child 2 one request on [0, 4).
    entries = [
        LogEntry(t_s=0.0, keepalives=0, duration_s=2.0, pid=1, attempt=1),
        LogEntry(t_s=1.0, keepalives=1, duration_s=2.0, pid=1, attempt=2),
        LogEntry(t_s=0.0, keepalives=0, duration_s=4.0, pid=2, attempt=3),
    ]
    busy, saturated = occupancy(entries, [0.0, 2.0, 4.0], full=2)
    assert busy == pytest.approx([(2 + 1) / 2 + 1, 0.5 + 1])
    # Child 1 is full on [1, 2) only; averaged over the two children.
    assert saturated == pytest.approx([0.5 / 2, 0.0])


def test_access_and_error_log_lines_are_parsed() -> None:
    log = (
        "1795671379139956 0 51234 4242 200 /sleep?ms=12.5&id=17\n"
        "1795671379239956 3 812 4242 200 /server-status?auto\n"
        "garbage line\n"
    )
    entries = parse_access_log(log, 1795671379.0)
    assert [e.attempt for e in entries] == [17, -1]
    assert entries[0].t_s == pytest.approx(0.139956)
    assert entries[0].duration_s == pytest.approx(0.051234)
    assert entries[1].keepalives == 3
    assert entries[0].pid == 4242
    errors = (
        "[2026-11-26 05:33:46.500000] [mpm_event:trace1] All workers are busy or dying, "
        "will shutdown 3 keep-alive connections\n"
        "[2026-11-26 05:33:47.000000] [mpm_event:debug] AH00457: Accepting new connections\n"
    )
    import time

    wall = time.mktime(time.strptime("2026-11-26 05:33:46", "%Y-%m-%d %H:%M:%S"))
    ((t_s, killed),) = parse_kill_episodes(errors, wall)
    assert t_s == pytest.approx(0.5)
    assert killed == 3


def test_kill_episodes_in_bursts_are_counted_per_window() -> None:
    episodes = [(0.0, 3), (0.01, 1), (0.5, 2), (0.53, 1), (2.0, 4)]
    # In [0, 1): 0.01 follows 0.0 closely, 0.5 does not, 0.53 follows 0.5 closely.
    assert clustered_fraction(episodes, (0.0, 1.0)) == pytest.approx(2 / 3)
    assert clustered_fraction(episodes, (1.0, 3.0)) == 0.0
    assert math.isnan(clustered_fraction(episodes, (3.0, 4.0)))


@pytest.mark.parametrize(
    ("timeout_s", "syn_retries", "linear", "attempts"),
    [
        (30.0, 6, 0, 5),
        (130.0, 6, 0, 7),
        (0.5, 6, 0, 1),
        (30.0, 2, 0, 3),
        (3.5, 6, 0, 3),
        (30.0, 6, 4, 9),
        (130.0, 6, 4, 11),
        (3.5, 6, 4, 4),
        (30.0, 2, 4, 7),
    ],
)
def test_connect_attempts_follow_the_kernel_backoff(
    timeout_s: float, syn_retries: int, linear: int, attempts: int
) -> None:
    # SYNs leave at 0, 1, 3, 7, 15, 31, 63 s, or with Linux 6.5's four linear timeouts at 0, 1,
    # 2, 3, 4, 5, 7, 11, 19, 35, 67 s: those before the timeout, at most 1 + retries + linear.
    assert connect_attempts(timeout_s, syn_retries, linear) == attempts


def _measured_kills(per_s: float, window_s: float) -> Measured:
    realized = Realized(50.0, 0.05, 1.0, window_s, 2500)
    validity = Validity(0.001, 0.002, 0.0, 0.0, 0.0, 0.0, ())
    kills = (("kill_episodes_per_s", Estimate(per_s, 0.01, 20)),)
    return Measured(realized, validity, window_s / 20, 0.005, kills, 0)


def test_a_handful_of_kill_episodes_is_not_judged() -> None:
    # Two episodes in a 50 s window, two predicted: no error bar to judge by.
    few = _measured_kills(0.04, 50.0)
    assert event_count("ka_killed_per_s", {"kill_episodes_per_s": 0.04}, few, 50.0) == 2.0
    # 65 predicted against 7 seen is a miss, and is judged.
    seen = _measured_kills(0.05, 140.0)
    many = event_count("kill_episodes_per_s", {"kill_episodes_per_s": 0.466}, seen, 140.0)
    assert many is not None
    assert many > MIN_EVENTS
    assert event_count("busy_workers_mean", {}, seen, 140.0) is None


def _visit(visit: int, start_s: float, length: int, *, last_error: str = "") -> list[Record]:
    """`length` requests of one visit, each answered in 50 ms and followed by a 250 ms think."""
    records = []
    t = start_s
    for index in range(length):
        error = last_error if index == length - 1 else ""
        done = t + 0.05
        records.append(
            Record(
                visit * 100 + index,
                visit,
                visit,
                index,
                t,
                t,
                -1.0,
                done,
                done,
                0.05,
                index > 0,
                0 if error else 200,
                error,
            )
        )
        t = done + 0.25
    return records


def test_the_visits_realized_are_the_ones_drawn_in_the_window() -> None:
    case = next(c for c in all_cases() if c.name == "event-limit-f2-2x8-ka5")
    assert (case.warmup_s, case.duration_s) == (20.0, 300.0)
    records: list[Record] = []
    for v in range(1, 201):  # 200 visits in the window of 1, 2, 3 and 6 requests: mean 3
        records += _visit(v, 20.0 + v, (1, 2, 3, 6)[v % 4])
    # A stale write is sent again on a new connection: one request, not two.
    stale = records[3]
    assert (stale.visit, stale.index_on_conn) == (2, 1)
    records.insert(
        3,
        Record(
            -5,
            2,
            2,
            1,
            stale.t_sched_s,
            stale.t_send_s,
            -1.0,
            -1.0,
            stale.t_send_s,
            0.05,
            True,
            0,
            "stale",
        ),
    )
    # A visit whose third request failed drew "one more" twice and never "stop".
    records += _visit(201, 230.0, 3, last_error="TimeoutError")
    records += _visit(202, 10.0, 50)  # started in the warm-up
    records += _visit(203, 280.0, 1)  # within the margin before the generator stopped
    held = (*range(1, 151), 202)
    released = (*range(151, 201), 203)
    summary = Summary(
        0.0, 0.0, 300.0, len(records), 203, 0.0, 0.0, 0.0, 0, 0.0, 0.0, "duration", held, released
    )
    raw = RawRun(case, 4096, summary, tuple(records), (), (), (), (), 0.0, "Apache/2.4")
    per_visit, think_s, share = realized_visits(raw)
    # 602 requests, 402 of them after another; 200 visits drew "stop".
    assert per_visit == pytest.approx(602 / 200)
    assert think_s == pytest.approx(0.25)
    assert share == pytest.approx(0.75)
    # A run that recorded no holds keeps the case's q; the rest is realized.
    bare = RawRun(
        case,
        4096,
        replace(summary, held_visits=(), released_visits=()),
        tuple(records),
        (),
        (),
        (),
        (),
        0.0,
        "Apache/2.4",
    )
    assert realized_visits(bare) == (per_visit, think_s, None)
    realized = Realized(18.0, 0.05, 1.0, 280.0, 5000, per_visit, think_s, None)
    visits = profile_for(case, realized).visits
    assert visits.requests_per_visit == pytest.approx(3.01)
    assert visits.think_time_s == pytest.approx(0.25)
    assert visits.idle_hold_probability == case.traffic.idle_hold_probability
    assert visits.linger_s == 0.0
    # Clients a round trip away hold a prefork/worker child that long in lingering close.
    remote = replace(case, traffic=replace(case.traffic, round_trip_s=0.03))
    assert profile_for(remote, realized).visits.linger_s == pytest.approx(0.03)
    # Fewer than 100 visits tell nothing: the case's own shape.
    few = RawRun(case, 4096, summary, tuple(_visit(1, 30.0, 4)), (), (), (), (), 0.0, "x")
    assert realized_visits(few) == (None, None, None)


def test_event_open_and_idle_counts_include_the_closes_a_worker_has_not_made() -> None:
    # One child of 4 at utilisation 0.82 (event-saturation-rho08's realized inputs): it kills
    # dozens of connections a second, each left open until one of its workers finishes.
    case = next(c for c in all_cases() if c.name == "event-saturation-rho08")
    realized = Realized(64.79, 0.05089, 0.95, 100.0, 6479, 3.072, 0.1028, 0.307)
    validity = Validity(0.001, 0.002, 0.0, 0.0, 0.0, 0.0, ())
    quantities = (
        ("idle_keepalive_mean", Estimate(1.56, 0.125, 20)),
        ("open_connections_mean", Estimate(4.86, 0.0775, 20)),
    )
    measured = Measured(realized, validity, 5.0, 0.005, quantities, 0)
    metrics = predict(case, realized, 4096)
    detail = metrics.event
    assert detail is not None
    killed = detail.kill_hazard_per_s * metrics.idle_keepalive_mean
    assert detail.deferred_closes_mean == pytest.approx(killed * 0.05089 / 4)
    assert detail.deferred_closes_mean > 0.3
    checks = {c.quantity: c for c in compare(case, measured, metrics).checks}
    deferred = detail.deferred_closes_mean
    assert checks["idle_keepalive_mean"].predicted == metrics.idle_keepalive_mean + deferred
    assert checks["open_connections_mean"].predicted == metrics.open_connections_mean + deferred


def test_a_saved_run_is_re_evaluated_for_the_cases_it_holds(tmp_path: Path) -> None:
    from bench.validate.run import saved_cases

    cases = all_cases()
    (tmp_path / f"{cases[0].name}.pickle").write_bytes(b"")
    (tmp_path / f"{cases[2].name}.pickle").write_bytes(b"")
    held, left = saved_cases(cases, tmp_path)
    assert held == (cases[0], cases[2])
    assert left == [c.name for c in cases if c not in held]
    assert len(left) == len(cases) - 2


@pytest.mark.parametrize("round_trip_s", [0.0, 0.08])
def test_the_generator_answers_a_close_a_round_trip_later(round_trip_s: float) -> None:
    # A server that shuts its side of a connection down waits for the client's FIN, as httpd's
    # lingering close does: over loopback it comes at once, from a remote client a round trip
    # later, which is what the generator's round trip emulates.
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    waited: list[float] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(5.0)
            time.sleep(0.05)
            start = time.perf_counter()
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(64):
                pass
            waited.append(time.perf_counter() - start)

    thread = threading.Thread(target=serve)
    thread.start()

    async def client() -> None:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(lambda: _Response(round_trip_s), "127.0.0.1", port)
        await asyncio.sleep(0.5)
        assert proto.closed

    try:
        asyncio.run(client())
        thread.join(5.0)
    finally:
        server.close()
    assert len(waited) == 1
    if round_trip_s > 0.0:
        assert round_trip_s <= waited[0] < round_trip_s + 0.3
    else:
        assert waited[0] < 0.04


def test_the_report_says_how_far_away_the_clients_were() -> None:
    assert _round_trip_words(0.0) == ""
    assert _round_trip_words(0.03).startswith("; clients 30 ms away")
