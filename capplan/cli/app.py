"""The typer application and the one place where exceptions become exit codes.

Exit codes (README.md): 0 success, 1 a check failed, 2 bad input, 3 internal error.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
from collections.abc import Sequence
from typing import Annotated

import click

from capplan.errors import CapplanError, escape_controls
from capplan.runtime import command_runtime

# typer imports rich whenever rich is installed (~0.1 s, on every command, even for plain help).
# capplan's help and errors are plain text, so hide rich while typer is imported: typer's own
# ImportError fallback then applies. rich itself stays importable for everyone else.
_saved_rich = sys.modules.get("rich")
sys.modules["rich"] = None  # type: ignore[assignment]
try:
    import typer
finally:
    if _saved_rich is None:
        del sys.modules["rich"]
    else:
        sys.modules["rich"] = _saved_rich

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3

# What to do about a missing required option, said with the usage error.
_MISSING_HINTS = {
    "profile": (
        " Give a YAML file or a shipped profile's name (`capplan profiles` lists them), or derive"
        " one from access logs with `capplan profile access.log > ours.yaml`."
    ),
}

app = typer.Typer(
    name="capplan",
    help="Capacity planner for Apache httpd (prefork, worker, event).",
    no_args_is_help=True,
    add_completion=False,
    # Plain help text (typer-slim has no rich): rich would double every command's start-up.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code instead of exiting (used by tests and `run`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with command_runtime():
            result = _app_for(args)(args=args, prog_name="capplan", standalone_mode=False)
    except click.ClickException as exc:
        # Usage errors (unknown option, bad value, missing argument) arrive here as one class
        # tree; `capplan` alone asks for help, everything else is one line and exit 2.
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())
            return EXIT_OK
        command = ctx.command_path if ctx is not None else "capplan"
        message = " ".join(exc.format_message().split())
        param = getattr(exc, "param", None)
        if isinstance(exc, click.MissingParameter) and param is not None:
            message += _MISSING_HINTS.get(param.name or "", "")
        typer.echo(escape_controls(f"{command}: error: {message}"), err=True)
        return EXIT_BAD_INPUT
    except click.Abort:
        typer.echo("capplan: aborted", err=True)
        return 130
    except CapplanError as exc:
        typer.echo(exc.render(), err=True)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return EXIT_OK
    except MemoryError:
        # Formatting a traceback allocates; after a MemoryError it may fail again. Nothing
        # beyond this fixed line is built.
        _last_resort("capplan: internal error: out of memory")
        return EXIT_INTERNAL
    except Exception as exc:  # the single last-resort handler; typer's exits never get here
        try:
            summary = _one_line(f"{type(exc).__name__}: {exc}")
        except BaseException:  # a broken __str__ must not turn exit 3 into 1
            summary = "(the error could not be formatted)"
        _last_resort(f"capplan: internal error, please report: {summary}")
        return EXIT_INTERNAL
    if isinstance(result, int):
        return result
    return EXIT_OK


def _app_for(args: Sequence[str]) -> typer.Typer:
    """The application with only the command `args` runs, when they name one.

    typer builds every command's click parameters from its signature on each run (about 30 ms
    for all eleven, 4 ms for one): a run of one command needs only that one. The group, its
    `--version` and the command's help, usage and errors are the same; anything else (no
    command, an unknown one, `--help` of the group) gets the whole application.
    """
    from typer.main import get_command_name

    if not args:
        return app
    chosen = [
        info
        for info in app.registered_commands
        if info.callback is not None
        and (info.name or get_command_name(info.callback.__name__)) == args[0]
    ]
    if len(chosen) != 1:
        return app
    narrow = copy.copy(app)
    narrow.registered_commands = chosen
    return narrow


def _one_line(text: str) -> str:
    """The first line of `text`, control characters escaped, at most 300 characters."""
    first = text.strip().split("\n", 1)[0]
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in first[:300])
    return shown + ("…" if len(first) > 300 else "")


def _last_resort(line: str) -> None:
    """Write one line to stderr with as little allocation as possible; never raise.

    Through sys.stderr first (where callers and tests look); if even that fails, straight to
    file descriptor 2.
    """
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except BaseException:
        # stderr closed or full: the exit code still tells what happened.
        with contextlib.suppress(BaseException):
            os.write(2, line.encode("utf-8", "backslashreplace") + b"\n")


def run() -> None:
    """Console-script entry point: always exits 0-3 or 130, even when memory runs out."""
    try:
        code = main()
    except MemoryError:
        # Raised again outside main()'s handlers (typer's own wrapping, or the handler itself).
        _last_resort("capplan: internal error: out of memory")
        code = EXIT_INTERNAL
    except KeyboardInterrupt:
        code = 130
    except Exception:  # an error while reporting an error: still one line and exit 3
        _last_resort("capplan: internal error while reporting an error")
        code = EXIT_INTERNAL
    sys.exit(code)


def _version_callback(value: bool) -> None:
    if value:
        from capplan import package_version

        typer.echo(f"capplan {package_version()}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_version_callback,
            help="Print capplan's version and exit.",
        ),
    ] = False,
) -> None:
    """Capacity planner for Apache httpd: prefork, worker and event, from the real config."""
