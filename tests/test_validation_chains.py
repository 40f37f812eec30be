"""The side-by-side judge of event's closed form and chain: its predictions and its input checks."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from bench.validate.casefile import Case, CaseError, all_cases
from bench.validate.chains import earlier_page, event_cases, main, markdown
from bench.validate.harness import RawRun
from bench.validate.loadgen import Summary
from bench.validate.measure import Realized
from bench.validate.predict import predict, predict_chain, profile_for, settings_for
from bench.validate.run import as_run
from bench.validate.run import main as run_main
from capplan.models.event_backlog import evaluate_backlog
from capplan.mpm_settings import EventSettings

SOMAXCONN = 4096


def _case(name: str) -> Case:
    return next(c for c in all_cases() if c.name == name)


def test_chain_predictions_are_the_backlog_chains_figures() -> None:
    # event-connection-limit at the inputs its last full run realized.
    case = _case("event-connection-limit")
    realized = Realized(54.9, 0.0510, 0.92, 140.0, 7700)
    metrics = predict_chain(case, realized, SOMAXCONN)
    settings = settings_for(case, SOMAXCONN)
    assert isinstance(settings, EventSettings)
    chain = evaluate_backlog(settings, profile_for(case, realized))
    p = settings.processes
    assert metrics.busy_workers_mean == pytest.approx(p * chain.busy_mean)
    assert metrics.idle_keepalive_mean == pytest.approx(p * chain.idle_mean)
    assert metrics.connections_per_s == pytest.approx(chain.connections_per_s)
    assert metrics.requests_per_connection == pytest.approx(54.9 / chain.connections_per_s)
    assert metrics.p_wait == pytest.approx(chain.p_wait)
    assert metrics.mean_wait_s == pytest.approx(chain.mean_wait_s)
    assert metrics.wait_p99_s == pytest.approx(chain.wait_p99_s)
    assert metrics.event is not None
    assert metrics.event.process_saturation == pytest.approx(chain.saturation)
    assert metrics.event.kill_episodes_per_s == pytest.approx(chain.kill_episodes_per_s)
    killed = metrics.event.kill_hazard_per_s * metrics.idle_keepalive_mean
    assert killed == pytest.approx(chain.killed_per_s)
    # The closed form differs where the chain mends it: fewer kill episodes at the limit (the
    # chain 0.026 a second, the closed form 0.079).
    closed = predict(case, realized, SOMAXCONN)
    assert closed.event is not None
    assert closed.event.kill_episodes_per_s > 2.5 * metrics.event.kill_episodes_per_s


def test_other_mpms_keep_the_closed_form() -> None:
    case = _case("worker-ka-rho07")
    realized = Realized(58.0, 0.05, 1.0, 60.0, 3480)
    assert predict_chain(case, realized, SOMAXCONN) == predict(case, realized, SOMAXCONN)


def test_only_event_cases_with_a_saved_run_are_taken(tmp_path: Path) -> None:
    (tmp_path / "event-ka-low.pickle").write_bytes(b"")
    assert [c.name for c in event_cases(tmp_path, ["event-ka-low", "worker-ka-rho07"])] == [
        "event-ka-low"
    ]
    with pytest.raises(CaseError, match="no saved run of event-ka-rho05"):
        event_cases(tmp_path, ["event-ka-rho05"])


def test_a_missing_run_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--load", str(tmp_path), "--cases", "event-ka-low"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("chains: error: ")
    assert "event-ka-low" in err
    assert "\n" not in err


def test_one_label_per_run_is_required(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--load", str(tmp_path), str(tmp_path), "--label", "only one"]) == 2
    assert capsys.readouterr().err.strip() == (
        "chains: error: give one --label per --load directory"
    )


def test_without_names_every_saved_event_run_is_taken(tmp_path: Path) -> None:
    # A directory may hold one case run longer (`run --duration`): it is judged alone.
    (tmp_path / "event-connection-limit.pickle").write_bytes(b"")
    (tmp_path / "worker-ka-rho07.pickle").write_bytes(b"")
    assert [c.name for c in event_cases(tmp_path, [])] == ["event-connection-limit"]
    with pytest.raises(CaseError, match="no saved run"):
        event_cases(tmp_path / "empty", [])


def _saved(case: Case, duration_s: float) -> RawRun:
    summary = Summary(0.0, 0.0, duration_s, 0, 0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, "duration")
    run_case = replace(case, duration_s=duration_s, warmup_s=20.0)
    return RawRun(run_case, SOMAXCONN, summary, (), (), (), (), (), 0.0, "Apache/2.4")


def test_a_saved_run_keeps_the_duration_it_ran_for() -> None:
    case = _case("event-connection-limit")
    judged = as_run(case, _saved(case, 910.0))
    assert (judged.duration_s, judged.warmup_s) == (910.0, 20.0)
    assert replace(judged, duration_s=case.duration_s, warmup_s=case.warmup_s) == case


def test_a_saved_run_keeps_its_clients_round_trip() -> None:
    case = _case("event-connection-limit")
    remote = replace(case, traffic=replace(case.traffic, round_trip_s=0.03))
    assert as_run(case, _saved(remote, 910.0)).traffic.round_trip_s == 0.03
    assert as_run(remote, _saved(case, 910.0)).traffic.round_trip_s == 0.0


@pytest.mark.parametrize("round_trip", ["-0.001", "2", "nan"])
def test_a_round_trip_outside_a_second_is_refused(
    round_trip: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(["--cases", "event-connection-limit", "--round-trip", round_trip]) == 2
    assert capsys.readouterr().err.strip() == "validate: error: --round-trip must be in [0, 1] s"


@pytest.mark.parametrize("duration", ["5", "inf", "nan"])
def test_a_duration_within_the_warmup_or_unbounded_is_refused(
    duration: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(["--cases", "event-connection-limit", "--duration", duration]) == 2
    assert capsys.readouterr().err.strip() == (
        "validate: error: --duration must be finite and exceed every case's warmup_s"
    )


def test_an_earlier_page_keeps_its_runs_ahead_of_the_new_ones(tmp_path: Path) -> None:
    # The page in the repository: its tally rows and run sections are kept as they were
    # judged, and a new run is numbered after them.
    page = Path(__file__).resolve().parents[1] / "docs" / "validation-event-chains.md"
    earlier = earlier_page(page)
    assert earlier.count >= 5
    tallied = re.compile(r"^\| .+ \| \d+ of \d+ \| \d+ of \d+ \|$")
    assert all(tallied.match(row) for row in earlier.tally_rows)
    assert earlier.sections[0].startswith("## Run 1: ")
    text = markdown([], earlier)
    assert f"Runs 1 to {earlier.count} are kept as they were judged" in text
    # Written again with no new run, the page holds the same runs, word for word.
    again = tmp_path / "again.md"
    again.write_text(text, encoding="utf-8")
    assert earlier_page(again) == earlier


def test_an_earlier_file_that_is_not_a_page_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "notes.md"
    other.write_text("# notes\n")
    (tmp_path / "event-ka-low.pickle").write_bytes(b"")
    assert main(["--load", str(tmp_path), "--earlier", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"chains: error: {other}: no tally of runs (not a page of bench.validate.chains)"
    with pytest.raises(CaseError, match="No such file"):
        earlier_page(tmp_path / "missing.md")
