"""Running Debian's real php-fpm for tests: `php-fpm -tt` as the oracle for pool parsing.

Every run gets its own config, prefix, PID and log files under a temporary directory; /etc/php is
never read or written (`-n` skips php.ini).
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
from pathlib import Path

_ENTRY = re.compile(r"NOTICE:\s+(\S+) = (.*)$")
_SECTION = re.compile(r"NOTICE: \[(.+)\]$")


def php_fpm_binary() -> str | None:
    """Path of Debian's php-fpm (`php-fpmX.Y` in /usr/sbin), or None when it is not installed."""
    for name in ("php-fpm", *(Path(p).name for p in sorted(glob.glob("/usr/sbin/php-fpm*")))):
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin")
        if found:
            return found
    return None


def tt_values(
    binary: str, config: Path, prefix: Path, env: dict[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """`php-fpm -tt`'s parsed values: section name → {key: value as php-fpm prints it}.

    Raises AssertionError with php-fpm's output when it refuses the config.
    """
    run = subprocess.run(
        [binary, "-n", "-tt", "-y", str(config), "-p", str(prefix)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env or {},
        check=False,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in out.splitlines():
        section = _SECTION.search(line)
        if section is not None:
            current = sections.setdefault(section.group(1), {})
            continue
        entry = _ENTRY.search(line)
        if entry is not None:
            current[entry.group(1)] = entry.group(2)
    return sections


def tt_error(binary: str, config: Path, prefix: Path) -> str:
    """php-fpm's first ERROR or ALERT line for a config it refuses (the message after the tag)."""
    run = subprocess.run(
        [binary, "-n", "-tt", "-y", str(config), "-p", str(prefix)],
        capture_output=True,
        text=True,
        timeout=30,
        env={},
        check=False,
    )
    assert run.returncode != 0, run.stdout + run.stderr
    for line in (run.stdout + run.stderr).splitlines():
        found = re.search(r"(?:ERROR|ALERT): (.*)$", line)
        if found is not None:
            return found.group(1)
    raise AssertionError(run.stdout + run.stderr)
