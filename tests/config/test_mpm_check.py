"""httpd's "exactly one MPM" rule (AH00534) runs between reading and walking the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from capplan.config.evaluator import evaluate_config
from capplan.errors import CapplanError
from tests.httpd import MODULE_DIR, configtest

MPM_LINE = "LoadModule mpm_{0}_module " + str(MODULE_DIR) + "/mod_mpm_{0}.so\n"

CASES = {
    # Listen is only known once an MPM is loaded: httpd still reports the missing MPM first.
    "none-with-listen": ("Listen 127.0.0.1:8999\n", "No MPM loaded."),
    "two": (MPM_LINE.format("event") + MPM_LINE.format("worker"), "More than one MPM loaded."),
    "one": (MPM_LINE.format("event") + "Listen 127.0.0.1:8999\n", None),
    "same-twice": (MPM_LINE.format("event") * 2, None),
}


def _write(tmp_path: Path, body: str) -> Path:
    conf = tmp_path / "httpd.conf"
    conf.write_text(f'ServerRoot "{tmp_path}"\nServerName x\nErrorLog /dev/null\n{body}')
    return conf


@pytest.mark.parametrize(("body", "message"), CASES.values(), ids=CASES.keys())
def test_mpm_count(tmp_path: Path, body: str, message: str | None) -> None:
    conf = _write(tmp_path, body)
    if message is None:
        evaluate_config(conf)
        return
    with pytest.raises(CapplanError) as caught:
        evaluate_config(conf)
    assert f"AH00534: apache2: Configuration error: {message}" in caught.value.render()


def test_a_compiled_in_mpm_counts(tmp_path: Path) -> None:
    conf = _write(tmp_path, "Listen 127.0.0.1:8999\n")
    evaluate_config(conf, static_modules=("core.c", "mod_so.c", "http_core.c", "event.c"))
    with pytest.raises(CapplanError, match="More than one MPM loaded"):
        evaluate_config(
            _write(tmp_path, MPM_LINE.format("worker")),
            static_modules=("core.c", "mod_so.c", "http_core.c", "event.c"),
        )


@pytest.mark.apache
@pytest.mark.parametrize(("body", "message"), CASES.values(), ids=CASES.keys())
def test_apache2_agrees(apache2: str, tmp_path: Path, body: str, message: str | None) -> None:
    code, output = configtest(_write(tmp_path, body))
    if message is None:
        assert code == 0, output
    else:
        assert code != 0
        assert f"AH00534: apache2: Configuration error: {message}" in output
