"""What `capplan measure` takes from an httpd config: PidFile, the MPM, mod_status and Listen.

Stage: optional input of `capplan measure -c CONFIG`. Input: the main config file. Output:
`ConfigHints`. The full evaluator (`capplan.config.evaluator.evaluate_config`) is used when it is
available; otherwise a small reader follows the main file and its Include/IncludeOptional globs and
keeps only the directives listed here (no <If*> evaluation; the hints say so).
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from capplan.config.types import Directive
from capplan.errors import CapplanError
from capplan.location import Location
from capplan.settings import MPM_NAMES, MpmName

_WANTED = frozenset(
    {"serverroot", "pidfile", "listen", "loadmodule", "sethandler", "include", "includeoptional"}
)
_VAR = re.compile(r"\$\{([^}]+)\}")
_MAX_INCLUDE_DEPTH = 32


@dataclass(frozen=True, slots=True)
class ConfigHints:
    path: str
    pidfile: str | None
    pidfile_location: Location | None
    mpm: MpmName | None
    status_module: bool
    status_handler: bool  # some container has `SetHandler server-status`
    listen: tuple[tuple[str, int], ...]  # (address or "", port), in config order
    warnings: tuple[str, ...]


def _evaluated(path: Path) -> tuple[tuple[Directive, ...], str, tuple[str, ...]] | None:
    try:
        from capplan.config.evaluator import evaluate_config  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    evaluated = evaluate_config(path)
    modules = tuple(
        Directive("LoadModule", (m.identifier, m.path), m.location) for m in evaluated.modules
    )
    return (*evaluated.directives, *modules), evaluated.server_root, ()


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError:
        return text.split()


def _read_simple(
    path: Path, server_root: str, depth: int, out: list[Directive], notes: list[str]
) -> str:
    """Append the wanted directives of `path` (and its includes) to `out`; return ServerRoot."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise CapplanError(f"{path}: cannot read: {exc.strerror}") from None
    logical = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not logical:
            start = number
        if raw.endswith("\\"):
            logical += raw[:-1]
            continue
        line, logical = (logical + raw).strip(), ""
        if not line or line.startswith("#") or line.startswith("<"):
            continue
        name, _, rest = line.partition(" ")
        if name.lower() not in _WANTED:
            continue

        location = Location(str(path), start)
        for undefined in {v for v in _VAR.findall(rest) if v not in os.environ}:
            notes.append(f"{location}: ${{{undefined}}} is not defined")
        args = tuple(_words(_VAR.sub(lambda m: os.environ.get(m.group(1), m.group(0)), rest)))
        if name.lower() == "serverroot" and args:
            server_root = args[0]
        if name.lower() in ("include", "includeoptional") and args:
            if depth >= _MAX_INCLUDE_DEPTH:
                raise CapplanError(f"{location}: Include nested too deeply")
            pattern = args[0] if os.path.isabs(args[0]) else os.path.join(server_root, args[0])
            matches = sorted(glob.glob(pattern))
            if os.path.isdir(pattern):
                matches = sorted(glob.glob(os.path.join(pattern, "*")))
            if not matches and name.lower() == "include" and not glob.has_magic(pattern):
                notes.append(f"{location}: Include {args[0]} not found")
            for included in matches:
                if os.path.isfile(included):
                    server_root = _read_simple(Path(included), server_root, depth + 1, out, notes)
            continue
        out.append(Directive(name, args, location))
    return server_root


def read_config_hints(config: str | os.PathLike[str]) -> ConfigHints:
    """The hints of one main config file; raises CapplanError when the file cannot be read."""
    path = Path(config)
    notes: list[str] = []
    evaluated = _evaluated(path)
    if evaluated is None:
        directives: list[Directive] = []
        server_root = _read_simple(path, str(path.resolve().parent), 0, directives, notes)
        notes.append(f"{path}: read without <If*> evaluation (only PidFile, Listen, LoadModule)")
        found: tuple[Directive, ...] = tuple(directives)
    else:
        found, server_root, _ = evaluated

    pidfile: str | None = None
    pidfile_location: Location | None = None
    mpm: MpmName | None = None
    status_module = status_handler = False
    listen: list[tuple[str, int]] = []
    for directive in found:
        key, args = directive.key, directive.args
        if key == "pidfile" and args and "${" not in args[0]:
            pidfile = args[0] if os.path.isabs(args[0]) else os.path.join(server_root, args[0])
            pidfile_location = directive.location
        elif key == "loadmodule" and args:
            for name in MPM_NAMES:
                if args[0] == f"mpm_{name}_module":
                    mpm = name
            status_module = status_module or args[0] == "status_module"
        elif key == "sethandler" and args and args[0].lower() == "server-status":
            status_handler = True
        elif key == "listen" and args:
            address, _, port = args[0].rpartition(":")
            if port.isdigit():
                listen.append((address.strip("[]"), int(port)))
    return ConfigHints(
        path=str(path),
        pidfile=pidfile,
        pidfile_location=pidfile_location,
        mpm=mpm,
        status_module=status_module,
        status_handler=status_handler,
        listen=tuple(listen),
        warnings=tuple(notes),
    )
