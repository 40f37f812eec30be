"""MPM stage: from the evaluated directive stream to the settings httpd really runs with.

Input: an `EvaluatedConfig` (directives after Include/Define/If*, with locations). Output: an
`EffectiveConfig`: the loaded MPM, its settings after httpd's defaults, its `check_config`
clamping and its silent start-up adjustments, where each value came from, and the warnings httpd
prints (AH codes, httpd's own words, httpd's order). Directive values are parsed with the C
library rules httpd uses (`atoi`, `strtod`, `ap_timeout_parameter_parse`), quirks included.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, assert_never

from capplan.config.cnumbers import c_atoi, c_strtod_whole, parse_timeout_us
from capplan.config.types import Directive, EvaluatedConfig, HttpdWarning
from capplan.errors import CapplanError
from capplan.location import Location
from capplan.mpm_names import Mpm
from capplan.mpm_settings import (
    HTTPD_DEFAULTS_PATH,
    MPM_NAMES,
    CommonSettings,
    EffectiveConfig,
    EventSettings,
    MpmSettings,
    PreforkSettings,
    WorkerSettings,
    threaded_settings,
)

if TYPE_CHECKING:
    from capplan.fpm.handlers import FcgiBackend

Layout = Literal["debian", "rhel", "upstream", "unknown"]

DEFAULT_SOMAXCONN = 4096

# Compile-time limits of httpd 2.4 (server/mpm/*/*.c `#define MAX_*`).
PREFORK_MAX_SERVER_LIMIT = 200000
THREADED_MAX_SERVER_LIMIT = 20000
WORKER_MAX_THREAD_LIMIT = 20000
EVENT_MAX_THREAD_LIMIT = 100000
WORKER_FACTOR_SCALE = 16

_THREADED: tuple[Mpm, ...] = (Mpm.worker, Mpm.event)


@dataclass(frozen=True, slots=True)
class _Command:
    """One directive httpd knows: canonical name, the MPMs that define it, its usage text."""

    name: str
    mpms: tuple[Mpm, ...]
    usage: str | tuple[str, str]  # (prefork, threaded) when the MPMs word it differently
    global_only: bool = True
    sets: str = ""  # the setting it writes when it is an alias (MaxClients → MaxRequestWorkers)

    def usage_for(self, mpm: Mpm) -> str:
        if isinstance(self.usage, str):
            return self.usage
        return self.usage[0] if mpm is Mpm.prefork else self.usage[1]

    @property
    def setting(self) -> str:
        return self.sets or self.name


_ALL = MPM_NAMES
# Usage strings are httpd's, shown in "X takes one argument, <usage>" errors (`*_cmds[]` tables).
_COMMANDS: tuple[_Command, ...] = (
    _Command(
        "ServerLimit",
        _ALL,
        (
            "Maximum value of MaxRequestWorkers for this run of Apache",
            "Maximum number of child processes for this run of Apache",
        ),
    ),
    _Command(
        "ThreadLimit",
        _THREADED,
        "Maximum number of worker threads per child process for this run of Apache - "
        "Upper limit for ThreadsPerChild",
    ),
    _Command("ThreadsPerChild", _THREADED, "Number of threads each child creates"),
    _Command(
        "MaxRequestWorkers",
        _ALL,
        (
            "Maximum number of children alive at the same time",
            "Maximum number of threads alive at the same time",
        ),
    ),
    _Command("MaxClients", _ALL, "Deprecated name of MaxRequestWorkers", sets="MaxRequestWorkers"),
    _Command("StartServers", _ALL, "Number of child processes launched at server startup"),
    _Command(
        "MinSpareServers",
        (Mpm.prefork,),
        "Minimum number of idle children, to handle request spikes",
    ),
    _Command("MaxSpareServers", (Mpm.prefork,), "Maximum number of idle children"),
    _Command(
        "MinSpareThreads", _THREADED, "Minimum number of idle threads, to handle request spikes"
    ),
    _Command("MaxSpareThreads", _THREADED, "Maximum number of idle threads"),
    _Command(
        "AsyncRequestWorkerFactor",
        (Mpm.event,),
        "How many additional connects will be accepted per idle worker thread",
    ),
    _Command(
        "ListenBacklog",
        _ALL,
        "Maximum length of the queue of pending connections, as used by listen(2)",
    ),
    _Command(
        "ListenCoresBucketsRatio",
        _ALL,
        "Ratio between the number of CPU cores (online) and the number of listeners buckets",
    ),
    _Command(
        "MaxConnectionsPerChild",
        _ALL,
        "Maximum number of connections a particular child serves before dying.",
    ),
    _Command(
        "MaxRequestsPerChild",
        _ALL,
        "Maximum number of connections a particular child serves before dying. "
        "(DEPRECATED, use MaxConnectionsPerChild)",
        sets="MaxConnectionsPerChild",
    ),
    _Command("Timeout", _ALL, "Timeout duration (sec)", global_only=False),
    _Command("KeepAlive", _ALL, "", global_only=False),
    _Command("KeepAliveTimeout", _ALL, "Keep-Alive timeout duration (sec)", global_only=False),
    _Command(
        "MaxKeepAliveRequests",
        _ALL,
        "Maximum number of Keep-Alive requests per connection, or 0 for infinite",
        global_only=False,
    ),
)
_BY_KEY: dict[str, _Command] = {c.name.lower(): c for c in _COMMANDS}

# Settings every MPM shares, in the order `inspect` shows them.
COMMON_KEYS: tuple[str, ...] = (
    "KeepAlive",
    "KeepAliveTimeout",
    "MaxKeepAliveRequests",
    "ListenBacklog",
    "MaxConnectionsPerChild",
    "Timeout",
)


def effective_worker_factor(value: float) -> float:
    """The AsyncRequestWorkerFactor event stores: `(apr_uint32_t)(value * 16)`, at least 16, / 16.

    NOTE: event.c `set_worker_factor()` converts `val * WORKER_FACTOR_SCALE` to an unsigned
    32-bit int; on x86-64 that conversion goes through a 64-bit signed integer, so NaN, inf and
    values beyond 2^63 become 0 and are then raised to the minimum of 1. The result is a finite
    multiple of 1/16, never NaN.
    """
    scaled = value * WORKER_FACTOR_SCALE
    as_int64 = int(scaled) if math.isfinite(scaled) and abs(scaled) < 2.0**63 else 0
    stored = as_int64 & 0xFFFFFFFF
    return max(stored, WORKER_FACTOR_SCALE) / WORKER_FACTOR_SCALE


# --- Choosing the MPM ---------------------------------------------------------------------------

_MPM_MODULE = re.compile(r"mpm_(prefork|worker|event)_module")
_SERVER_MPM_LINE = re.compile(r"^\s*Server MPM:[ \t]*(\S*)", re.MULTILINE)


def mpm_from_v_output(text: str, source: str = "apachectl -V output") -> Mpm:
    """The MPM named by `apachectl -V` output, or by its `Server MPM:` line alone."""
    match = _SERVER_MPM_LINE.search(text)
    if match is None:
        raise CapplanError(f"{source}: no 'Server MPM:' line")
    name = match.group(1)
    if not name:
        raise CapplanError(
            f"{source}: 'Server MPM:' is empty (httpd could not read its configuration)"
        )
    for mpm in MPM_NAMES:
        if name == mpm:
            return mpm
    raise CapplanError(f"{source}: MPM {name!r} is not supported (prefork, worker or event)")


def loaded_mpm(evaluated: EvaluatedConfig) -> Mpm:
    """The one `LoadModule mpm_*_module` that survived conditionals (httpd's `ap_check_mpm()`)."""
    found: dict[str, tuple[Mpm, Location]] = {}
    for module in evaluated.modules:
        match = _MPM_MODULE.fullmatch(module.identifier)
        if match is None or module.identifier in found:
            continue  # a second LoadModule of the same MPM is skipped by mod_so (AH01574)
        name = match.group(1)
        for mpm in MPM_NAMES:
            if name == mpm:
                found[module.identifier] = (mpm, module.location)
    if not found:
        # No line to point at: the whole configuration lacks it.
        raise CapplanError(
            f"{evaluated.main_file}: AH00534: apache2: Configuration error: No MPM loaded."
        )
    if len(found) > 1:
        _, location = list(found.values())[1]
        raise CapplanError(
            "AH00534: apache2: Configuration error: More than one MPM loaded.", location
        )
    return next(iter(found.values()))[0]


def _check_no_other_mpm(evaluated: EvaluatedConfig, mpm: Mpm) -> None:
    """A given MPM (compiled in) plus a LoadModule of another one is httpd's AH00534 too."""
    for module in evaluated.modules:
        match = _MPM_MODULE.fullmatch(module.identifier)
        if match is not None and match.group(1) != mpm:
            raise CapplanError(
                "AH00534: apache2: Configuration error: More than one MPM loaded.",
                module.location,
            )


# --- Reading the directives ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Raw:
    """The main server's last occurrence of each setting, after httpd's per-directive parsing."""

    ints: tuple[tuple[str, int, Location], ...]
    keep_alive: tuple[bool, Location] | None
    keep_alive_timeout_us: tuple[int, Location] | None
    worker_factor: tuple[float, Location] | None
    notes: tuple[str, ...]

    def value(self, name: str) -> tuple[int, Location] | None:
        found = None
        for key, number, location in self.ints:
            if key == name:
                found = (number, location)
        return found


def _source_line(directive: Directive) -> str:
    return " ".join((directive.name, *directive.args))


def _error(directive: Directive, message: str) -> CapplanError:
    column = len(directive.name) + 1 if directive.args else None
    return CapplanError(
        message, directive.location, source_line=_source_line(directive), column=column
    )


def _context_error(directive: Directive, command: _Command) -> CapplanError | None:
    """httpd's context checks (`invoke_cmd()`, `ap_check_cmd_context()`) for one directive."""
    if not directive.sections:
        return None
    innermost = directive.sections[-1]
    if innermost.lower() == "virtualhost":
        if command.global_only:
            return _error(directive, f"{command.name} cannot occur within <VirtualHost> section")
        return None
    return _error(directive, f"{command.name} not allowed in <{innermost}> context")


def _read_directives(directives: Sequence[Directive], mpm: Mpm) -> _Raw:
    ints: list[tuple[str, int, Location]] = []
    keep_alive: tuple[bool, Location] | None = None
    keep_alive_timeout_us: tuple[int, Location] | None = None
    worker_factor: tuple[float, Location] | None = None
    notes: list[str] = []
    for directive in directives:
        command = _BY_KEY.get(directive.key)
        if command is None:
            continue
        if mpm not in command.mpms:
            raise _error(
                directive,
                f"Invalid command '{directive.name}', perhaps misspelled or defined by a module "
                "not included in the server configuration",
            )
        context_error = _context_error(directive, command)
        if context_error is not None:
            raise context_error
        in_vhost = bool(directive.sections)
        if command.name == "KeepAlive":
            if len(directive.args) != 1 or directive.args[0].lower() not in ("on", "off"):
                raise _error(directive, "KeepAlive must be On or Off")
            if not in_vhost:
                keep_alive = (directive.args[0].lower() == "on", directive.location)
            continue
        if len(directive.args) != 1 or not directive.args[0]:
            raise _error(directive, f"{command.name} takes one argument, {command.usage_for(mpm)}")
        arg = directive.args[0]
        if command.name == "KeepAliveTimeout":
            timeout_us = parse_timeout_us(arg)
            if timeout_us is None:
                raise _error(directive, "KeepAliveTimeout has wrong format")
            if not in_vhost:
                keep_alive_timeout_us = (timeout_us, directive.location)
            continue
        if command.name == "AsyncRequestWorkerFactor":
            factor = c_strtod_whole(arg)
            if factor is None:
                raise _error(directive, "error parsing value")
            if factor <= 0:  # NaN passes this test in C too
                raise _error(
                    directive, "AsyncRequestWorkerFactor argument must be a positive number"
                )
            worker_factor = (effective_worker_factor(factor), directive.location)
            continue
        number = c_atoi(arg)
        if command.name == "ListenBacklog" and number < 1:
            raise _error(directive, "ListenBacklog must be > 0")
        if command.name == "ListenCoresBucketsRatio" and number < 1:
            raise _error(directive, "ListenCoresBucketsRatio must be > 0")
        if command.sets:
            notes.append(
                f"{directive.location}: {command.name} is deprecated, use {command.sets} "
                "instead (httpd logs this at info level only)"
            )
        if in_vhost:
            continue  # Timeout and MaxKeepAliveRequests of a vhost: not the main server's
        ints.append((command.setting, number, directive.location))
    return _Raw(tuple(ints), keep_alive, keep_alive_timeout_us, worker_factor, tuple(notes))


# --- httpd's check_config and run-time adjustments ----------------------------------------------


class _Values:
    """Mutable working copy of the MPM globals while replaying `*_check_config()`."""

    def __init__(self, raw: _Raw, defaults: dict[str, int]) -> None:
        self.values = dict(defaults)
        self.sources: dict[str, Location] = {}
        for name in defaults:
            found = raw.value(name)
            if found is not None:
                self.values[name], self.sources[name] = found
        self.warnings: list[HttpdWarning] = []
        self.notes: list[str] = list(raw.notes)

    def __getitem__(self, name: str) -> int:
        return self.values[name]

    def warn(self, code: str, message: str, name: str, new_value: int) -> None:
        self.warnings.append(HttpdWarning(code, f"WARNING: {message}", self.sources.get(name)))
        self.values[name] = new_value

    def adjust(self, name: str, new_value: int, why: str) -> None:
        """A silent start-up adjustment (no message from httpd): recorded as a note."""
        if new_value != self.values[name]:
            self.notes.append(f"{name} {self.values[name]} runs as {new_value}: {why}")
            self.values[name] = new_value


def listener_buckets(ratio: int, online_cpus: int) -> int:
    """NB, the number of listener buckets (`ap_duplicate_listeners()`); 1 without the ratio."""
    if ratio <= 0:
        return 1
    return max(1, online_cpus // ratio)


_FAILURE_HINT = " to avoid almost certain server failure. Please read the documentation"


def _cap_or_raise(v: _Values, name: str, maximum: int, unit: str, codes: tuple[str, str]) -> None:
    """`X of N exceeds compile-time limit of M <unit>, decreasing to M.` or `… increasing to 1.`"""
    if v[name] > maximum:
        v.warn(
            codes[0],
            f"{name} of {v[name]} exceeds compile-time limit of {maximum} {unit}, "
            f"decreasing to {maximum}.",
            name,
            maximum,
        )
    elif v[name] < 1:
        _raise_to_one(v, name, codes[1])


def _raise_to_one(v: _Values, name: str, code: str, hint: str = "") -> None:
    """`X of N not allowed, increasing to 1[ to avoid …].` when X < 1."""
    if v[name] < 1:
        v.warn(code, f"{name} of {v[name]} not allowed, increasing to 1{hint}.", name, 1)


def _prefork(v: _Values, buckets: int) -> PreforkSettings:
    # server/mpm/prefork/prefork.c prefork_check_config(), in its order.
    _cap_or_raise(v, "ServerLimit", PREFORK_MAX_SERVER_LIMIT, "servers", ("AH00175", "AH00177"))
    if v["MaxRequestWorkers"] > v["ServerLimit"]:
        v.warn(
            "AH00180",
            f"MaxRequestWorkers of {v['MaxRequestWorkers']} exceeds ServerLimit value of "
            f"{v['ServerLimit']} servers, decreasing MaxRequestWorkers to {v['ServerLimit']}. "
            "To increase, please see the ServerLimit directive.",
            "MaxRequestWorkers",
            v["ServerLimit"],
        )
    else:
        _raise_to_one(v, "MaxRequestWorkers", "AH00182")
    _raise_to_one(v, "StartServers", "AH00184")
    _raise_to_one(v, "MinSpareServers", "AH00186", _FAILURE_HINT)
    # prefork_run(): silent.
    v.adjust("MaxRequestWorkers", max(v["MaxRequestWorkers"], buckets), "one per listener bucket")
    v.adjust("StartServers", max(v["StartServers"], buckets), "one per listener bucket")
    v.adjust("MinSpareServers", max(v["MinSpareServers"], buckets), "one per listener bucket")
    v.adjust(
        "MaxSpareServers",
        max(v["MaxSpareServers"], v["MinSpareServers"] + buckets),
        "prefork_run() keeps it above MinSpareServers",
    )
    v.adjust(
        "StartServers",
        min(v["StartServers"], v["MaxRequestWorkers"]),
        "no more children start than MaxRequestWorkers",
    )
    return PreforkSettings(
        server_limit=v["ServerLimit"],
        max_request_workers=v["MaxRequestWorkers"],
        start_servers=v["StartServers"],
        min_spare_servers=v["MinSpareServers"],
        max_spare_servers=v["MaxSpareServers"],
    )


_THREADED_CODES: dict[Mpm, tuple[str, ...]] = {
    # SL>max, SL<1, TL>max, TL<1, TPC>TL, TPC<1, MRW<TPC, MRW%TPC, daemons>SL, Start<1, MinSpare<1
    Mpm.worker: (
        "AH00300", "AH00302", "AH00305", "AH00307", "AH00310", "AH00312",
        "AH00314", "AH00316", "AH00318", "AH00320", "AH00322",
    ),
    Mpm.event: (
        "AH00497", "AH00499", "AH00502", "AH00504", "AH00507", "AH00509",
        "AH00511", "AH00513", "AH00515", "AH00517", "AH00519",
    ),
}  # fmt: skip


def _threaded(v: _Values, mpm: Mpm, buckets: int) -> tuple[int, int]:
    """worker_check_config() / event_check_config(), then *_run(); returns (daemons, MRW)."""
    codes = _THREADED_CODES[mpm]
    max_tl = EVENT_MAX_THREAD_LIMIT if mpm is Mpm.event else WORKER_MAX_THREAD_LIMIT
    _cap_or_raise(v, "ServerLimit", THREADED_MAX_SERVER_LIMIT, "servers", (codes[0], codes[1]))
    _cap_or_raise(v, "ThreadLimit", max_tl, "threads", (codes[2], codes[3]))
    tl = v["ThreadLimit"]
    if v["ThreadsPerChild"] > tl:
        v.warn(
            codes[4],
            f"ThreadsPerChild of {v['ThreadsPerChild']} exceeds ThreadLimit of {tl} threads, "
            f"decreasing to {tl}. To increase, please see the ThreadLimit directive.",
            "ThreadsPerChild",
            tl,
        )
    else:
        _raise_to_one(v, "ThreadsPerChild", codes[5])
    tpc = v["ThreadsPerChild"]
    if v["MaxRequestWorkers"] < tpc:
        v.warn(
            codes[6],
            f"MaxRequestWorkers of {v['MaxRequestWorkers']} is less than ThreadsPerChild of "
            f"{tpc}, increasing to {tpc}. MaxRequestWorkers must be at least as large as the "
            "number of threads in a single server.",
            "MaxRequestWorkers",
            tpc,
        )
    daemons = v["MaxRequestWorkers"] // tpc
    if v["MaxRequestWorkers"] % tpc:
        v.warn(
            codes[7],
            f"MaxRequestWorkers of {v['MaxRequestWorkers']} is not an integer multiple of "
            f"ThreadsPerChild of {tpc}, decreasing to nearest multiple {daemons * tpc}, for a "
            f"maximum of {daemons} servers.",
            "MaxRequestWorkers",
            daemons * tpc,
        )
    if daemons > v["ServerLimit"]:
        sl = v["ServerLimit"]
        # NOTE: worker/event_check_config() lower only the process limit; their `max_workers`
        # keeps the larger value (it changes which saturation message appears later). The
        # threads httpd can run are SL × TPC, the number this warning announces.
        v.warn(
            codes[8],
            f"MaxRequestWorkers of {v['MaxRequestWorkers']} would require {daemons} servers and "
            f"would exceed ServerLimit of {sl}, decreasing to {sl * tpc}. To increase, please "
            "see the ServerLimit directive.",
            "MaxRequestWorkers",
            sl * tpc,
        )
        daemons = sl
    _raise_to_one(v, "StartServers", codes[9])
    _raise_to_one(v, "MinSpareThreads", codes[10], _FAILURE_HINT)
    # worker_run() / event_run(): silent.
    if daemons < buckets:
        v.notes.append(f"processes {daemons} run as {buckets}: one per listener bucket")
        daemons = buckets
        v.values["MaxRequestWorkers"] = daemons * tpc
    v.adjust("StartServers", max(v["StartServers"], buckets), "one per listener bucket")
    v.adjust(
        "MinSpareThreads",
        max(v["MinSpareThreads"], tpc * (buckets - 1) + buckets),
        "at least one idle thread per listener bucket",
    )
    v.adjust(
        "MaxSpareThreads",
        max(v["MaxSpareThreads"], v["MinSpareThreads"] + (tpc + 1) * buckets),
        f"{mpm}_run() keeps it at least ThreadsPerChild + 1 above MinSpareThreads",
    )
    v.adjust(
        "StartServers",
        min(v["StartServers"], daemons),
        "no more children start than MaxRequestWorkers / ThreadsPerChild",
    )
    return daemons, v["MaxRequestWorkers"]


_PREFORK_DEFAULTS = {
    "ServerLimit": 256,
    "MaxRequestWorkers": 256,
    "StartServers": 5,
    "MinSpareServers": 5,
    "MaxSpareServers": 10,
}
# NOTE: worker/event_pre_config() derive MinSpare/MaxSpareThreads and MaxRequestWorkers from the
# compile-time defaults (3×25, 10×25, 16×25), never from a configured ThreadsPerChild.
_THREADED_DEFAULTS = {
    "ServerLimit": 16,
    "ThreadLimit": 64,
    "ThreadsPerChild": 25,
    "MaxRequestWorkers": 400,
    "StartServers": 3,
    "MinSpareThreads": 75,
    "MaxSpareThreads": 250,
}


def _common(raw: _Raw, somaxconn: int, sources: dict[str, Location]) -> CommonSettings:
    defaults = CommonSettings()
    values: dict[str, int] = {
        "ListenBacklog": defaults.listen_backlog,
        "MaxConnectionsPerChild": defaults.max_connections_per_child,
        "MaxKeepAliveRequests": defaults.max_keep_alive_requests,
        "Timeout": defaults.timeout_s,
    }
    for name in values:
        found = raw.value(name)
        if found is not None:
            values[name], sources[name] = found
    keep_alive = defaults.keep_alive
    if raw.keep_alive is not None:
        keep_alive, sources["KeepAlive"] = raw.keep_alive
    keep_alive_timeout_s = defaults.keep_alive_timeout_s
    if raw.keep_alive_timeout_us is not None:
        timeout_us, sources["KeepAliveTimeout"] = raw.keep_alive_timeout_us
        keep_alive_timeout_s = timeout_us / 1e6
    return CommonSettings(
        keep_alive=keep_alive,
        keep_alive_timeout_s=keep_alive_timeout_s,
        max_keep_alive_requests=values["MaxKeepAliveRequests"],
        listen_backlog=values["ListenBacklog"],
        somaxconn=somaxconn,
        timeout_s=values["Timeout"],
        max_connections_per_child=values["MaxConnectionsPerChild"],
    )


def effective_config(
    evaluated: EvaluatedConfig,
    *,
    mpm: Mpm | None = None,
    somaxconn: int = DEFAULT_SOMAXCONN,
    v_output: str | None = None,
    online_cpus: int = 1,
    layout: Layout = "unknown",
) -> EffectiveConfig:
    """The settings httpd runs `evaluated` with: MPM, values, provenance, warnings, notes.

    `mpm` overrides the loaded MPM (static builds, or "what if"); `v_output` is `apachectl -V`
    output (or its `Server MPM:` line) naming the MPM instead. The machine's facts come in as
    values (`capplan.machine` reads them): `somaxconn`, `online_cpus` (for
    ListenCoresBucketsRatio) and the distribution `layout` the main file sits in.
    Raises CapplanError for what httpd itself refuses (AH00534, Invalid command, bad values).
    """
    if mpm is None and v_output is not None:
        mpm = mpm_from_v_output(v_output)
    if mpm is None:
        mpm = loaded_mpm(evaluated)
    else:
        _check_no_other_mpm(evaluated, mpm)
    raw = _read_directives(evaluated.directives, mpm)
    ratio = raw.value("ListenCoresBucketsRatio")
    buckets = listener_buckets(ratio[0] if ratio else 0, online_cpus)
    settings: MpmSettings
    match mpm:
        case Mpm.prefork:
            values = _Values(raw, _PREFORK_DEFAULTS)
            settings = _prefork(values, buckets)
        case Mpm.worker | Mpm.event:
            values = _Values(raw, _THREADED_DEFAULTS)
            _, mrw = _threaded(values, mpm, buckets)
            factor = None
            if mpm is Mpm.event and raw.worker_factor is not None:
                factor, values.sources["AsyncRequestWorkerFactor"] = raw.worker_factor
            settings = threaded_settings(
                mpm,
                server_limit=values["ServerLimit"],
                thread_limit=values["ThreadLimit"],
                threads_per_child=values["ThreadsPerChild"],
                max_request_workers=mrw,
                start_servers=values["StartServers"],
                min_spare_threads=values["MinSpareThreads"],
                max_spare_threads=values["MaxSpareThreads"],
                async_request_worker_factor=factor,
            )
        case _:
            assert_never(mpm)
    sources = dict(values.sources)
    settings = replace(settings, common=_common(raw, somaxconn, sources))
    if ratio is not None:
        sources["ListenCoresBucketsRatio"] = ratio[1]
    order = (*values.values, "AsyncRequestWorkerFactor", *COMMON_KEYS, "ListenCoresBucketsRatio")
    http2 = None
    if any(module.identifier == "http2_module" for module in evaluated.modules):
        from capplan.http2 import http2_settings

        http2 = http2_settings(
            evaluated.directives,
            evaluated.modules,
            mpm,
            1 if isinstance(settings, PreforkSettings) else settings.threads_per_child,
            settings.common,
            main_sources=sources,
        )
    return EffectiveConfig(
        path=evaluated.main_file,
        mpm=mpm,
        settings=settings,
        provenance=tuple((name, sources[name]) for name in order if name in sources),
        warnings=(*evaluated.warnings, *values.warnings),
        server_root=evaluated.server_root,
        layout=layout,
        notes=tuple(values.notes),
        modules=tuple(module.identifier for module in evaluated.modules),
        http2=http2,
        fcgi_backends=_fcgi_backends(evaluated),
        plain_accept=_plain_accept(evaluated.directives),
    )


def _plain_accept(directives: Sequence[Directive]) -> Location | None:
    """Where AcceptFilter turns the deferred accept off for http or https (the last one for a
    protocol wins, as `set_accf_map()` in core.c sets a table entry); None when neither is."""
    filters: dict[str, tuple[str, Location]] = {}
    for d in directives:
        if d.key == "acceptfilter" and len(d.args) >= 2:
            filters[d.args[0].lower()] = (d.args[1].lower(), d.location)
    for protocol in ("http", "https"):
        accf, location = filters.get(protocol, ("data", None))
        if accf == "none":
            return location
    return None


def _fcgi_backends(evaluated: EvaluatedConfig) -> tuple[FcgiBackend, ...]:
    """The FastCGI addresses the config sends requests to; the FPM code is imported only for a
    config that has one."""
    keys = ("sethandler", "proxypass", "proxypassmatch", "proxyset", "<proxy")

    def maybe(d: Directive) -> bool:
        return d.key in keys and any("fcgi://" in arg.lower() for arg in d.args)

    if not any(maybe(d) for d in evaluated.directives):
        return ()
    from capplan.fpm.handlers import fcgi_backends

    return fcgi_backends(evaluated.directives)


def effective_values(config: EffectiveConfig) -> dict[str, int | float | bool]:
    """Directive name → effective value, in `inspect`'s order (the MPM's own names)."""
    settings = config.settings
    values: dict[str, int | float | bool]
    match settings:
        case PreforkSettings():
            values = {
                "ServerLimit": settings.server_limit,
                "MaxRequestWorkers": settings.max_request_workers,
                "StartServers": settings.start_servers,
                "MinSpareServers": settings.min_spare_servers,
                "MaxSpareServers": settings.max_spare_servers,
            }
        case WorkerSettings() | EventSettings():
            values = {
                "ServerLimit": settings.server_limit,
                "ThreadLimit": settings.thread_limit,
                "ThreadsPerChild": settings.threads_per_child,
                "MaxRequestWorkers": settings.max_request_workers,
                "StartServers": settings.start_servers,
                "MinSpareThreads": settings.min_spare_threads,
                "MaxSpareThreads": settings.max_spare_threads,
            }
            if isinstance(settings, EventSettings):
                values["AsyncRequestWorkerFactor"] = settings.async_request_worker_factor
        case _:
            assert_never(settings)
    common = settings.common
    values.update(
        {
            "KeepAlive": common.keep_alive,
            "KeepAliveTimeout": common.keep_alive_timeout_s,
            "MaxKeepAliveRequests": common.max_keep_alive_requests,
            "ListenBacklog": common.listen_backlog,
            "MaxConnectionsPerChild": common.max_connections_per_child,
            "Timeout": common.timeout_s,
        }
    )
    return values


# --- Capacity summary ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capacity:
    """What the effective settings allow at most (httpd-facts §2.3, §3.2, §4.2)."""

    processes: int
    threads_per_process: int
    workers: int
    max_connections: int  # event: workers × (1 + floor(F)) when all workers are idle
    accept_queue: int  # Q = min(ListenBacklog, somaxconn) + 1
    worker_factor: int  # event: floor(AsyncRequestWorkerFactor); 0 for prefork and worker

    def summary(self, mpm: Mpm) -> str:
        threads = "thread" if self.threads_per_process == 1 else "threads"
        text = f"{self.processes} processes × {self.threads_per_process} {threads} = "
        text += f"{self.workers} workers"
        match mpm:
            case Mpm.event:
                text += (
                    f"; up to {self.max_connections} connections when all workers are idle "
                    f"(workers × (1 + {self.worker_factor}), AsyncRequestWorkerFactor truncated)"
                )
            case Mpm.prefork | Mpm.worker:
                text += f"; up to {self.max_connections} connections (one per worker)"
            case _:
                assert_never(mpm)
        return text + f"; accept queue {self.accept_queue} (min(ListenBacklog, somaxconn) + 1)"


def capacity(settings: MpmSettings) -> Capacity:
    match settings:
        case PreforkSettings():
            threads, factor = 1, 0
        case WorkerSettings():
            threads, factor = settings.threads_per_child, 0
        case EventSettings():
            threads, factor = settings.threads_per_child, settings.worker_factor
        case _:
            assert_never(settings)
    return Capacity(
        processes=settings.processes,
        threads_per_process=threads,
        workers=settings.workers,
        max_connections=settings.workers * (1 + factor),
        accept_queue=settings.common.accept_queue_capacity,
        worker_factor=factor,
    )


# --- The pipeline: a config file on disk → EffectiveConfig --------------------------------------


def parse_httpd_version(text: str) -> tuple[int, int, int]:
    """`2.4.71` (or `2.4`, patch 0) → (2, 4, 71); CapplanError otherwise."""
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if match is None:
        raise CapplanError(f"--httpd-version {text!r}: expected X.Y.Z, for example 2.4.71")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


DEFAULT_BUILD_MPM: Mpm = Mpm.event  # configure's default MPM on Linux (server/mpm/config2.m4)


def httpd_defaults_config(
    reason: str, *, mpm: Mpm | None = None, somaxconn: int = DEFAULT_SOMAXCONN
) -> EffectiveConfig:
    """What httpd runs with when the config sets nothing: its compiled-in defaults.

    Used where no configuration exists on the machine (`reason` says what was tried), so that a
    plan can still be made and says what it assumed. The MPM is event, the default of httpd's
    build on Linux, unless `mpm` names another.
    """
    chosen: Mpm = mpm or DEFAULT_BUILD_MPM
    common = CommonSettings(somaxconn=somaxconn)
    settings: MpmSettings
    match chosen:
        case Mpm.prefork:
            settings = PreforkSettings(common=common)
        case Mpm.worker:
            settings = WorkerSettings(common=common)
        case Mpm.event:
            settings = EventSettings(common=common)
        case _:
            assert_never(chosen)
    return EffectiveConfig(
        path=HTTPD_DEFAULTS_PATH,
        mpm=chosen,
        settings=settings,
        provenance=(),
        warnings=(),
        notes=(f"{reason}: planning for httpd's compiled-in defaults with the {chosen} MPM",),
    )
