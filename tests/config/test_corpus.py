"""Differential corpus: capplan's directive stream against what the real httpd reads.

Every case under tests/data/config/cases/ (valid configs) and tests/data/config/bad/ (one failure
mode per file) carries httpd's own observation, recorded by tests/data/config/regen.py from
`apache2 -t -D DUMP_CONFIG / DUMP_INCLUDES / DUMP_RUN_CFG`. The plain tests compare capplan with
the recording; the `apache` tests re-run httpd and compare all three.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from capplan.config.fs import RealFileSystem
from tests.data.config import regen

SOURCES = regen.all_cases()
CASES = [s for s in SOURCES if s.parent == regen.CASES]
BAD = [s for s in SOURCES if s.parent == regen.BAD]


class _Unreadable(RealFileSystem):
    """The disk, except that one file refuses to be read, as after `chmod 000` for non-root."""

    def __init__(self, denied: Path) -> None:
        self._denied = str(denied)

    def read_bytes(self, path: str) -> bytes:
        if path == self._denied:
            raise PermissionError(13, "Permission denied", path)
        return super().read_bytes(path)


def _observe(source: Path, tmp_path: Path) -> regen.Observation:
    root = tmp_path / "root"
    main = regen.materialise(source, root)
    fs = None
    if source.name == "unreadable.conf":
        secret = root / "secret.conf"
        secret.write_text("Timeout 5\n")
        if os.geteuid() != 0:
            secret.chmod(0)
        else:
            fs = _Unreadable(secret)
    return regen.observe_capplan(main, root, regen.case_defines(source), fs)


def _expected(source: Path) -> regen.Observation:
    recorded: regen.Observation = json.loads(regen.expected_path(source).read_text())
    recorded.pop("httpd_skip", None)
    return recorded


def test_corpus_size() -> None:
    assert len(CASES) >= 30
    assert len(BAD) >= 14


@pytest.mark.parametrize("source", CASES, ids=lambda s: s.name)
def test_case_matches_httpd_recording(source: Path, tmp_path: Path) -> None:
    assert _observe(source, tmp_path) == _expected(source)


@pytest.mark.parametrize("source", BAD, ids=lambda s: s.stem)
def test_bad_input_first_error_line(source: Path, tmp_path: Path) -> None:
    expected = _expected(source)
    observed = _observe(source, tmp_path)
    assert observed["error"] == expected["error"]
    if expected["error"] is None:  # a warning, not an error (undefined ${VAR})
        assert observed == expected
        assert observed["warnings"]


@pytest.mark.apache
@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_httpd_agrees(source: Path, apache2: str) -> None:
    """httpd still reads the case as recorded, and capplan reads it as httpd does."""
    if "httpd_skip" in json.loads(regen.expected_path(source).read_text()):
        pytest.skip("httpd cannot show this failure mode here (see the case's httpd_skip)")
    # A short root like regen.py's: httpd truncates very long error lines (include-cycle).
    with tempfile.TemporaryDirectory(prefix="cc") as tmp:
        _agree(source, Path(tmp), apache2)


def _agree(source: Path, root: Path, apache2: str) -> None:
    main = regen.materialise(source, root)
    observed = regen.observe_httpd(apache2, main, root, regen.case_defines(source))
    assert observed == _expected(source)
    capplan = regen.observe_capplan(main, root, regen.case_defines(source))
    if observed["error"] is None:
        assert capplan == observed
    else:
        assert capplan["error"] == observed["error"]
