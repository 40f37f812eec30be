"""capplan.effective against real apache2: seeded random MPM settings, `apache2 -t`, scoreboards.

For each combination the test writes a config, runs `apache2 -t` and capplan's whole pipeline
(evaluator and MPM stage) on it, and compares httpd's `AHnnnnn: WARNING: …` lines (codes, words
and numbers, in order) with capplan's warnings, the final values those warnings announce with
capplan's effective values, and httpd's syntax errors with capplan's CapplanError. A few servers
are started to compare the scoreboard length of `server-status?auto` with capplan's effective
worker count, and the installed /etc/apache2 tree's MPM is compared with `apache2 -V`.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from capplan.effective import effective_values
from capplan.errors import CapplanError
from capplan.machine import load_effective_config
from capplan.mpm_names import Mpm
from capplan.mpm_settings import EffectiveConfig
from tests.httpd import base_config, configtest, free_port, prepare_root, running_server

SEED = 20261126
COMBINATIONS = 240

_COMMON = ("ServerLimit", "MaxRequestWorkers", "StartServers")
_DIRECTIVES: dict[Mpm, tuple[str, ...]] = {
    Mpm.prefork: (*_COMMON, "MinSpareServers", "MaxSpareServers"),
    Mpm.worker: (*_COMMON, "ThreadLimit", "ThreadsPerChild", "MinSpareThreads", "MaxSpareThreads"),
    Mpm.event: (*_COMMON, "ThreadLimit", "ThreadsPerChild", "MinSpareThreads", "MaxSpareThreads"),
}
_GARBAGE = ("150abc", "abc", "-5", "0", "-1", "300000", "99999999999", "3000000000", " 12", "7.9")
# Directives that httpd may refuse, each with values it accepts and values it rejects.
_RISKY: dict[str, tuple[str, ...]] = {
    "AsyncRequestWorkerFactor": ("2", "1.5", "0.5", "1e1", "abc", "0", "-1", "1.5x", "nan"),
    "KeepAliveTimeout": ("5", "500ms", "2mi", "1h", "abc", "-5", "1.5", "5sec", "5S"),
    "ListenBacklog": ("511", "1", "0", "-3", "abc", "10000"),
    "KeepAlive": ("On", "off", "yes"),
    "MinSpareServers": ("5",),  # invalid under worker and event
    "ThreadsPerChild": ("25",),  # invalid under prefork
}


def _value(rng: random.Random, name: str) -> str:
    roll = rng.random()
    if roll < 0.2:
        return rng.choice(_GARBAGE)
    if roll < 0.3:
        return str(rng.randint(100_000, 300_000))
    if name in {"ThreadsPerChild", "ThreadLimit"}:
        return str(rng.randint(1, 120))
    return str(rng.randint(1, 1200))


@dataclass(frozen=True)
class Case:
    ident: str
    mpm: Mpm
    lines: tuple[str, ...]


def _cases() -> list[Case]:
    rng = random.Random(SEED)
    cases = []
    for number in range(COMBINATIONS):
        mpm: Mpm = rng.choice((Mpm.prefork, Mpm.worker, Mpm.event))
        lines = []
        for name in _DIRECTIVES[mpm]:
            if rng.random() < 0.55:
                spelled = (
                    "MaxClients" if name == "MaxRequestWorkers" and rng.random() < 0.2 else name
                )
                lines.append(f"{spelled} {_value(rng, name)}")
                if rng.random() < 0.1:  # repeated directive: the last one wins
                    lines.append(f"{name} {_value(rng, name)}")
        rng.shuffle(lines)
        if rng.random() < 0.25:
            risky = rng.choice(list(_RISKY))
            lines.insert(rng.randint(0, len(lines)), f"{risky} {rng.choice(_RISKY[risky])}")
        cases.append(Case(f"{number:03d}-{mpm}", mpm, tuple(lines)))
    return cases


def _write(root: Path, case: Case) -> Path:
    prepare_root(root)
    head = base_config(root, case.mpm, 8080)
    conf = root / "conf" / "httpd.conf"
    conf.write_text(head + "\n".join(case.lines) + "\n")
    return conf


_AH_LINE = re.compile(r"^(AH\d{5}): (.*)$", re.MULTILINE)
_SYNTAX = re.compile(r"^AH00526: Syntax error on line (\d+) of [^\n]*:\n(.*)$", re.MULTILINE)
_ANNOUNCED = re.compile(
    r"^WARNING: (\w+) of -?\d+ .*?(?:decreasing|increasing)(?: MaxRequestWorkers)? to"
    r"(?: nearest multiple)? (\d+)"
)


def _announced_values(messages: list[str]) -> dict[str, int]:
    """The last value httpd's warnings announce for each directive (`… decreasing to 400`)."""
    values: dict[str, int] = {}
    for message in messages:
        match = _ANNOUNCED.match(message)
        assert match is not None, message
        values[match.group(1)] = int(match.group(2))
    return values


def _compare(conf: Path, rc: int, output: str) -> list[str]:
    """Differences between apache2 and capplan for one case (empty when they agree)."""
    try:
        config: EffectiveConfig | None = load_effective_config(conf, somaxconn=4096)
        error: CapplanError | None = None
    except CapplanError as exc:
        config, error = None, exc
    syntax = _SYNTAX.search(output)
    if rc != 0:
        assert syntax is not None, output
        if error is None or error.location is None:
            return [f"apache2 refused ({syntax.group(2)!r}); capplan accepted"]
        got = (error.location.line, error.message)
        wanted = (int(syntax.group(1)), syntax.group(2))
        return [] if got == wanted else [f"error: got {got}, wanted {wanted}"]
    if config is None:
        return [f"apache2 accepted; capplan refused: {error}"]
    wanted_warnings = [m for m in _AH_LINE.findall(output) if m[0] not in ("AH00558",)]
    got_warnings = [(w.code, w.message) for w in config.warnings]
    problems = []
    if got_warnings != wanted_warnings:
        problems.append(f"warnings: got {got_warnings}, wanted {wanted_warnings}")
    values = effective_values(config)
    for name, value in _announced_values([m for _, m in wanted_warnings]).items():
        if name in ("StartServers",):
            continue  # capped at run time by the process limit (a silent adjustment)
        if values[name] != value:
            problems.append(f"{name}: capplan {values[name]}, httpd announced {value}")
    return problems


@pytest.mark.apache
def test_random_settings_match_apache2_t(apache2: str, tmp_path: Path) -> None:
    cases = _cases()
    assert len(cases) >= 200

    def check(indexed: tuple[int, Case]) -> tuple[Case, str, list[str]]:
        index, case = indexed
        conf = _write(tmp_path / f"c{index}", case)
        rc, output = configtest(conf)
        return case, output, _compare(conf, rc, output)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(check, enumerate(cases)))
    failures = [
        f"{case.ident} {list(case.lines)}: " + "; ".join(problems)
        for case, _, problems in results
        if problems
    ]
    assert not failures, "\n".join(failures[:10])
    # The sample must exercise clamping and refusals, not just quiet configs.
    outputs = [output for _, output, _ in results]
    assert sum("WARNING" in output for output in outputs) > COMBINATIONS // 2
    assert sum("Syntax error" in output for output in outputs) > 10


# (mpm, directives): one per MPM without clamping and one with.
SCOREBOARD_CASES: list[tuple[str, Mpm, tuple[str, ...]]] = [
    ("prefork-plain", Mpm.prefork, ("StartServers 2", "MaxRequestWorkers 7")),
    ("prefork-clamped", Mpm.prefork, ("StartServers 2", "ServerLimit 5", "MaxRequestWorkers 9")),
    ("worker-plain", Mpm.worker, ("StartServers 1", "ThreadsPerChild 4", "MaxRequestWorkers 12")),
    ("worker-clamped", Mpm.worker,
     ("StartServers 1", "ThreadsPerChild 4", "MaxRequestWorkers 30", "ServerLimit 3")),
    ("event-plain", Mpm.event, ("StartServers 1", "ThreadsPerChild 5", "MaxRequestWorkers 15")),
    ("event-clamped", Mpm.event, ("StartServers 1", "ThreadLimit 3", "MaxRequestWorkers 10")),
]  # fmt: skip


@pytest.mark.apache
@pytest.mark.parametrize(
    ("mpm", "lines"), [c[1:] for c in SCOREBOARD_CASES], ids=[c[0] for c in SCOREBOARD_CASES]
)
def test_scoreboard_length_is_effective_workers(
    apache2: str, tmp_path: Path, mpm: Mpm, lines: tuple[str, ...]
) -> None:
    port = free_port()
    prepare_root(tmp_path)
    head = base_config(tmp_path, mpm, port, extra_modules=("status",))
    head += "<Location /server-status>\n    SetHandler server-status\n</Location>\n"
    conf = tmp_path / "conf" / "httpd.conf"
    conf.write_text(head + "\n".join(lines) + "\n")
    config = load_effective_config(conf, somaxconn=4096)
    with running_server(tmp_path, conf, port) as server:
        status = server.status()
    scoreboard = re.search(r"^Scoreboard: (\S+)$", status, re.MULTILINE)
    assert scoreboard is not None, status
    assert len(scoreboard.group(1)) == config.settings.workers


@pytest.mark.apache
def test_installed_debian_tree_mpm_matches_apache2ctl(apache2: str) -> None:
    """The package's own /etc/apache2, read only: capplan's MPM is what `apache2ctl -V` says."""
    conf = Path("/etc/apache2/apache2.conf")
    if not conf.is_file():
        pytest.skip("no /etc/apache2 tree")
    # apache2ctl sources envvars and prepares the run directory, as for a real start.
    control = shutil.which("apache2ctl") or "/usr/sbin/apache2ctl"
    proc = subprocess.run(
        [control, "-V"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    wanted = re.search(r"^Server MPM:\s+(\w+)$", proc.stdout, re.MULTILINE)
    assert wanted is not None, proc.stdout + proc.stderr
    config = load_effective_config(conf)
    assert config.mpm == wanted.group(1)
    assert config.layout == "debian"
