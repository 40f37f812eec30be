"""Helpers shared by the command modules: output formats, -D parsing, writing results."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import click
import typer

from capplan.errors import CapplanError, escape_controls
from capplan.mpm_names import EventModel
from capplan.render.formats import REPORT_FORMATS, TEXT_FORMATS, OutputFormat


def format_option(formats: Sequence[OutputFormat], help_text: str) -> typer.models.OptionInfo:
    """`--format`, offering only `formats` (the command's subset of `OutputFormat`)."""
    option: typer.models.OptionInfo = typer.Option(
        "--format", click_type=click.Choice([f.value for f in formats]), help=help_text
    )
    return option


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


def emit(text: str, output: Path | None, *, inputs: Sequence[Path | str] = ()) -> None:
    """Print `text`, or write it to `output` the way the shell's `> FILE` would, but atomically.

    A regular file (or a new name) is replaced atomically through a temporary file beside it
    that takes over the old file's mode and, when capplan may set them, its owner and group; a
    symlink is followed to the file it names. Anything else (a device such as /dev/null, a FIFO,
    a terminal) is opened and written in place, as `>` does. `inputs` are files this run reads:
    writing onto one of them is refused before anything is written. Nothing is left behind on
    failure.
    """
    if not text.endswith("\n"):
        text += "\n"
    # Config lines and profile names reach reports verbatim: escape what could drive a
    # terminal, in a form that keeps a JSON report valid and meaning the same.
    text = escape_controls(text, json_safe=True)
    if output is None:
        typer.echo(text, nl=False)
        return
    data = text.encode("utf-8")
    target = Path(os.path.realpath(output.expanduser()))
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise CapplanError(f"{output}: cannot write: {exc.strerror}") from exc
    if info is not None:
        _refuse_inputs(output, info, inputs)
        if not os.access(target, os.W_OK, effective_ids=os.access in os.supports_effective_ids):
            raise CapplanError(f"{output}: cannot write: Permission denied")
    if info is not None and not stat.S_ISREG(info.st_mode):
        if stat.S_ISDIR(info.st_mode):
            raise CapplanError(f"{output}: cannot write: Is a directory")
        _write_in_place(output, target, data)
        return
    _replace(output, target, data, info)


def check_output(output: Path | None, inputs: Sequence[Path | str | None]) -> None:
    """Refuse, before any work, an `--output` that names one of this run's input files."""
    if output is None:
        return
    try:
        info = os.stat(output.expanduser())
    except (OSError, ValueError):
        return
    _refuse_inputs(output, info, [source for source in inputs if source is not None])


def _refuse_inputs(output: Path, info: os.stat_result, inputs: Sequence[Path | str]) -> None:
    for source in inputs:
        try:
            other = os.stat(source)
        except (OSError, ValueError):
            continue
        if (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino) and stat.S_ISREG(
            info.st_mode
        ):
            raise CapplanError(f"{output}: refusing to write onto {source}, an input of this run")


def _write_in_place(output: Path, target: Path, data: bytes) -> None:
    """`> FILE` for what is not a regular file: open (O_NONBLOCK so a FIFO without a reader
    fails instead of hanging), then write everything."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise CapplanError(f"{output}: cannot write: {exc.strerror}") from exc
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise CapplanError(f"{output}: cannot write: {exc.strerror}") from exc
    finally:
        os.close(fd)


def _replace(output: Path, target: Path, data: bytes, info: os.stat_result | None) -> None:
    """Atomic replace of a regular file (or creation of a new one) keeping mode and owner.

    A file with other hard links, or owned by someone capplan cannot give it back to, keeps its
    inode: it is truncated and written like `>` does (replacing would split the link or change
    the owner).
    """
    if info is not None and (
        info.st_nlink > 1
        or ((info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()) and os.geteuid() != 0)
    ):
        _write_in_place_regular(output, target, data)
        return
    try:
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise CapplanError(f"{output}: cannot write: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if info is None:
                # A new file gets what `>` would give it: 0666 less the umask.
                mask = os.umask(0o022)
                os.umask(mask)
                os.fchmod(fh.fileno(), 0o666 & ~mask)
            else:
                if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(fh.fileno(), info.st_uid, info.st_gid)
                os.fchmod(fh.fileno(), stat.S_IMODE(info.st_mode))
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CapplanError(f"{output}: cannot write: {exc.strerror}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_in_place_regular(output: Path, target: Path, data: bytes) -> None:
    try:
        with open(target, "r+b") as fh:
            fh.write(data)
            fh.truncate()
    except OSError as exc:
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
FormatOption = Annotated[OutputFormat, format_option(TEXT_FORMATS, "table, markdown or json.")]
ReportFormatOption = Annotated[
    OutputFormat,
    format_option(
        REPORT_FORMATS,
        "table, markdown, json, or html (one self-contained page with charts; needs the "
        "capplan[html] extra).",
    ),
]
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
FpmPoolOption = Annotated[
    Path | None,
    typer.Option(
        "--fpm-pool",
        metavar="FILE",
        help="php-fpm pool file or php-fpm.conf behind httpd (default: the pool in Debian's or "
        "RHEL's php-fpm config that listens where the config's SetHandler or ProxyPassMatch "
        "sends PHP); PHP-FPM is sized with httpd when given or when the profile has php:.",
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
EventModelOption = Annotated[
    EventModel,
    typer.Option(
        "--event-model",
        help="event's model: closed-form (milliseconds) or chain, the per-child Markov chain with "
        "the shared accept queue, closer to a real httpd at the connection limit and under kill "
        "episodes (about a second per evaluation; recommend sizes event's process count with "
        "it, while sustainable rates and the other settings proposed stay closed-form).",
    ),
]


def require_html() -> None:
    """`--format html` needs matplotlib (the `capplan[html]` extra): say so before any work."""
    from capplan.render.html import ensure_matplotlib

    ensure_matplotlib()
