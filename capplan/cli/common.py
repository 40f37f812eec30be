"""Helpers shared by the command modules: output formats, -D parsing, writing results."""

from __future__ import annotations

import enum
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from capplan.errors import CapplanError


class Format(enum.StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def parse_defines(values: list[str] | None) -> dict[str, str]:
    """`-D NAME` or `-D NAME=VALUE`, as httpd's own `-D` (a bare name defines an empty value)."""
    defines: dict[str, str] = {}
    for raw in values or []:
        name, _, value = raw.partition("=")
        if not name:
            raise CapplanError(f"-D {raw!r}: a define needs a name")
        if ":" in name:
            raise CapplanError(f"-D {raw!r}: Variable name must not contain ':'")
        defines[name] = value
    return defines


def emit(text: str, output: Path | None) -> None:
    """Print `text`, or write it atomically to `output` (nothing is left behind on failure)."""
    if not text.endswith("\n"):
        text += "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    target = output.expanduser()
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise CapplanError(f"{output}: cannot write: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        Path(tmp).replace(target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CapplanError(f"{output}: cannot write: {exc.strerror}") from exc


# Options several commands share, spelled once (recommend, check, compare).
DefinesOption = Annotated[
    list[str] | None,
    typer.Option("-D", "--define", metavar="NAME[=VALUE]", help="Like httpd's -D."),
]
SomaxconnOption = Annotated[
    int | None,
    typer.Option(min=1, metavar="N", help="net.core.somaxconn (default: this machine's)."),
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]
FormatOption = Annotated[Format, typer.Option("--format", help="table, markdown or json.")]
_PROFILE_HELP = "Traffic profile: a YAML file, or a shipped profile's name (`capplan profiles`)."
ProfileOption = Annotated[
    str | None, typer.Option("-p", "--profile", metavar="PROFILE", help=_PROFILE_HELP)
]
RequiredProfileOption = Annotated[
    str, typer.Option("-p", "--profile", metavar="PROFILE", help=_PROFILE_HELP)
]


def profile_path(argument: str | None) -> str | None:
    """A `-p` argument as the file to load: a path as given, or a shipped profile's file."""
    if argument is None:
        return None
    from capplan.catalog import resolve_profile

    return resolve_profile(argument)
SystemConfigArgument = Annotated[
    Path | None,
    typer.Argument(
        metavar="[CONFIG]",
        help="Main httpd config file; default: the one this machine's httpd reads (apachectl -V, "
        "then the Debian, RHEL and upstream paths; httpd's defaults when there is none).",
        show_default=False,
    ),
]
HeadroomOption = Annotated[
    float | None,
    typer.Option(
        "--headroom",
        metavar="FRACTION",
        help="Growth the targets must absorb: 0.25 = they hold at 1.25 × the profile's rate "
        "(default: the profile's targets.headroom, else 0.25 for recommend and 0 for check).",
    ),
]
