"""Machine stage: what capplan reads from this host, turned into values for the pure stages.

Input: the host — the config files on disk, `net.core.somaxconn`, the online CPUs, the files
beside the main config (the distribution's layout) and `apachectl -V`. Output: an
`EffectiveConfig` (`load_effective_config`: read the config, probe the machine, then the pure
`capplan.effective.effective_config`), or the single facts. Nothing downstream reads the machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from capplan.effective import (
    DEFAULT_SOMAXCONN,
    Layout,
    effective_config,
    httpd_defaults_config,
    mpm_from_v_output,
)
from capplan.errors import CapplanError
from capplan.location import Location
from capplan.mpm_names import Mpm
from capplan.mpm_settings import EffectiveConfig

SOMAXCONN_PATH = Path("/proc/sys/net/core/somaxconn")


def online_cpus() -> int:
    """The online CPUs (`sysconf(_SC_NPROCESSORS_ONLN)`, what ListenCoresBucketsRatio divides)."""
    return os.cpu_count() or 1


def system_somaxconn(path: Path = SOMAXCONN_PATH) -> int:
    """`net.core.somaxconn` of this machine, or 4096 (the Linux ≥ 5.4 default) when unreadable."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return DEFAULT_SOMAXCONN


def detect_layout(main_file: str | Path) -> Layout:
    """Which distribution's file layout the main config file sits in (by its neighbours)."""
    main = Path(main_file)
    here = main.parent
    if (
        main.name == "apache2.conf"
        and (here / "envvars").is_file()
        and (here / "mods-enabled").is_dir()
    ):
        return "debian"
    if main.name == "httpd.conf" and here.name == "conf":
        if (here.parent / "conf.modules.d").is_dir():
            return "rhel"
        if (here / "extra").is_dir():
            return "upstream"
    return "unknown"


# --- Finding the system's config ----------------------------------------------------------------

SYSTEM_CONFIG_CANDIDATES: tuple[Path, ...] = (
    Path("/etc/apache2/apache2.conf"),
    Path("/etc/httpd/conf/httpd.conf"),
    Path("/usr/local/apache2/conf/httpd.conf"),
)
_COMPILE_DEFINE = re.compile(r'^\s*-D\s+(HTTPD_ROOT|SERVER_CONFIG_FILE)="([^"]*)"', re.MULTILINE)


def config_from_v_output(text: str) -> Path | None:
    """`HTTPD_ROOT` + `SERVER_CONFIG_FILE` from `apachectl -V` output (None if absent)."""
    defines: dict[str, str] = dict(_COMPILE_DEFINE.findall(text))
    config_file = defines.get("SERVER_CONFIG_FILE")
    if not config_file:
        return None
    return Path(defines.get("HTTPD_ROOT", "/")) / config_file


def _run_v() -> str | None:
    for program in ("apachectl", "apache2ctl", "httpd", "apache2"):
        binary = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
        if binary is None:
            continue
        try:
            proc = subprocess.run(
                [binary, "-V"], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if "SERVER_CONFIG_FILE" in proc.stdout:
            return proc.stdout
    return None


def find_system_config(
    *,
    v_output: str | None = None,
    run_v: Callable[[], str | None] = _run_v,
    candidates: Sequence[Path] = SYSTEM_CONFIG_CANDIDATES,
) -> Path:
    """The main config file httpd on this machine reads, as httpd finds it.

    First `apachectl -V`'s `HTTPD_ROOT` + `SERVER_CONFIG_FILE` (`v_output`, or by running it),
    then the Debian, RHEL and upstream default paths. Raises CapplanError when none exists.
    """
    text = v_output if v_output is not None else run_v()
    tried: list[Path] = []
    if text is not None:
        compiled = config_from_v_output(text)
        if compiled is not None:
            if compiled.is_file():
                return compiled
            tried.append(compiled)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
        tried.append(candidate)
    raise CapplanError(
        "no httpd configuration found (tried "
        + ", ".join(str(p) for p in dict.fromkeys(tried))
        + "); give the config file"
    )


def _shown_path(path: str, cwd: str) -> str:
    """An absolute path under `cwd` as a relative one (the user gave a relative config path)."""
    if os.path.isabs(path) and path.startswith(cwd.rstrip(os.sep) + os.sep):
        return os.path.relpath(path, cwd)
    return path


def _shown_location(location: Location, cwd: str) -> Location:
    return Location(
        _shown_path(location.path, cwd),
        location.line,
        tuple(_shown_location(outer, cwd) for outer in location.included_from),
    )


def _relative_to(config: EffectiveConfig, cwd: str) -> EffectiveConfig:
    return replace(
        config,
        path=_shown_path(config.path, cwd),
        server_root=_shown_path(config.server_root, cwd),
        provenance=tuple((name, _shown_location(loc, cwd)) for name, loc in config.provenance),
        warnings=tuple(
            replace(w, location=_shown_location(w.location, cwd) if w.location else None)
            for w in config.warnings
        ),
        notes=tuple(note.replace(cwd.rstrip(os.sep) + os.sep, "") for note in config.notes),
        http2=(
            replace(
                config.http2.with_locations(lambda loc: _shown_location(loc, cwd)),
                notes=tuple(n.replace(cwd.rstrip(os.sep) + os.sep, "") for n in config.http2.notes),
            )
            if config.http2 is not None
            else None
        ),
        fcgi_backends=tuple(
            replace(
                b,
                location=_shown_location(b.location, cwd),
                max_location=_shown_location(b.max_location, cwd) if b.max_location else None,
            )
            for b in config.fcgi_backends
        ),
    )


def _line_of(location: Location) -> str | None:
    """The text of the line an error points at, for its message (None if unreadable)."""
    try:
        with open(location.path, encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, start=1):
                if number == location.line:
                    return text.strip() or None
    except OSError:
        return None
    return None


def load_effective_config(
    config_file: str | os.PathLike[str] | None,
    *,
    defines: dict[str, str] | None = None,
    mpm: Mpm | None = None,
    somaxconn: int | None = None,
    v_output: str | None = None,
    httpd_version: tuple[int, int, int] | None = None,
    server_root: str | None = None,
    defaults_if_missing: bool = False,
) -> EffectiveConfig:
    """Read a config from disk and return what httpd runs with (`inspect`, `recommend`, …).

    `config_file` None means the system's config (`find_system_config()`); when there is none
    and `defaults_if_missing`, httpd's compiled-in defaults (`httpd_defaults_config`). `mpm` names
    a compiled-in MPM (its `<IfModule>` sections become true). When the user gave a relative path,
    every path in the result (and in errors) is relative to the working directory too.
    """
    from capplan.config.directives import DEBIAN_STATIC_MODULES
    from capplan.config.evaluator import DEFAULT_HTTPD_VERSION, evaluate_config

    if config_file is None:
        try:
            config_file = find_system_config()
        except CapplanError as exc:
            if not defaults_if_missing:
                raise
            reason = exc.message.removesuffix("; give the config file")
            return httpd_defaults_config(
                reason, mpm=mpm, somaxconn=system_somaxconn() if somaxconn is None else somaxconn
            )
    given = os.fspath(config_file)
    cwd = os.getcwd()
    relative = not os.path.isabs(given)
    static = None
    compiled_in = mpm
    if compiled_in is None and v_output is not None:
        compiled_in = mpm_from_v_output(v_output)
    if compiled_in is not None:
        # A compiled-in MPM is the source file `event.c` (module symbol `mpm_event_module`):
        # both <IfModule event.c> and <IfModule mpm_event_module> hold, and it counts as the
        # one MPM of httpd's AH00534 check.
        static = (*DEBIAN_STATIC_MODULES, f"{compiled_in}.c")
    try:
        evaluated = evaluate_config(
            given,
            defines=defines,
            server_root=server_root,
            static_modules=static,
            httpd_version=httpd_version or DEFAULT_HTTPD_VERSION,
        )
        config = effective_config(
            evaluated,
            mpm=mpm,
            somaxconn=system_somaxconn() if somaxconn is None else somaxconn,
            v_output=v_output,
            online_cpus=online_cpus(),
            layout=detect_layout(evaluated.main_file),
        )
    except CapplanError as exc:
        if exc.location is not None:
            if exc.source_line is None:
                exc.source_line = _line_of(exc.location)
            if relative:
                exc.location = _shown_location(exc.location, cwd)
        elif relative:
            exc.message = exc.message.replace(cwd.rstrip(os.sep) + os.sep, "")
        raise
    return _relative_to(config, cwd) if relative else config
