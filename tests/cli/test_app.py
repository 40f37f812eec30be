"""The CLI's error translation: usage errors exit 2 with one line, never a traceback."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

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


def _command_names() -> list[str]:
    from typer.main import get_command

    from capplan.cli.app import app

    group = get_command(app)
    assert isinstance(group, click.Group)
    return sorted(group.commands)


@pytest.mark.parametrize("name", _command_names())
def test_a_command_runs_alone_with_the_same_help_and_errors(name: str) -> None:
    """`main` builds only the command it runs; its help and usage errors read as the whole
    application's do."""
    from typer.main import get_command

    from capplan.cli.app import _app_for, app

    narrow = get_command(_app_for([name, "--help"]))
    assert isinstance(narrow, click.Group)
    assert sorted(narrow.commands) == [name]
    whole = get_command(app)
    runner = CliRunner()
    for args in ([name, "--help"], [name, "--no-such-option"]):
        alone = runner.invoke(narrow, args, prog_name="capplan")
        full = runner.invoke(whole, args, prog_name="capplan")
        assert (alone.exit_code, alone.output) == (full.exit_code, full.output), args


def test_the_whole_application_serves_what_names_no_command() -> None:
    from capplan.cli.app import _app_for, app

    for args in ([], ["--help"], ["--version"], ["no-such-command"], ["recommend2"]):
        assert _app_for(args) is app
