"""Running Debian's real php-fpm for tests: `php-fpm -tt` as the oracle for pool parsing.

Every run gets its own config, prefix, PID and log files under a temporary directory; /etc/php is
never read or written (`-n` skips php.ini).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def running_fpm(binary: str, root: Path, pool: str, *, name: str = "www") -> Iterator[Path]:
    """A php-fpm master in the foreground with one pool `[name]` (its `pool` lines) listening on
    ROOT/fpm.sock; yields the pool file. Stopped by its PID (SIGQUIT, then SIGKILL)."""
    root.mkdir(parents=True, exist_ok=True)
    user = "www-data" if os.geteuid() == 0 else ""
    conf = root / "php-fpm.conf"
    conf.write_text(
        f"[global]\npid = {root}/fpm.pid\nerror_log = {root}/fpm.log\ndaemonize = no\n"
        f"[{name}]\n" + (f"user = {user}\n" if user else "") + f"listen = {root}/fpm.sock\n"
        f"listen.mode = 0666\n{pool}\n"
    )
    proc = subprocess.Popen(
        [binary, "-n", "-F", "-y", str(conf), "-p", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not (root / "fpm.sock").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (root / "fpm.log").read_text() if (root / "fpm.log").exists() else ""
                raise AssertionError(f"php-fpm did not start: {log}")
            time.sleep(0.05)
        yield conf
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
