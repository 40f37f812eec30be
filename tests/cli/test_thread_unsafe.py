"""A config that loads mod_php is sized for prefork only, from the config file through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capplan.cli import main
from tests.httpd import MODULE_DIR

REPO = Path(__file__).resolve().parents[2]


def test_loaded_php_module_keeps_the_recommendation_on_prefork(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "libphp8.2.so").write_bytes(b"")
    conf = tmp_path / "httpd.conf"
    conf.write_text(
        f'ServerRoot "{tmp_path}"\n'
        f"LoadModule mpm_prefork_module {MODULE_DIR}/mod_mpm_prefork.so\n"
        "LoadModule php_module modules/libphp8.2.so\n"
        "ServerLimit 50\nMaxRequestWorkers 50\n"
    )
    profile = REPO / "profiles" / "wordpress-prefork.yaml"
    assert main(["recommend", str(conf), "-p", str(profile), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["recommendation"]["mpm"] == "prefork"
    assert list(report["recommendation"]["options"]) == ["prefork"]
    assert any("php_module is loaded" in reason for reason in report["recommendation"]["reasons"])
