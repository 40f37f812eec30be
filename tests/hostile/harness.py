"""Running capplan as a user would, in a subprocess with a memory ceiling and a time limit.

`run()` starts `python -c "from capplan.cli import run; run()"` with RLIMIT_AS set (so a
MemoryError or a leak shows as such, not as a slow machine), a wall-clock limit, and optionally
a closed standard input; it returns the exit code, both streams and the elapsed time.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Python with typer, yaml, numpy and scipy loaded maps about 150 MB; 400 MB leaves a
# working margin well below what any of the defects of issue 14 needed.
DEFAULT_MEMORY_MB = 400
DEFAULT_SECONDS = 20.0


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def first_line(self) -> str:
        """The first line of stderr (the error), else of stdout."""
        text = self.err if self.err.strip() else self.out
        return text.splitlines()[0] if text.strip() else ""


def _limits(memory_mb: int, close_stdin: bool) -> Callable[[], None]:
    def apply() -> None:
        limit = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if close_stdin:
            os.close(0)

    return apply


def run(
    args: Sequence[str],
    *,
    cwd: Path,
    memory_mb: int = DEFAULT_MEMORY_MB,
    seconds: float = DEFAULT_SECONDS,
    stdin: bytes | None = None,
    close_stdin: bool = False,
    env: dict[str, str] | None = None,
) -> Run:
    """capplan `args` in `cwd`; fails the test when it runs longer than `seconds`."""
    environment = {**os.environ, "LANG": "C.UTF-8", **(env or {})}
    environment.pop("COLUMNS", None)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", "from capplan.cli import run; run()", *args],
        cwd=cwd,
        input=stdin,
        stdin=None if stdin is not None or close_stdin else subprocess.DEVNULL,
        capture_output=True,
        timeout=seconds,
        env=environment,
        preexec_fn=_limits(memory_mb, close_stdin),
        check=False,
    )
    elapsed = time.monotonic() - started
    return Run(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
        elapsed,
    )


def assert_error(result: Run, code: int, first_line: str) -> None:
    """Exit `code` with exactly `first_line` first, and no traceback."""
    assert (result.code, result.first_line) == (code, first_line), result.err[-2000:]
    assert "Traceback" not in result.err
