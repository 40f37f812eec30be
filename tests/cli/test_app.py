"""The CLI's error translation: usage errors exit 2 with one line, never a traceback."""

from __future__ import annotations

import pytest

from capplan.cli import main


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "No such command" in err
    assert "Traceback" not in err


def test_no_arguments_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "Usage" in capsys.readouterr().out
