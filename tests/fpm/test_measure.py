"""capplan.measure.fpm and capplan.measure.fastcgi against a real running php-fpm pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.fpm.pool import read_fpm_config
from capplan.measure.fastcgi import fastcgi_get
from capplan.measure.fpm import measure_fpm, parse_status
from capplan.measure.status import StatusError
from tests.fpm.phpfpm import running_fpm


def test_static_pool_memory_and_status(php_fpm: str, tmp_path: Path) -> None:
    pool_lines = "pm = static\npm.max_children = 3\npm.status_path = /fpm-status\n"
    with running_fpm(php_fpm, tmp_path / "fpm", pool_lines) as conf:
        pool = read_fpm_config(str(conf)).pools[0]
        measured = measure_fpm(pool)
        assert len(measured.children) == 3
        assert all(c.pss_bytes > 0 and 0 < c.uss_bytes <= c.pss_bytes for c in measured.children)
        assert measured.process_bytes > 0
        # shared + children × process is the pool's total PSS, by construction.
        assert measured.shared_bytes + 3 * measured.process_bytes == measured.total_pss_bytes
        assert measured.status_error is None
        status = dict(measured.status or ())
        assert status["pool"] == "www"
        assert status["process manager"] == "static"
        assert status["total processes"] == 3
        assert status["idle processes"] + status["active processes"] == 3


def test_measure_command_prints_profile_figures(
    php_fpm: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_fpm(php_fpm, tmp_path / "fpm", "pm = static\npm.max_children = 2\n") as conf:
        assert main(["measure", "--fpm-pool", str(conf), "--format", "json"]) == 0
        document = json.loads(capsys.readouterr().out)
        assert len(document["children"]) == 2
        assert document["status"] is None  # no pm.status_path
        assert main(["measure", "--fpm-pool", str(conf), "--format", "yaml"]) == 0
        out = capsys.readouterr().out
        assert f"process: {document['php']['process']}" in out


def test_status_path_not_served_is_an_error(php_fpm: str, tmp_path: Path) -> None:
    with running_fpm(php_fpm, tmp_path / "fpm", "pm = static\npm.max_children = 1\n") as conf:
        pool = read_fpm_config(str(conf)).pools[0]
        with pytest.raises(StatusError):
            parse_status(fastcgi_get(pool.listen, "/no-such-status", "json"))


def test_no_running_pool_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pool = tmp_path / "www.conf"
    pool.write_text("[capplan-test-nowhere]\nlisten = /s\npm = static\npm.max_children = 1\n")
    assert main(["measure", "--fpm-pool", str(pool)]) == 2
    assert "no running php-fpm master has a pool [capplan-test-nowhere]" in capsys.readouterr().err


def test_connect_failure_is_a_status_error(tmp_path: Path) -> None:
    with pytest.raises(StatusError, match="cannot connect"):
        fastcgi_get(str(tmp_path / "missing.sock"), "/status")
