"""event's figures from the chain (`--event-model chain`): the library call, its fallback, and
what `check` and `compare` print and write with it."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.models import evaluate
from capplan.models.event import dropped_attempt_share, evaluate_by_chain
from capplan.models.event_backlog import BacklogResult, evaluate_backlog
from capplan.mpm_names import EventModel, Mpm
from capplan.pipeline import load_config
from capplan.queueing import erlang_c
from capplan.render.words import event_model_note
from tests.httpd import base_config
from tests.models.event_sim import SimConfig, profile_of
from tests.models.test_event_sim import HTTPD_RUNS, settings_of

# One child of 8 threads at its connection limit, as httpd's run event-connection-limit.
LIMIT = HTTPD_RUNS["event-connection-limit"]
CONFIG = (
    "ServerLimit 1\nThreadLimit 8\nThreadsPerChild 8\nMaxRequestWorkers 8\nStartServers 1\n"
    "MinSpareThreads 8\nMaxSpareThreads 17\nAsyncRequestWorkerFactor 1\n"
    "KeepAliveTimeout 500ms\n"
)
PROFILE = (
    "version: 1\nname: at-the-limit\n"
    "traffic: {requests_per_second: 55.77, service_time: 52.36ms, service_time_scv: 0.92}\n"
    "visits: {requests_per_visit: 4, think_time: 100ms, idle_hold_probability: 0.5, linger: 0s}\n"
)


@functools.cache
def backlog_at_the_limit() -> BacklogResult:
    return evaluate_backlog(settings_of(LIMIT), profile_of(LIMIT))


def test_the_chain_gives_the_connection_level() -> None:
    settings, profile = settings_of(LIMIT), profile_of(LIMIT)
    chain = backlog_at_the_limit()
    metrics = evaluate(settings, profile, event_model=EventModel.chain)
    closed = evaluate(settings, profile)
    assert metrics.event is not None
    assert closed.event is not None
    assert metrics.event.model == "chain"
    assert closed.event.model == "closed form"
    assert metrics.p_wait == pytest.approx(chain.p_wait)
    assert metrics.mean_wait_s == pytest.approx(chain.mean_wait_s)
    assert metrics.wait_p99_s == pytest.approx(chain.wait_p99_s)
    assert metrics.event.p_connection_limit == pytest.approx(chain.p_wait)
    assert metrics.event.wait_for_worker_probability == pytest.approx(chain.p_wait_worker)
    split = metrics.event.wait_for_worker_probability + metrics.event.wait_for_slot_probability
    assert split == pytest.approx(metrics.p_wait)
    assert metrics.busy_workers_mean == pytest.approx(chain.busy_mean)
    assert metrics.idle_keepalive_mean == pytest.approx(chain.idle_mean)
    assert metrics.requests_per_connection == pytest.approx(55.77 / chain.connections_per_s)
    assert metrics.event.kill_episodes_per_s == pytest.approx(chain.kill_episodes_per_s)
    # At the limit the child seldom saturates (httpd: 0.07 +- 0.04 kill episodes/s): the chain
    # says 0.03/s, the closed form with its admission law (§4.2) 0.10/s, where Erlang C
    # said 0.43/s.
    kills = metrics.event.kill_episodes_per_s
    assert kills < closed.event.kill_episodes_per_s < 4.0 * kills
    assert closed.event.process_saturation < 0.25 * erlang_c(8, closed.offered_load_erlangs)
    # Waits are for a slot: the child is full (no idle worker) in few of them.
    detail = metrics.event
    assert detail.wait_for_slot_probability > 10.0 * detail.wait_for_worker_probability
    # The queue is cut short of httpd's 512 places: P(block) stays the closed form's.
    assert metrics.p_block == closed.p_block
    assert evaluate_by_chain(settings, profile) == metrics


def test_where_the_chain_cannot_be_built_the_closed_form_stands() -> None:
    settings, profile = settings_of(LIMIT), profile_of(LIMIT)
    no_think = replace(profile, visits=replace(profile.visits, think_time_s=0.0))
    metrics = evaluate(settings, no_think, event_model=EventModel.chain)
    closed = evaluate(settings, no_think)
    assert metrics.event is not None
    assert metrics.event.model == "closed form"
    assert "think time above 0" in metrics.event.model_note
    assert replace(metrics, event=closed.event) == closed


def test_a_chain_figure_known_to_be_low_is_noted_in_the_report() -> None:
    # check and compare print the chain's own note (many children near their limits, whose
    # P(wait) the chain puts too low) after the line that says the chain gave the figures.
    metrics = evaluate_by_chain(settings_of(LIMIT), profile_of(LIMIT))
    assert metrics.event is not None
    assert metrics.event.model_note == ""  # one child: nothing to say
    assert len(event_model_note(metrics)) == 1
    flagged = replace(metrics, event=replace(metrics.event, model_note="its P(wait) is too low"))
    notes = event_model_note(flagged)
    assert notes[0].startswith("event's figures come from the per-child chain")
    assert notes[1] == "event's chain: its P(wait) is too low."


def _files(tmp_path: Path) -> tuple[Path, Path]:
    conf = tmp_path / "httpd.conf"
    conf.write_text(base_config(tmp_path, "event", 8080) + CONFIG)
    profile = tmp_path / "limit.yaml"
    profile.write_text(PROFILE)
    return conf, profile


def test_check_with_the_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf, profile = _files(tmp_path)
    common = ["check", str(conf), "-p", str(profile), "--somaxconn", "4096"]
    closed_code = main([*common, "--format", "json"])
    closed = json.loads(capsys.readouterr().out)
    chain_code = main([*common, "--format", "json", "--event-model", "chain"])
    chain = json.loads(capsys.readouterr().out)
    assert closed_code == chain_code == 1  # targets missed either way
    assert closed["mpms"]["event"]["event"]["model"] == "closed form"
    assert closed["verdict"]["fix_check"] is None
    # The fixes are sized with the closed form at 25 % headroom; the chain checks where they
    # lead, at that rate.
    fix_check = chain["verdict"]["fix_check"]
    assert fix_check["model"] == "chain"
    assert fix_check["rate_per_s"] == pytest.approx(55.77 * 1.25)
    queueing = [t for t in fix_check["targets"] if t["target"] != "max_memory_fraction"]
    assert queueing
    assert fix_check["ok"] == all(t["met"] for t in queueing)
    assert chain["verdict"]["fixes"] == closed["verdict"]["fixes"]
    event = chain["mpms"]["event"]
    assert event["event"]["model"] == "chain"
    assert event["event"]["model_note"] is None
    want = backlog_at_the_limit()
    assert event["p_wait"] == pytest.approx(want.p_wait, rel=0.02)
    assert event["mean_wait_s"] == pytest.approx(want.mean_wait_s, rel=0.02)
    assert main([*common, "--event-model", "chain"]) == 1
    text = capsys.readouterr().out
    assert "event's figures come from the per-child chain" in text
    assert "the sustainable rate and any change proposed come from the closed form" in text
    assert "With the changes above" in text


def test_compare_with_the_chain_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf, profile = _files(tmp_path)
    common = ["compare", str(profile), "-c", str(conf), "--somaxconn", "4096"]
    main([*common, "--event-model", "chain"])
    out = capsys.readouterr().out
    assert "event's figures come from the per-child chain" in out
    main(common)
    assert "per-child chain" not in capsys.readouterr().out


# Six times the traffic of the case at its limit, with a tight wait target: the closed form's
# one process waits 9e-7 of the time, the chain's 4e-5.
BUSIER = (
    "version: 1\nname: busier\n"
    "traffic: {requests_per_second: 700, service_time: 52.36ms, service_time_scv: 0.92}\n"
    "visits: {requests_per_visit: 4, think_time: 100ms, idle_hold_probability: 0.5, linger: 0s}\n"
    "targets: {max_wait_probability: 1.0e-5}\n"
)


def test_recommend_sizes_event_processes_with_the_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from capplan.advice import at_headroom
    from capplan.profile import load_profile
    from capplan.recommend import assess, coherent_common, coherent_settings

    conf, _ = _files(tmp_path)
    profile = tmp_path / "busier.yaml"
    profile.write_text(BUSIER)
    common = ["recommend", str(conf), "-p", str(profile), "--mpm", "event", "--format", "json"]
    assert main([*common, "--somaxconn", "4096"]) == 0
    closed = json.loads(capsys.readouterr().out)
    assert main([*common, "--somaxconn", "4096", "--event-model", "chain"]) == 0
    chain = json.loads(capsys.readouterr().out)
    closed_option = closed["recommendation"]["options"]["event"]
    chain_option = chain["recommendation"]["options"]["event"]
    assert closed_option["feasible"]
    assert chain_option["feasible"]
    # The shape is the closed form's; the chain sizes the process count of it, here as many as
    # the closed form (their P(wait) differ: the targets bind on the wait for a worker).
    for name in ("ThreadsPerChild", "AsyncRequestWorkerFactor", "KeepAliveTimeout"):
        assert chain_option["directives"][name] == closed_option["directives"][name]
    fewer, more = closed_option["metrics"]["processes"], chain_option["metrics"]["processes"]
    assert more >= fewer
    assert chain_option["metrics"]["p_wait"] != closed_option["metrics"]["p_wait"]
    assert chain_option["metrics"]["p_wait"] <= 1e-5
    assert chain["mpms"]["event"]["event"]["model"] == "chain"
    # The smallest count that meets the targets under the chain: one process less misses.
    sizing = at_headroom(load_profile(profile), 0.25)
    chosen = chain["recommendation"]["directives"]
    assert int(chosen["ServerLimit"]) >= more
    config = load_config(str(conf), somaxconn=4096)
    one_less = coherent_settings(
        Mpm.event,
        processes=more - 1,
        threads_per_child=int(chain_option["directives"]["ThreadsPerChild"]),
        busy_workers_mean=0.0,
        common=coherent_common(config.settings.common),
        async_request_worker_factor=int(chain_option["directives"]["AsyncRequestWorkerFactor"]),
    )
    below = assess(one_less, sizing, event_model=EventModel.chain)
    assert below.metrics.event is not None
    assert below.metrics.event.model == "chain"
    assert not below.queue_ok
    assert main([*common[:-2], "--somaxconn", "4096", "--event-model", "chain"]) == 0
    text = capsys.readouterr().out
    assert "the process count of its sized settings, come from the per-child chain" in text


def test_an_unknown_event_model_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf, profile = _files(tmp_path)
    assert main(["check", str(conf), "-p", str(profile), "--event-model", "exact"]) == 2
    assert "--event-model" in capsys.readouterr().err


def test_an_overloaded_chain_drops_the_attempts_it_does_not_carry() -> None:
    # One child of 4 threads with F = 1 beyond its connection slots (the validation case
    # event-slot-overload-1x4-defer): the chain does not settle, carries its busy workers' requests,
    # and its P(block) is the retried SYNs' balance for what it does not carry (§4.14).
    config = SimConfig(1, 4, 1, 28.0, 0.1, 1.0, 3.0, 0.2, 2.0, 0.3, accept_queue=16)
    settings, profile = settings_of(config), profile_of(config)
    metrics = evaluate(settings, profile, event_model=EventModel.chain)
    assert metrics.event is not None
    assert metrics.event.model == "chain"
    assert not metrics.stable
    carried = metrics.event.carried_requests_per_s
    assert carried == pytest.approx(metrics.busy_workers_mean / profile.traffic.worker_time_s)
    assert 0.0 < carried < 28.0
    attempts = profile.visits.connect_attempts
    assert metrics.p_block == pytest.approx(dropped_attempt_share(carried / 28.0, attempts))
    assert metrics.p_block == pytest.approx((1.0 - carried / 28.0) ** (1.0 / attempts))
