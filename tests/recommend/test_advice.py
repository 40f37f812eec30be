"""Advice an operator would deploy, from configs and profiles a user would write.

Each case runs the CLI or the pipeline on a real config file and a real profile and checks the
exact verdict: memory as httpd really runs it, headroom, the keep-alive levers, "keep" when the
current config works, switching MPM only for a material saving, and restart room for event.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from capplan.advice import at_headroom
from capplan.cli import main
from capplan.models import evaluate, evaluate_targets
from capplan.mpm_names import MpmChoice
from capplan.mpm_settings import EventSettings
from capplan.pipeline import recommend_report
from capplan.profile import load_profile
from capplan.render.dispatch import render_report
from capplan.render.formats import OutputFormat
from capplan.render.words import report_reasons
from tests.httpd import MODULE_DIR, base_config
from tests.recommend.examples import prepare

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"

# Debian's shipped mpm_event.conf (2.4.71): 6 processes of 25, ServerLimit 16 by default.
DEBIAN_EVENT = """StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _profile(tmp: Path, name: str, body: str) -> Path:
    return _write(tmp / f"{name}.yaml", f"version: 1\nname: {name}\n{body}")


def _json(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, dict[str, object]]:
    code = main([*args, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_prefork_worst_case_is_max_request_workers_not_server_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # ServerLimit 20, MaxRequestWorkers 4: prefork never forks a fifth child, graceful restarts
    # included, so 4 children of 100 MiB fit in 1 GiB although 20 would not.
    conf = _write(
        tmp_path / "httpd.conf",
        base_config(tmp_path, "prefork", 8080) + "ServerLimit 20\nMaxRequestWorkers 4\n"
        "KeepAlive Off\n",
    )
    profile = _profile(
        tmp_path,
        "small",
        "traffic: {requests_per_second: 5, service_time: 100ms}\n"
        "memory: {ram: 1GiB, parent: 20MiB, shared: 100MiB, prefork_process: 100MiB}\n"
        "targets: {max_memory_fraction: 0.9}\n",
    )
    code, report = _json(capsys, ["check", str(conf), "-p", str(profile)])
    assert code == 0, report["verdict"]
    prefork = report["mpms"]["prefork"]  # type: ignore[index]
    assert prefork["memory"]["worst_processes"] == 4
    # parent + shared + 4 children + the parent's restart overhead (2 × parent + 1 MiB).
    assert prefork["memory_bytes"] == (20 + 100 + 4 * 100 + 2 * 20 + 1) << 20


def _php_config(tmp: Path, extra: str = "") -> Path:
    (tmp / "modules").mkdir(exist_ok=True)
    (tmp / "modules" / "libphp8.2.so").write_bytes(b"")
    return _write(
        tmp / "httpd.conf",
        f'ServerRoot "{tmp}"\n'
        f"LoadModule mpm_prefork_module {MODULE_DIR}/mod_mpm_prefork.so\n"
        "LoadModule php_module modules/libphp8.2.so\n"
        "ServerLimit 120\nMaxRequestWorkers 120\nKeepAlive On\nKeepAliveTimeout 5\n" + extra,
    )


def test_mod_php_keepalive_heavy_meets_targets_with_a_keepalive_lever(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = _php_config(tmp_path)
    profile = PROFILES / "wordpress-prefork.yaml"
    code, report = _json(capsys, ["recommend", str(conf), "-p", str(profile)])
    assert code == 0
    rec = report["recommendation"]
    assert rec["mpm"] == "prefork"  # type: ignore[index]
    assert rec["action"] == "change"  # type: ignore[index]
    assert rec["meets_targets"] is True  # type: ignore[index]
    levers = {c["directive"]: c["new"] for c in rec["changes"]}  # type: ignore[index]
    assert levers.get("KeepAlive") == "Off" or "KeepAliveTimeout" in levers
    reasons: list[str] = rec["reasons"]  # type: ignore[index]
    assert any(r.startswith(("KeepAlive Off frees", "KeepAliveTimeout 5 →")) for r in reasons)
    # Spliced into the config, the recommendation passes `check` at 1.25 × the rate.
    spliced = _php_config(tmp_path, rec["snippet"].replace("# main server config", "#"))  # type: ignore[index]
    code, checked = _json(capsys, ["check", str(spliced), "-p", str(profile), "--headroom", "0.25"])
    assert code == 0, checked["verdict"]


def test_a_passing_stock_event_config_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = _write(tmp_path / "httpd.conf", base_config(tmp_path, "event", 8080) + DEBIAN_EVENT)
    profile = _profile(
        tmp_path,
        "modest",
        "traffic: {requests_per_second: 40, service_time: 50ms}\nmemory: {ram: 4GiB}\n",
    )
    code, report = _json(capsys, ["recommend", str(conf), "-p", str(profile)])
    assert code == 0
    rec = report["recommendation"]
    assert report["verdict"]["ok"] is True  # type: ignore[index]
    assert rec["action"] == "keep"  # type: ignore[index]
    assert (rec["snippet"], rec["directives"], rec["placement"]) == ("", {}, None)  # type: ignore[index]
    assert rec["reasons"][0].startswith(  # type: ignore[index]
        "the current config (event, 150 threads in 6 processes of 25) meets every target at "
        "50 req/s (40 req/s + 25 % headroom) and fits in memory: keep it"
    )
    main(["recommend", str(conf), "-p", str(profile)])
    text = capsys.readouterr().out
    assert "Recommended: keep the current event settings (no change)." in text
    assert "Snippet:" not in text


def test_php_fpm_event_stays_on_event(tmp_path: Path) -> None:
    conf = _write(tmp_path / "httpd.conf", base_config(tmp_path, "event", 8080) + DEBIAN_EVENT)
    report = recommend_report(str(conf), str(PROFILES / "php-fpm-event.yaml"), somaxconn=4096)
    assert report.recommendation is not None
    assert report.recommendation.mpm == "event"
    assert all(
        c.directive not in ("KeepAlive", "KeepAliveTimeout") for c in report.recommendation.changes
    )


def test_switching_mpm_needs_a_material_saving(tmp_path: Path) -> None:
    # A prefork config that misses its targets: resizing prefork works, event would save less
    # than --min-saving of RAM, so the advice stays on prefork; with a lower bar it switches.
    conf = _write(
        tmp_path / "httpd.conf",
        base_config(tmp_path, "prefork", 8080) + "ServerLimit 10\nMaxRequestWorkers 10\n"
        "KeepAlive Off\n",
    )
    profile = _profile(
        tmp_path,
        "cheap",
        "traffic: {requests_per_second: 100, service_time: 100ms}\n"
        "memory: {ram: 64GiB, prefork_process: 10MiB}\n",
    )
    stay = recommend_report(str(conf), str(profile), somaxconn=4096)
    assert stay.recommendation is not None
    assert (stay.recommendation.action, stay.recommendation.mpm) == ("change", "prefork")
    assert stay.recommendation.saving_bytes is None
    move = recommend_report(str(conf), str(profile), somaxconn=4096, min_saving=0.0)
    assert move.recommendation is not None
    if move.recommendation.mpm != "prefork":
        assert move.recommendation.saving_bytes is not None
        assert move.recommendation.saving_bytes > 0


def test_event_snippets_leave_restart_room(tmp_path: Path) -> None:
    _, conf, _ = prepare("debian-prefork-php", tmp_path)
    report = recommend_report(
        str(conf), str(PROFILES / "wordpress-prefork.yaml"), somaxconn=4096, mpm=MpmChoice.event
    )
    rec = report.recommendation
    assert rec is not None
    assert isinstance(rec.settings, EventSettings)
    assert rec.settings.server_limit == 2 * rec.settings.processes
    assert rec.assessment is not None
    assert rec.assessment.metrics.memory.worst_processes == 2 * rec.settings.processes
    assert any(
        r.startswith(f"ServerLimit {rec.settings.server_limit} leaves room for")
        for r in report_reasons(report)
    )


def test_headroom_flag_and_profile_key_raise_the_rate_check_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = _write(
        tmp_path / "httpd.conf",
        base_config(tmp_path, "prefork", 8080) + "ServerLimit 30\nMaxRequestWorkers 30\n"
        "KeepAlive Off\n",
    )
    body = (
        "traffic: {requests_per_second: 150, service_time: 100ms}\n"
        "targets: {max_wait_probability: 0.05, max_wait: null}\n"
    )
    profile = _profile(tmp_path, "edge", body)
    # 15 Erlangs on 30 workers passes; 1.5 × the rate (22.5 Erlangs) does not.
    assert main(["check", str(conf), "-p", str(profile)]) == 0
    assert main(["check", str(conf), "-p", str(profile), "--headroom", "0.5"]) == 1
    with_key = _profile(
        tmp_path, "edge-headroom", body.replace("max_wait: null}", "max_wait: null, headroom: 0.5}")
    )
    assert main(["check", str(conf), "-p", str(with_key)]) == 1
    assert main(["check", str(conf), "-p", str(with_key), "--headroom", "0"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--ram", "0"], "--ram must be larger than 0", id="ram-flag"),
        pytest.param(
            ["--headroom", "-0.1"],
            "--headroom -0.1: must be between 0 and 10",
            id="negative-headroom",
        ),
        pytest.param(
            ["--min-saving", "2"], "--min-saving 2: must be between 0 and 1", id="min-saving"
        ),
    ],
)
def test_bad_advice_flags_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = _write(tmp_path / "httpd.conf", base_config(tmp_path, "event", 8080))
    profile = PROFILES / "static-site.yaml"
    assert main(["recommend", str(conf), "-p", str(profile), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_ram_zero_in_a_profile_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = _write(tmp_path / "httpd.conf", base_config(tmp_path, "event", 8080))
    profile = _profile(
        tmp_path,
        "zero",
        "traffic: {requests_per_second: 5, service_time: 10ms}\nmemory:\n  ram: 0\n",
    )
    assert main(["check", str(conf), "-p", str(profile)]) == 2
    assert "memory.ram: must be greater than 0, got 0" in capsys.readouterr().err


def test_tables_say_off_and_never_print_vanishing_probabilities(tmp_path: Path) -> None:
    conf = _php_config(tmp_path)
    report = recommend_report(str(conf), str(PROFILES / "wordpress-prefork.yaml"), somaxconn=4096)
    text = render_report(report, OutputFormat.table)
    exponents = [int(e) for e in re.findall(r"\de-(\d+)", text)]
    assert all(e <= 9 for e in exponents), exponents
    assert report.recommendation is not None
    assert report.recommendation.settings is not None
    assert not report.recommendation.settings.common.keep_alive
    row = next(line for line in text.splitlines() if line.startswith("prefork  yes"))
    assert row.rstrip().endswith("off")
    assert "KeepAliveTimeout" not in report.recommendation.snippet


def test_defaults_and_measurements_are_said(tmp_path: Path) -> None:
    conf = _write(tmp_path / "httpd.conf", base_config(tmp_path, "event", 8080))
    profile = _profile(tmp_path, "bare", "traffic: {requests_per_second: 5, service_time: 10ms}\n")
    report = recommend_report(str(conf), str(profile), somaxconn=4096)
    sources = dict(report.sources)
    assert sources["memory.thread"] == "default"
    assert sources["targets.headroom"] == "default"
    text = render_report(report, OutputFormat.table)
    assert "Memory figures from capplan's defaults, not from this server: " in text
    assert "No memory.ram: memory is not bounded" in text


@pytest.mark.parametrize("example", ["debian-prefork-php", "rhel-event-rounded", "upstream-event"])
def test_advice_never_claims_a_target_the_model_denies_and_keeps_what_works(
    example: str, tmp_path: Path
) -> None:
    from tests.recommend.profiles import random_profiles

    _, conf, _ = prepare(example, tmp_path)
    for name, profile in random_profiles(seed=20261202, count=8):
        path = tmp_path / f"{name}.yaml"
        path.write_text(_profile_text(profile))
        report = recommend_report(str(conf), str(path), somaxconn=4096)
        rec = report.recommendation
        assert rec is not None
        sized = at_headroom(load_profile(path), report.headroom)
        assert report.current is not None
        if report.current.ok:
            assert rec.action == "keep", name
            assert rec.directives == ()
            continue
        if rec.meets_targets:
            assert rec.settings is not None
            results = evaluate_targets(evaluate(rec.settings, sized), sized)
            assert all(t.met for t in results), (name, rec.mpm, results)


def _profile_text(profile: object) -> str:
    from capplan.profile import TrafficProfile

    assert isinstance(profile, TrafficProfile)
    t, v, m, g = profile.traffic, profile.visits, profile.memory, profile.targets
    return (
        f"version: 1\nname: {profile.name}\n"
        f"traffic: {{requests_per_second: {t.requests_per_second}, "
        f"service_time: {t.service_time_s}, service_time_scv: {t.service_time_scv}, "
        f"worker_share: {t.worker_share}}}\n"
        f"visits: {{requests_per_visit: {v.requests_per_visit}, think_time: {v.think_time_s}, "
        f"idle_hold_probability: {v.idle_hold_probability}}}\n"
        f"memory: {{ram: {m.ram_bytes}}}\n"
        f"targets: {{max_wait_probability: {g.max_wait_probability}, "
        f"max_block_probability: {g.max_block_probability}}}\n"
    )
