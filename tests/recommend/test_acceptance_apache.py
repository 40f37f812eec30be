"""Every recommended snippet, spliced into each shipped example, passes the real `apache2 -t` with
no AH warning, and `capplan check` on the result, at the rate plus the recommendation's headroom,
agrees with the recommendation (a "keep" is checked as the config stands).

Splicing does what the placement advice says an admin does: the MPM directives are removed
wherever the config set them, the MPM module is switched (Debian: `a2dismod`/`a2enmod` as links in
mods-enabled/; RHEL and upstream: the one uncommented LoadModule line), the block goes into the
advised file, and changed keep-alive directives replace their line (or are appended to the main
file when httpd's default applied).
"""

from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from capplan.advice import Report
from capplan.pipeline import check_report, recommend_report
from capplan.snippet import MPM_BLOCK_ORDER
from tests.httpd import MODULE_DIR
from tests.recommend.examples import EXAMPLE_NAMES, prepare
from tests.recommend.profiles import PROFILES_DIR

PROFILES = sorted(PROFILES_DIR.glob("*.yaml"))
AH_CODE = re.compile(r"AH\d{5}")
MPM_LINE = re.compile(r"^\s*(" + "|".join(MPM_BLOCK_ORDER) + r")\s", re.IGNORECASE | re.MULTILINE)
LOADMODULE_MPM = re.compile(r"^(\s*LoadModule\s+mpm_\w+_module\s.*)$", re.MULTILINE)


def _strip_mpm_directives(tree: Path) -> None:
    for path in tree.rglob("*.conf"):
        if path.is_symlink() or not path.is_file():
            continue
        text = path.read_text()
        kept = "".join(line for line in text.splitlines(keepends=True) if not MPM_LINE.match(line))
        if kept != text:
            path.write_text(kept)


def _switch_module(tree: Path, report: Report, new: str) -> None:
    config = report.config
    assert config is not None
    if config.layout == "debian":
        enabled, available = tree / "mods-enabled", tree / "mods-available"
        for old in enabled.glob("mpm_*"):
            old.unlink()
        load = available / f"mpm_{new}.load"
        if not load.exists():
            load.write_text(
                f"LoadModule mpm_{new}_module /usr/lib/apache2/modules/mod_mpm_{new}.so\n"
            )
        (available / f"mpm_{new}.conf").touch()
        for suffix in ("load", "conf"):  # what a2enmod does
            (enabled / f"mpm_{new}.{suffix}").symlink_to(available / f"mpm_{new}.{suffix}")
        return
    if new == config.mpm:
        return
    for path in tree.rglob("*.conf"):
        text = path.read_text()
        found = LOADMODULE_MPM.search(text)
        if found:
            # The new line takes the old one's place: <IfModule> tests later in the file (and in
            # files included after it) must see the module loaded.
            loaded = f"LoadModule mpm_{new}_module modules/mod_mpm_{new}.so\n"
            commented = LOADMODULE_MPM.sub(r"#\1", text)
            start = found.start()
            path.write_text(commented[:start] + loaded + commented[start:])
            return
    raise AssertionError("no LoadModule line for the MPM")


def _splice(tree: Path, report: Report) -> None:
    rec, config = report.recommendation, report.config
    assert rec is not None
    assert rec.placement is not None
    assert rec.mpm is not None
    assert config is not None
    # Keep-alive lines first, while the line numbers of the provenance still hold.
    for name, value in rec.main_server_changes:
        where = config.source_of(name)
        if where is None or where.line <= 0:
            with Path(config.path).open("a") as handle:
                handle.write(f"\n{name} {value}\n")
            continue
        lines = Path(where.path).read_text().splitlines(keepends=True)
        assert lines[where.line - 1].split()[0].lower() == name.lower()
        lines[where.line - 1] = f"{name} {value}\n"
        Path(where.path).write_text("".join(lines))
    _strip_mpm_directives(tree)
    _switch_module(tree, report, rec.mpm)
    block = rec.snippet.split("# main server config")[0]
    target = Path(rec.placement.snippet_file)
    if config.layout == "debian" and rec.mpm != config.mpm:
        target.write_text(block)  # "Replace the directives in mods-available/mpm_X.conf"
    else:
        with target.open("a") as handle:
            handle.write("\n" + block)


@dataclass(frozen=True)
class Outcome:
    case: str
    code: int
    output: str
    snippet: str
    meets_targets: bool
    check: Report | None
    kept: bool = False


def _run(case: tuple[str, Path], tmp: Path) -> Outcome:
    example, profile = case
    name = f"{example}-{profile.stem}"
    tree, conf, command = prepare(example, tmp / name)
    report = recommend_report(str(conf), str(profile), somaxconn=4096)
    rec = report.recommendation
    assert rec is not None
    if rec.mpm is None:
        return Outcome(name, 0, "", "", False, None)
    if rec.action != "keep":  # "keep": nothing to paste, the config as it is must pass
        _splice(tree, report)
    env = {k: v for k, v in os.environ.items() if not k.startswith("APACHE_")}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    # The recommendation is sized with 25 % headroom: `check` at 1.25 × the rate agrees.
    check = check_report(str(conf), str(profile), somaxconn=4096, headroom=report.headroom)
    return Outcome(
        name,
        proc.returncode,
        proc.stderr + proc.stdout,
        rec.snippet,
        rec.meets_targets,
        check,
        kept=rec.action == "keep",
    )


@pytest.mark.apache
def test_every_snippet_passes_apache2_and_capplan_check(apache2: str, tmp_path: Path) -> None:
    assert MODULE_DIR.is_dir()
    cases = [(example, profile) for example in EXAMPLE_NAMES for profile in PROFILES]
    assert len(cases) >= 18
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda case: _run(case, tmp_path), cases))
    problems = []
    for outcome in outcomes:
        if outcome.check is None:
            problems.append(f"{outcome.case}: no recommendation at all")
            continue
        # A kept config keeps its own warnings (the report names them); a snippet has none.
        if outcome.code != 0 or (AH_CODE.search(outcome.output) and not outcome.kept):
            problems.append(f"{outcome.case}: apache2 -t said\n{outcome.output}\n{outcome.snippet}")
        if outcome.check.verdict.ok != outcome.meets_targets:
            problems.append(
                f"{outcome.case}: check verdict {outcome.check.verdict} but the recommendation "
                f"says meets_targets={outcome.meets_targets}"
            )
    assert problems == []
    assert sum(o.meets_targets for o in outcomes) >= len(outcomes) // 2
