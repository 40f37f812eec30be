"""Shared fixtures: real apache2 and chromium (required in CI, skipped elsewhere when absent)."""

from __future__ import annotations

import os

import pytest

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
