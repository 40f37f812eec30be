"""The shipped example configs: each passes the real `apache2 -t`, and capplan agrees with it.

Each example is copied to a temporary directory and adjusted the way an admin would move it to
another machine: Debian's tree gets run/log directories through its envvars, the RHEL and
upstream trees get their ServerRoot and a `modules` link to Debian's module directory, and
`/var/www` (or the upstream htdocs) points into the copy. `User apache` (RHEL) becomes
`www-data`, the user Debian's apache2 package creates.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.effective import capacity, effective_values
from capplan.machine import load_effective_config
from tests.httpd import MODULE_DIR

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
_AH = re.compile(r"^(AH\d{5}): ", re.MULTILINE)


def _substitute(root: Path, old: str, new: str) -> None:
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            text = path.read_text()
            if old in text:
                path.write_text(text.replace(old, new))


def _www(tmp: Path, tree: Path, old: str) -> None:
    www = tmp / "www"
    for sub in ("html", "shop/public"):
        (www / sub).mkdir(parents=True, exist_ok=True)
    _substitute(tree, old, str(www))


def _debian(tmp: Path) -> tuple[Path, Path, list[str]]:
    tree = tmp / "apache2"
    shutil.copytree(EXAMPLES / "debian" / "apache2", tree)
    _www(tmp, tree, "/var/www")
    run_dir = tmp / "run"
    run_dir.mkdir()
    overrides = {
        "APACHE_RUN_DIR": str(run_dir),
        "APACHE_LOCK_DIR": str(run_dir),
        "APACHE_PID_FILE": str(run_dir / "apache2.pid"),
        "APACHE_LOG_DIR": str(tmp),
    }
    exports = " ".join(f"{k}={v}" for k, v in overrides.items())
    command = [
        "bash", "-c",
        f'. "{tree}/envvars" && export {exports} && exec apache2 -d "{tree}" -f apache2.conf -t',
    ]  # fmt: skip
    return tree, tree / "apache2.conf", command


def _rhel(tmp: Path) -> tuple[Path, Path, list[str]]:
    tree = tmp / "httpd"
    shutil.copytree(EXAMPLES / "rhel" / "httpd", tree)
    (tree / "modules").symlink_to(MODULE_DIR)
    (tree / "logs").mkdir()
    _substitute(tree, 'ServerRoot "/etc/httpd"', f'ServerRoot "{tree}"')
    _substitute(tree, "\nUser apache\nGroup apache\n", "\nUser www-data\nGroup www-data\n")
    _www(tmp, tree, "/var/www")
    conf = tree / "conf" / "httpd.conf"
    return tree, conf, ["apache2", "-t", "-f", str(conf)]


def _upstream(tmp: Path) -> tuple[Path, Path, list[str]]:
    tree = tmp / "upstream"
    shutil.copytree(EXAMPLES / "upstream", tree)
    (tree / "modules").symlink_to(MODULE_DIR)
    (tree / "logs").mkdir()
    (tree / "htdocs").mkdir()
    _substitute(tree, "/usr/local/apache2", str(tree))
    conf = tree / "conf" / "httpd.conf"
    return tree, conf, ["apache2", "-t", "-f", str(conf)]


@dataclass(frozen=True)
class Example:
    name: str
    prepare: Callable[[Path], tuple[Path, Path, list[str]]]  # → tree, main file, apache2 -t
    mpm: str
    layout: str
    codes: tuple[str, ...]  # AH warnings httpd prints on purpose
    values: dict[str, object]
    workers: int
    max_connections: int
    sources: dict[str, str]  # directive → "file:line" relative to the tree's top directory


EXAMPLE_CASES = [
    Example(
        "debian-prefork-php", _debian, "prefork", "debian", (),
        {"ServerLimit": 120, "MaxRequestWorkers": 120, "StartServers": 8,
         "MaxConnectionsPerChild": 1000, "Timeout": 300, "KeepAliveTimeout": 3.0},
        120, 120,
        {"MaxRequestWorkers": "mods-enabled/mpm_prefork.conf:14",
         "KeepAliveTimeout": "apache2.conf:23", "Timeout": "apache2.conf:17"},
    ),
    Example(
        "rhel-event-rounded", _rhel, "event", "rhel", ("AH00513",),
        {"ThreadsPerChild": 64, "MaxRequestWorkers": 960, "AsyncRequestWorkerFactor": 3.0,
         "KeepAliveTimeout": 10.0, "MaxKeepAliveRequests": 500, "Timeout": 60},
        960, 960 * 4,
        {"MaxRequestWorkers": "conf.d/mpm-tuning.conf:9",
         "KeepAliveTimeout": "conf.d/mpm-tuning.conf:17"},
    ),
    Example(
        "upstream-event", _upstream, "event", "upstream", (),
        {"ServerLimit": 16, "ThreadsPerChild": 50, "MaxRequestWorkers": 600,
         "MinSpareThreads": 50, "MaxSpareThreads": 200, "KeepAliveTimeout": 5.0},
        600, 600 * 3,
        {"MaxRequestWorkers": "conf/extra/httpd-mpm.conf:46",
         "KeepAliveTimeout": "conf/extra/httpd-default.conf:18"},
    ),
]  # fmt: skip


@pytest.mark.apache
@pytest.mark.parametrize("example", EXAMPLE_CASES, ids=[e.name for e in EXAMPLE_CASES])
def test_example_passes_apache2_t_and_capplan_agrees(
    apache2: str, tmp_path: Path, example: Example
) -> None:
    tree, conf, command = example.prepare(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("APACHE_")}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    output = proc.stderr + proc.stdout
    assert proc.returncode == 0, output
    assert tuple(_AH.findall(output)) == example.codes, output

    config = load_effective_config(conf, somaxconn=4096)
    assert tuple(w.code for w in config.warnings) == example.codes
    assert (config.mpm, config.layout) == (example.mpm, example.layout)
    values = effective_values(config)
    assert {k: values[k] for k in example.values} == example.values
    limits = capacity(config.settings)
    assert (limits.workers, limits.max_connections) == (example.workers, example.max_connections)
    for name, where in example.sources.items():
        location = config.source_of(name)
        assert location is not None, name
        assert f"{Path(location.path).relative_to(tree)}:{location.line}" == where


@pytest.mark.apache
@pytest.mark.parametrize("example", EXAMPLE_CASES, ids=[e.name for e in EXAMPLE_CASES])
def test_example_through_the_cli(
    apache2: str,
    tmp_path: Path,
    example: Example,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree, conf, _ = example.prepare(tmp_path)
    monkeypatch.chdir(tree)
    given = str(conf.relative_to(tree))
    assert main(["inspect", given, "--format", "json", "--somaxconn", "4096"]) == 0
    text = capsys.readouterr().out
    document = json.loads(text)
    assert (document["path"], document["mpm"]) == (given, example.mpm)
    assert [w["code"] for w in document["warnings"]] == list(example.codes)
    assert {k: document["provenance"][k] for k in example.sources} == example.sources
    assert str(tmp_path) not in text
