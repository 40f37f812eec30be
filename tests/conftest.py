"""Shared fixtures: the real apache2 binary (required in CI, skipped elsewhere when absent)."""

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
