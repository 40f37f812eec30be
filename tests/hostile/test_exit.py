"""Exit codes of internal errors: 3 with one line, even when memory runs out or the error
cannot be formatted — never 1 (which a CI gate reads as "target missed")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_DRIVER = """
import sys
import capplan.profile

KIND = sys.argv.pop(1)

class Unprintable(Exception):
    def __str__(self):
        raise MemoryError

def fail(*args, **kwargs):
    if KIND == "memory":
        raise MemoryError
    if KIND == "unprintable":
        raise Unprintable()
    raise ZeroDivisionError("float division by zero")

capplan.profile.profile_json_schema_text = fail
from capplan.cli import run
run()
"""


@pytest.mark.parametrize(
    ("kind", "line"),
    [
        ("memory", "capplan: internal error: out of memory"),
        ("unprintable", "capplan: internal error, please report: (the error could not be "
                        "formatted)"),
        ("zero", "capplan: internal error, please report: ZeroDivisionError: float division by "
                 "zero"),
    ],
)  # fmt: skip
def test_item01_internal_errors_exit_3_with_one_line(kind: str, line: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, kind, "schema"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (3, line + "\n")
    assert proc.stdout == ""


def test_item01_memory_error_under_a_real_ceiling() -> None:
    """A real MemoryError: 1 GiB asked for under a ceiling 60 MB above what is mapped."""
    driver = (
        "import resource, sys\n"
        "from capplan.cli import run\n"
        "import capplan.profile, yaml, numpy, scipy.special\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_AS)\n"
        "used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (used + (60 << 20), hard))\n"
        "capplan.profile.profile_json_schema_text = lambda: bytearray(1 << 30)\n"
        "run()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", driver, "schema"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (3, "capplan: internal error: out of memory\n")


def test_item01_a_hundred_million_event_workers_fit_in_bounded_memory(tmp_path: Path) -> None:
    """httpd accepts this config (with warnings); the event model's slot sums used to build
    lists as long as MaxRequestWorkers and ran out of memory. Now they span only the terms binary64
    can add, about sqrt(load) long: the check runs to its verdict within 400 MB."""
    from tests.hostile.harness import run
    from tests.httpd import MODULE_DIR

    conf = tmp_path / "httpd.conf"
    conf.write_text(
        f'ServerRoot "{tmp_path}"\n'
        f"LoadModule mpm_event_module {MODULE_DIR}/mod_mpm_event.so\n"
        + "".join(
            f"{name} 99999999\n"
            for name in ("ServerLimit", "ThreadLimit", "ThreadsPerChild", "MaxRequestWorkers")
        )
    )
    result = run(
        ["check", str(conf), "-p", "static-site", "--format", "json"], cwd=tmp_path, seconds=20
    )
    assert result.code == 1, result.err[-2000:]  # the worst-case memory misses its target
    assert "Traceback" not in result.err
    report = json.loads(result.out)
    # ThreadLimit and ThreadsPerChild clamp to 100,000 (AH00502/AH00504), MaxRequestWorkers
    # rounds down to 999 processes of them (AH00513).
    assert report["mpms"]["event"]["workers"] == 99_900_000
