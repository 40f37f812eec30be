"""Snippet stage: recommended settings → the config text to paste and where it goes.

Input: the recommended `MpmSettings` (already coherent: see `capplan.recommend.coherent_settings`),
the keep-alive/backlog directives that change, the current MPM and the config layout. Output: the
`<IfModule mpm_X_module>` block httpd accepts without a single AH warning, and plain-words advice
naming the file it belongs in and the commands that switch the MPM on the detected layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from capplan.effective import Layout
from capplan.location import Location
from capplan.mpm_names import Mpm
from capplan.mpm_settings import (
    HTTPD_DEFAULTS_PATH,
    EventSettings,
    MpmSettings,
    PreforkSettings,
    WorkerSettings,
)

# Directives the MPM block sets; everything else (keep-alive) belongs to the main server config.
MPM_BLOCK_ORDER = (
    "ServerLimit",
    "ThreadLimit",
    "ThreadsPerChild",
    "MaxRequestWorkers",
    "StartServers",
    "MinSpareServers",
    "MaxSpareServers",
    "MinSpareThreads",
    "MaxSpareThreads",
    "AsyncRequestWorkerFactor",
    "MaxConnectionsPerChild",
    "ListenBacklog",
)
KEEPALIVE_DIRECTIVES = ("KeepAlive", "KeepAliveTimeout", "MaxKeepAliveRequests")


def mpm_of(settings: MpmSettings) -> Mpm:
    match settings:
        case PreforkSettings():
            return Mpm.prefork
        case WorkerSettings():
            return Mpm.worker
        case EventSettings():
            return Mpm.event
        case _:
            assert_never(settings)


def format_seconds(value_s: float) -> str:
    """A KeepAliveTimeout value httpd parses back exactly: whole seconds, else milliseconds."""
    if float(value_s).is_integer():
        return str(int(value_s))
    return f"{round(value_s * 1000)}ms"


def format_factor(value: float) -> str:
    """AsyncRequestWorkerFactor as `strtod` reads it back (`2`, not `2.0`)."""
    return str(int(value)) if float(value).is_integer() else repr(value)


def mpm_directives(settings: MpmSettings) -> tuple[tuple[str, str], ...]:
    """The MPM sizing directives of `settings`, in the order the snippet writes them."""
    common = settings.common
    match settings:
        case PreforkSettings():
            values: dict[str, str] = {
                "ServerLimit": str(settings.server_limit),
                "MaxRequestWorkers": str(settings.max_request_workers),
                "StartServers": str(settings.start_servers),
                "MinSpareServers": str(settings.min_spare_servers),
                "MaxSpareServers": str(settings.max_spare_servers),
            }
        case WorkerSettings() | EventSettings():
            values = {
                "ServerLimit": str(settings.server_limit),
                "ThreadLimit": str(settings.thread_limit),
                "ThreadsPerChild": str(settings.threads_per_child),
                "MaxRequestWorkers": str(settings.max_request_workers),
                "StartServers": str(settings.start_servers),
                "MinSpareThreads": str(settings.min_spare_threads),
                "MaxSpareThreads": str(settings.max_spare_threads),
            }
            if isinstance(settings, EventSettings):
                values["AsyncRequestWorkerFactor"] = format_factor(
                    settings.async_request_worker_factor
                )
        case _:
            assert_never(settings)
    values["MaxConnectionsPerChild"] = str(common.max_connections_per_child)
    values["ListenBacklog"] = str(common.listen_backlog)
    return tuple((name, values[name]) for name in MPM_BLOCK_ORDER if name in values)


def keepalive_directives(settings: MpmSettings) -> tuple[tuple[str, str], ...]:
    common = settings.common
    return (
        ("KeepAlive", "On" if common.keep_alive else "Off"),
        ("KeepAliveTimeout", format_seconds(common.keep_alive_timeout_s)),
        ("MaxKeepAliveRequests", str(common.max_keep_alive_requests)),
    )


def all_directives(settings: MpmSettings) -> tuple[tuple[str, str], ...]:
    """Every directive of a recommendation: the MPM block, then the keep-alive directives."""
    return mpm_directives(settings) + keepalive_directives(settings)


def render_snippet(
    settings: MpmSettings, keepalive_changes: tuple[tuple[str, str], ...] = ()
) -> str:
    """The ready-to-paste text: the MPM block, then the keep-alive lines that change (if any)."""
    mpm = mpm_of(settings)
    width = max(len(name) for name, _ in mpm_directives(settings))
    lines = [f"<IfModule mpm_{mpm}_module>"]
    lines += [f"    {name:<{width}} {value}" for name, value in mpm_directives(settings)]
    lines.append("</IfModule>")
    if keepalive_changes:
        lines.append("# main server config (replaces the current values, see below):")
        lines += [f"{name} {value}" for name, value in keepalive_changes]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the snippet goes and what to run: plain sentences, plus the shell commands."""

    snippet_file: str
    steps: tuple[str, ...]
    commands: tuple[str, ...]


def _join(root: str, relative: str) -> str:
    """`relative` under the ServerRoot as the user sees it (`.` or empty: the working directory)."""
    if root in ("", "."):
        return relative
    return f"{root.rstrip('/')}/{relative}"


def placement(
    *,
    layout: Layout,
    current_mpm: Mpm | None,
    new_mpm: Mpm,
    server_root: str = "",
    main_file: str = "",
    mpm_block_location: Location | None = None,
    keepalive_locations: tuple[tuple[str, Location | None], ...] = (),
) -> Placement:
    """Which file the snippet belongs in and the commands that switch the MPM, per layout.

    `mpm_block_location` is where the current config sets its MPM directives (from provenance);
    when it is known, the snippet replaces those lines there, whatever the layout.
    """
    switch = current_mpm is not None and current_mpm != new_mpm
    steps: list[str] = []
    commands: list[str] = []
    match layout:
        case "debian":
            target = _join(server_root, f"mods-available/mpm_{new_mpm}.conf")
            steps.append(
                f"Replace the directives in {target} with the block "
                "(mods-enabled/ links to it once the module is enabled)."
            )
            if switch:
                commands.append(f"a2dismod mpm_{current_mpm} && a2enmod mpm_{new_mpm}")
        case "rhel":
            modules_conf = _join(server_root, "conf.modules.d/00-mpm.conf")
            target = _join(server_root, "conf.d/mpm.conf")
            steps.append(
                f"Put the block in {target} (conf.d/ is read after conf.modules.d/, so the "
                "<IfModule> test sees the loaded MPM)."
            )
            if switch:
                steps.append(
                    f"In {modules_conf}, leave only this LoadModule line uncommented: "
                    f"LoadModule mpm_{new_mpm}_module modules/mod_mpm_{new_mpm}.so"
                )
        case "upstream":
            target = _join(server_root, "conf/extra/httpd-mpm.conf")
            steps.append(
                f"Replace the <IfModule mpm_{new_mpm}_module> section of {target} with the block, "
                "and make sure conf/httpd.conf has `Include conf/extra/httpd-mpm.conf` "
                "uncommented."
            )
            if switch:
                steps.append(
                    f"In {main_file or 'conf/httpd.conf'}, load only "
                    f"`LoadModule mpm_{new_mpm}_module modules/mod_mpm_{new_mpm}.so` "
                    f"(comment out the mpm_{current_mpm}_module line)."
                )
        case "unknown":
            target = main_file or "the main config file"
            if main_file == HTTPD_DEFAULTS_PATH:
                target = "httpd's main config file (none was found on this machine)"
            steps.append(f"Put the block in {target}.")
            if switch:
                steps.append(
                    f"Replace the LoadModule line of mpm_{current_mpm}_module with "
                    f"mpm_{new_mpm}_module (one MPM only, or httpd stops with AH00534)."
                )
        case _:
            assert_never(layout)
    if mpm_block_location is not None and not switch:
        target = mpm_block_location.path
        steps[0] = (
            f"Replace the MPM directives set in {target} (from line {mpm_block_location.line}) "
            "with the block."
        )
    for name, location in keepalive_locations:
        where = f"at {location}" if location is not None else f"in {main_file or target}"
        steps.append(f"Set {name} {where} to the value shown (it is a main server directive).")
    if switch:
        steps.append(
            "Changing the MPM needs a full stop and start: httpd refuses it on a graceful "
            'restart ("The MPM cannot be changed during restart").'
        )
    else:
        steps.append(
            "ServerLimit and ThreadLimit changes take effect only on a full stop and start; a "
            "graceful restart keeps the old values (AH00179/AH00304/AH00501, AH00309/AH00506)."
        )
    return Placement(snippet_file=target, steps=tuple(steps), commands=tuple(commands))
