"""The progress bar: silent off a terminal and during the first second, then one line on stderr."""

from __future__ import annotations

import pytest

from capplan.cli.profile_cmd import _ProgressBar


def test_silent_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    bar = _ProgressBar()
    assert not bar.enabled  # pytest captures stderr: not a TTY
    bar.started -= 5.0
    bar(50, 100)
    bar.close()
    assert capsys.readouterr().err == ""


def test_draws_after_the_first_second(capsys: pytest.CaptureFixture[str]) -> None:
    bar = _ProgressBar()
    bar.enabled = True  # as on a terminal
    bar(10, 100)
    assert capsys.readouterr().err == ""  # within the first second: nothing
    bar.started -= 2.0
    bar(50, 100)
    err = capsys.readouterr().err
    assert err.startswith("\r[###############")
    assert "50.0%" in err
    bar.close()
    assert capsys.readouterr().err.strip() == ""
