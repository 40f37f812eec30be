"""HTTP/2 stage of the config: mod_http2's effective settings, per server, with where each was set.

Input: the evaluated directive stream, the loaded MPM and its effective settings. Output: an
`Http2Settings` (None when mod_http2 is not loaded): the protocols each server offers, the
per-child stream worker pool mod_http2 starts (with the defaults it derives from the MPM), the
stream and idle-session timeouts, and the conditions under which HTTP/2 does not run at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from capplan.config.cnumbers import c_atoi, parse_timeout_us
from capplan.config.types import Directive, HttpdWarning, LoadedModule
from capplan.errors import CapplanError
from capplan.location import Location
from capplan.mpm_names import Mpm
from capplan.mpm_settings import CommonSettings

HTTP2_MODULE = "http2_module"
# h2_config.c `defconf`: the compiled-in defaults of the server config.
DEFAULT_MAX_SESSION_STREAMS = 100
DEFAULT_WORKER_IDLE_S = 600.0
# The protocol ids mod_http2 answers to (h2_protocol_ids_tls / h2_protocol_ids_clear).
H2_PROTOCOLS = ("h2", "h2c")
MAIN_SERVER = "main server"

# Directives only the main server's value counts for: h2_c1_child_init() reads them from the
# main server_rec once per child; a <VirtualHost> may set them, but nothing reads its copy.
_MAIN_ONLY = ("H2MinWorkers", "H2MaxWorkers", "H2MaxWorkerIdleSeconds")


@dataclass(frozen=True, slots=True)
class ServerHttp2:
    """What one server (the main server or a <VirtualHost>) runs HTTP/2 connections with."""

    name: str  # "main server" or "<VirtualHost *:80>"
    location: Location | None  # the <VirtualHost> line; None for the main server
    protocols: tuple[str, ...]
    max_session_streams: int
    stream_timeout_s: float  # H2StreamTimeout, or this server's Timeout when unset
    idle_timeout_s: float  # KeepAliveTimeout: how long a session with no open stream is kept
    timeout_s: float  # Timeout: the poll timeout while streams are open (sync MPMs)
    provenance: tuple[tuple[str, Location], ...] = ()

    @property
    def offers_h2(self) -> bool:
        return any(p in H2_PROTOCOLS for p in self.protocols)


@dataclass(frozen=True, slots=True)
class Http2Settings:
    """mod_http2 as httpd runs it: worker pool per child, servers, and why it may not run."""

    min_workers: int  # threads started per child (H2MinWorkers)
    max_workers: int  # most threads per child (H2MaxWorkers)
    worker_idle_s: float  # H2MaxWorkerIdleSeconds: idle workers above the minimum exit after it
    servers: tuple[ServerHttp2, ...]  # main server first, then each <VirtualHost> in order
    negotiates: bool  # False under prefork: ALPN and Upgrade are declined (AH10034)
    async_idle: bool  # an idle session goes back to the MPM (event) instead of holding a worker
    provenance: tuple[tuple[str, Location], ...]
    warnings: tuple[HttpdWarning, ...]
    notes: tuple[str, ...]

    @property
    def main(self) -> ServerHttp2:
        return self.servers[0]

    @property
    def offered(self) -> bool:
        """Some server lists h2 or h2c in its Protocols."""
        return any(server.offers_h2 for server in self.servers)

    @property
    def workers_start(self) -> bool:
        """h2_workers_create() succeeds only when H2MinWorkers <= H2MaxWorkers (else AH02911)."""
        return self.min_workers <= self.max_workers

    @property
    def active(self) -> bool:
        """Browsers get HTTP/2 from this server: offered, negotiated, and its workers started."""
        return self.offered and self.negotiates and self.workers_start

    def source_of(self, directive: str) -> Location | None:
        for name, location in self.provenance:
            if name == directive:
                return location
        return None

    def with_locations(self, shown: Callable[[Location], Location]) -> Http2Settings:
        """The same settings with every location passed through `shown` (relative paths)."""
        return replace(
            self,
            servers=tuple(
                replace(
                    s,
                    location=shown(s.location) if s.location is not None else None,
                    provenance=tuple((n, shown(loc)) for n, loc in s.provenance),
                )
                for s in self.servers
            ),
            provenance=tuple((n, shown(loc)) for n, loc in self.provenance),
            warnings=tuple(
                replace(w, location=shown(w.location) if w.location else None)
                for w in self.warnings
            ),
        )


def default_min_workers(mpm: Mpm, threads_per_child: int) -> int:
    """H2MinWorkers when unset: the MPM's `AP_MPMQ_MAX_THREADS` (ThreadsPerChild; 1 for prefork).

    NOTE: mod_http2 h2_config.c `h2_get_workers_config()` asks the MPM; prefork answers 1.
    """
    return 1 if mpm is Mpm.prefork else threads_per_child


def default_max_workers(min_workers: int) -> int:
    """H2MaxWorkers when unset: max(4, 3 * min / 2), C integer division (h2_get_workers_config)."""
    return max(4, 3 * min_workers // 2)


def _apr_atoi_int(text: str) -> int:
    """`(int)apr_atoi64(text)`: strtoll, then truncated to 32 bits (mod_http2's number parsing)."""
    return c_atoi(text)


@dataclass(frozen=True, slots=True)
class _ServerRaw:
    name: str
    location: Location | None
    values: dict[str, tuple[object, Location]]


def _error(directive: Directive, message: str) -> CapplanError:
    line = " ".join((directive.name, *directive.args))
    column = len(directive.name) + 1 if directive.args else None
    return CapplanError(message, directive.location, source_line=line, column=column)


_CANONICAL = {
    name.lower(): name
    for name in (
        "Protocols",
        "H2MaxSessionStreams",
        "H2MinWorkers",
        "H2MaxWorkers",
        "H2MaxWorkerIdleSeconds",
        "H2StreamTimeout",
        "KeepAliveTimeout",
        "Timeout",
    )
}


def _parse(directive: Directive, name: str) -> object:
    """One directive's value as its handler stores it; CapplanError with httpd's own words."""
    arg = directive.args[0] if directive.args else ""
    match name:
        case "Protocols":
            # NOTE: core.c set_protocols() is ITERATE: every line appends its words as written
            # (matched case-sensitively by ap_is_allowed_protocol()).
            return tuple(directive.args)
        case "H2MaxSessionStreams" | "H2MinWorkers" | "H2MaxWorkers":
            number = _apr_atoi_int(arg)
            if number < 1:
                raise _error(directive, "value must be > 0")
            return number
        case "H2MaxWorkerIdleSeconds":
            us = parse_timeout_us(arg)
            if us is None:
                raise _error(directive, "Invalid idle limit value")
            # NOTE: h2_conf_set_max_worker_idle_limit() turns 0 into "unset": the default holds.
            return None if us <= 0 else us / 1e6
        case "H2StreamTimeout":
            us = parse_timeout_us(arg)
            if us is None:
                raise _error(directive, "Invalid timeout value")
            # NOTE: h2_c2.c falls back to the request's server Timeout when this is <= 0.
            return None if us <= 0 else us / 1e6
        case "KeepAliveTimeout" | "Timeout":
            us = parse_timeout_us(arg)
            # Bad formats were already refused by the MPM stage for the main server.
            if us is None:
                raise _error(directive, f"{name} has wrong format")
            return us / 1e6
    raise AssertionError(name)  # pragma: no cover - _CANONICAL lists every case


def _per_server(directives: Sequence[Directive]) -> list[_ServerRaw]:
    servers = [_ServerRaw(MAIN_SERVER, None, {})]
    for directive in directives:
        if directive.key == "<virtualhost":
            title = f"<VirtualHost {' '.join(directive.args)}>"
            servers.append(_ServerRaw(title, directive.location, {}))
            continue
        known = _CANONICAL.get(directive.key)
        if known is None:
            continue
        name = known
        in_vhost = bool(directive.sections) and directive.sections[0].lower() == "virtualhost"
        if directive.sections and not in_vhost:
            continue  # <Directory>/<Location> are refused by the evaluator for these
        value = _parse(directive, name)
        target = servers[-1] if in_vhost else servers[0]
        if name in ("Timeout", "KeepAliveTimeout") and not in_vhost:
            continue  # the MPM stage already holds the main server's value
        if name == "Protocols" and name in target.values:
            earlier = target.values[name][0]
            assert isinstance(earlier, tuple)
            assert isinstance(value, tuple)
            value = (*earlier, *value)
        target.values[name] = (value, directive.location)
    return servers


def http2_settings(
    directives: Sequence[Directive],
    modules: Sequence[LoadedModule],
    mpm: Mpm,
    threads_per_child: int,
    common: CommonSettings,
    *,
    main_sources: dict[str, Location] | None = None,
) -> Http2Settings | None:
    """mod_http2's effective settings, or None when mod_http2 is not loaded.

    `threads_per_child` is the MPM's effective ThreadsPerChild (ignored for prefork), `common`
    the main server's Timeout and KeepAliveTimeout, `main_sources` where those were set.
    """
    if not any(module.identifier == HTTP2_MODULE for module in modules):
        return None
    raws = _per_server(directives)
    main = raws[0]
    provenance: list[tuple[str, Location]] = []
    notes: list[str] = []
    warnings: list[HttpdWarning] = []

    def main_value(name: str) -> object:
        found = main.values.get(name)
        if found is None:
            return None
        provenance.append((name, found[1]))
        return found[0]

    configured_min = main_value("H2MinWorkers")
    configured_max = main_value("H2MaxWorkers")
    idle = main_value("H2MaxWorkerIdleSeconds")
    min_workers = (
        configured_min
        if isinstance(configured_min, int)
        else default_min_workers(mpm, threads_per_child)
    )
    max_workers = (
        configured_max if isinstance(configured_max, int) else default_max_workers(min_workers)
    )
    for raw in raws[1:]:
        for name in _MAIN_ONLY:
            if name in raw.values:
                notes.append(
                    f"{raw.values[name][1]}: {name} in {raw.name} has no effect: mod_http2 "
                    "sizes its workers from the main server's value"
                )
    for name in ("KeepAliveTimeout", "Timeout"):
        if main_sources and name in main_sources:
            provenance.append((name, main_sources[name]))

    servers: list[ServerHttp2] = []
    for raw in raws:
        server = _server(raw, servers[0] if servers else None, common, main)
        servers.append(server)
    provenance.extend(servers[0].provenance)

    negotiates = mpm is not Mpm.prefork
    settings = Http2Settings(
        min_workers=min_workers,
        max_workers=max_workers,
        worker_idle_s=idle if isinstance(idle, float) else DEFAULT_WORKER_IDLE_S,
        servers=tuple(servers),
        negotiates=negotiates,
        async_idle=mpm is Mpm.event,
        provenance=tuple(dict(provenance).items()),
        warnings=(),
        notes=tuple(notes),
    )
    if not negotiates:
        warnings.append(
            HttpdWarning(
                "AH10034",
                "The mpm module (prefork.c) is not supported by mod_http2. [...] the HTTP/2 "
                "protocol will be inactive.",
                settings.source_of("Protocols"),
            )
        )
    if not settings.workers_start:
        warnings.append(
            HttpdWarning(
                "AH02911",
                f"H2MaxWorkers {max_workers} is below H2MinWorkers {min_workers}: each child "
                "fails to create its HTTP/2 workers and every HTTP/2 connection fails with "
                "'AH02911: workers not initialized'",
                settings.source_of("H2MaxWorkers") or settings.source_of("H2MinWorkers"),
            )
        )
    return replace(settings, warnings=tuple(warnings))


def _server(
    raw: _ServerRaw, base: ServerHttp2 | None, common: CommonSettings, main: _ServerRaw
) -> ServerHttp2:
    """One server's values: its own, else the main server's (httpd's per-server merge)."""

    def pick(name: str, inherited: object) -> object:
        found = raw.values.get(name)
        return inherited if found is None else found[0]

    if base is None:
        protocols = pick("Protocols", ())
        streams = pick("H2MaxSessionStreams", DEFAULT_MAX_SESSION_STREAMS)
        stream_timeout = pick("H2StreamTimeout", None)
        idle_timeout: object = common.keep_alive_timeout_s
        timeout: object = float(common.timeout_s)
    else:
        # NOTE: core.c merge_core_server_configs() takes a vhost's Protocols whole, or the
        # main server's when it has none; mod_http2 merges its values one by one.
        protocols = pick("Protocols", base.protocols)
        streams = pick("H2MaxSessionStreams", base.max_session_streams)
        stream_timeout = pick("H2StreamTimeout", main.values.get("H2StreamTimeout", (None,))[0])
        idle_timeout = pick("KeepAliveTimeout", base.idle_timeout_s)
        timeout = pick("Timeout", base.timeout_s)
    assert isinstance(protocols, tuple)
    assert isinstance(streams, int)
    assert isinstance(idle_timeout, float)
    assert isinstance(timeout, float)
    return ServerHttp2(
        name=raw.name,
        location=raw.location,
        # An empty list allows HTTP/1.1 alone (ap_is_allowed_protocol()).
        protocols=tuple(str(p) for p in protocols) or ("http/1.1",),
        max_session_streams=streams,
        stream_timeout_s=stream_timeout if isinstance(stream_timeout, float) else timeout,
        idle_timeout_s=idle_timeout,
        timeout_s=timeout,
        provenance=tuple((name, loc) for name, (_, loc) in raw.values.items()),
    )


# The rows `inspect` shows, in order: (directive, value) of the main server.
def effective_rows(settings: Http2Settings) -> dict[str, object]:
    """Directive → effective value of the main server (and the worker pool), inspect's order."""
    main = settings.main
    return {
        "Protocols": " ".join(main.protocols),
        "H2MinWorkers": settings.min_workers,
        "H2MaxWorkers": settings.max_workers,
        "H2MaxWorkerIdleSeconds": settings.worker_idle_s,
        "H2MaxSessionStreams": main.max_session_streams,
        "H2StreamTimeout": main.stream_timeout_s,
        "KeepAliveTimeout": main.idle_timeout_s,
        "Timeout": main.timeout_s,
    }
