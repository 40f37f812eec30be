"""Shared fixtures: real apache2, chromium, php-fpm and tcpdump (required in CI, skipped elsewhere
when absent)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from capplan.measure.procfs import ProcFS, ProcReadError, read_status
from tests.httpd import apache2_binary


@pytest.fixture(scope="session")
def apache2() -> str:
    binary = apache2_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("apache2 is required in CI (.ci/run installs Debian's apache2)")
        pytest.skip("apache2 is not installed")
    return binary


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, for the HTML reports' browser tests."""
    import shutil

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed")
    return binary


def _named(proc: subprocess.Popen[bytes], name: str) -> int:
    """`proc`'s PID once `capplan measure` reads it under `name` (`read_status`): Popen can
    return before the kernel shows the exec (about one start in 300 still reads as python on a
    loaded host)."""
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        with contextlib.suppress(ProcReadError):
            if read_status(ProcFS(), proc.pid).name == name:
                return proc.pid
        time.sleep(0.001)
    pytest.fail(f"PID {proc.pid} did not start as {name} within 10 s")


@pytest.fixture
def fake_httpd(tmp_path: Path) -> Iterator[int]:
    """A live process standing in for an httpd parent: `sleep` run under the name httpd."""
    binary = tmp_path / "fake-bin" / "httpd"
    binary.parent.mkdir()
    shutil.copy(shutil.which("sleep") or "/bin/sleep", binary)
    proc = subprocess.Popen([str(binary), "60"])
    try:
        yield _named(proc, "httpd")
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def not_httpd() -> Iterator[int]:
    """A live process that is not httpd: `sleep`, which is not named so and links no APR."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield _named(proc, "sleep")
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def php_fpm() -> str:
    """Debian's php-fpm, the oracle for pool files and the FPM side of the validation."""
    from tests.fpm.phpfpm import php_fpm_binary

    binary = php_fpm_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("php-fpm is required in CI (.ci/run installs Debian's php-fpm)")
        pytest.skip("php-fpm is not installed")
    return binary


@pytest.fixture(scope="session")
def tcpdump() -> str:
    """Debian's tcpdump, for the validation cases that capture their handshakes on lo."""
    binary = shutil.which("tcpdump")
    if binary is None and Path("/usr/bin/tcpdump").exists():  # /usr/sbin may be off the PATH
        binary = "/usr/bin/tcpdump"
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("tcpdump is required in CI (.ci/run installs Debian's tcpdump)")
        pytest.skip("tcpdump is not installed")
    return binary
