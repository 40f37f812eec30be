"""capplan.fpm_plan end to end: recommend and check with a php: section and a pool file, through
the command line, its exit codes and the JSON contract (`php_fpm`, `php_fpm_directives`)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from capplan.advice import at_headroom
from capplan.cli import main
from capplan.fpm.model import min_max_children
from capplan.profile import load_profile

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "capplan" / "render" / "report_schema.json").read_text())


def _setup(
    tmp_path: Path,
    *,
    children: int,
    php: str = "php: {share: 0.5, service_time: 150ms}",
    ram: str = "4GiB",
) -> tuple[Path, Path, Path]:
    (tmp_path / "modules").mkdir()
    for module in ("mpm_event", "proxy", "proxy_fcgi"):
        (tmp_path / "modules" / f"mod_{module}.so").touch()
    conf = tmp_path / "httpd.conf"
    conf.write_text(
        f"ServerRoot {tmp_path}\n"
        "LoadModule mpm_event_module modules/mod_mpm_event.so\n"
        "LoadModule proxy_module modules/mod_proxy.so\n"
        "LoadModule proxy_fcgi_module modules/mod_proxy_fcgi.so\n"
        'SetHandler "proxy:unix:/run/php/php8.2-fpm.sock|fcgi://localhost"\n'
    )
    pool = tmp_path / "www.conf"
    pool.write_text(
        "[www]\nuser = www-data\nlisten = /run/php/php8.2-fpm.sock\npm = dynamic\n"
        f"pm.max_children = {children}\npm.start_servers = 1\npm.min_spare_servers = 1\n"
        "pm.max_spare_servers = 1\n"
    )
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "traffic: {requests_per_second: 100, service_time: 120ms}\n"
        f"memory: {{ram: {ram}}}\n{php}\n"
    )
    return conf, pool, profile


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_recommend_sizes_the_pool_and_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf, pool, profile = _setup(tmp_path, children=5)
    code, out, _ = _run(
        capsys,
        "recommend",
        str(conf),
        "-p",
        str(profile),
        "--fpm-pool",
        str(pool),
        "--format",
        "json",
    )
    assert code == 0
    document = json.loads(out)
    jsonschema.validate(document, SCHEMA)
    fpm = document["php_fpm"]
    # 100 req/s × 0.5 × 150 ms = 7.5 busy children at the profile's rate: 5 cannot serve them.
    assert (fpm["pool"], fpm["max_children"], fpm["stable"]) == ("www", 5, False)
    assert (fpm["offered_load_erlangs"], fpm["p_wait"], fpm["mean_wait_s"]) == (7.5, 1.0, None)
    assert fpm["memory_bytes"] == (128 << 20) + 5 * (64 << 20)
    assert fpm["provenance"]["pm.max_children"] == f"{pool}:5"
    wanted = min_max_children(at_headroom(load_profile(profile), 0.25))
    rec = document["recommendation"]
    assert rec["php_fpm_directives"]["pm.max_children"] == str(wanted)
    assert rec["php_fpm_snippet"].startswith("[www]\n")
    assert rec["php_fpm"]["p_wait"] <= 0.01
    assert {v["target"] for v in document["verdict"]["violations"]} >= {
        "php_fpm.max_wait_probability"
    }
    assert document["profile"]["php"]["share"] == 0.5


def test_table_shows_pool_and_snippet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf, pool, profile = _setup(tmp_path, children=5)
    code, out, _ = _run(capsys, "recommend", str(conf), "-p", str(profile), "--fpm-pool", str(pool))
    assert code == 0
    assert f"pool [www] at {pool}:1" in out
    assert "php_fpm.max_wait_probability: 1 (limit 0.01) MISSED" in out
    assert "pm.max_children      = " in out
    assert "php: figures from capplan's defaults: service_time_scv, process, shared" in out


def test_check_fails_on_the_pool_and_points_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf, pool, profile = _setup(tmp_path, children=5)
    code, out, _ = _run(
        capsys, "check", str(conf), "-p", str(profile), "--fpm-pool", str(pool), "--format", "json"
    )
    assert code == 1
    document = json.loads(out)
    fixes = {f["directive"]: f for f in document["verdict"]["fixes"]}
    assert fixes["pm.max_children"]["location"] == f"{pool}:5"
    assert fixes["pm.max_children"]["old"] == "5"
    # Behind the fixed pool httpd's defaults are enough: no httpd directive to change.
    assert not {"MaxRequestWorkers", "ThreadsPerChild"} & set(fixes)


def test_check_passes_with_enough_children(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf, pool, profile = _setup(tmp_path, children=20)
    code, out, _ = _run(capsys, "check", str(conf), "-p", str(profile), "--fpm-pool", str(pool))
    assert code == 0, out
    assert "php_fpm.max_wait_probability" in out


def test_fpm_memory_counts_against_ram(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """httpd's defaults fit in 1.2 GiB alone; 20 children of 50 MiB and 128 MiB shared leave
    too little of it."""
    php = "php: {share: 0.5, service_time: 150ms, process: 50MiB}"
    conf, pool, profile = _setup(tmp_path, children=20, php=php, ram="1200MiB")
    code, out, _ = _run(
        capsys, "check", str(conf), "-p", str(profile), "--fpm-pool", str(pool), "--format", "json"
    )
    assert code == 1
    missed = {v["target"] for v in json.loads(out)["verdict"]["violations"]}
    assert "max_memory_fraction" in missed


def test_pool_without_php_section_says_the_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf, pool, profile = _setup(tmp_path, children=20, php="")
    code, out, _ = _run(
        capsys,
        "recommend",
        str(conf),
        "-p",
        str(profile),
        "--fpm-pool",
        str(pool),
        "--format",
        "json",
    )
    assert code == 0
    document = json.loads(out)
    assert document["php_fpm"]["assumed_php_defaults"] is True
    assert document["profile"]["php"] == {
        "share": 1.0,
        "service_time": None,
        "service_time_scv": None,
        "process": 64 << 20,
        "shared": 128 << 20,
    }


def test_without_php_nothing_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config that sends PHP to FPM, a profile without php: and no --fpm-pool: the report is
    what it was before PHP-FPM was modelled (no php_fpm key, nothing read from php-fpm)."""
    conf, _, profile = _setup(tmp_path, children=5, php="")
    code, out, _ = _run(capsys, "recommend", str(conf), "-p", str(profile), "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert "php_fpm" not in document
    assert "php_fpm_directives" not in document["recommendation"]
    assert "php" not in document["profile"]


def test_bad_pool_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf, pool, profile = _setup(tmp_path, children=5)
    pool.write_text(pool.read_text().replace("pm = dynamic", "pm = sometimes"))
    code, out, err = _run(
        capsys, "recommend", str(conf), "-p", str(profile), "--fpm-pool", str(pool)
    )
    assert (code, out) == (2, "")
    assert err.startswith(f"{pool}:4: unable to parse value for entry 'pm'")
