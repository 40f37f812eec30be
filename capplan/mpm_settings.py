"""Effective MPM settings: the values httpd runs with after its defaults and check_config clamping.

These frozen types are the contract between the config stage (`capplan.effective` builds them
from an `EvaluatedConfig`) and the models. Raw directive values never reach the models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from capplan.config.types import HttpdWarning
from capplan.location import Location
from capplan.mpm_names import Mpm

if TYPE_CHECKING:
    from capplan.fpm.handlers import FcgiBackend
    from capplan.http2 import Http2Settings


# `EffectiveConfig.path` when no config exists and httpd's compiled-in defaults stand in for one.
HTTPD_DEFAULTS_PATH = "(httpd defaults)"
# The MPMs in the order reports list them.
MPM_NAMES: tuple[Mpm, ...] = tuple(Mpm)
# event's AsyncRequestWorkerFactor when the config sets none (httpd's default).
DEFAULT_WORKER_FACTOR = 2.0


@dataclass(frozen=True, slots=True)
class CommonSettings:
    """Settings every MPM shares (core, http and listen directives)."""

    keep_alive: bool = True
    keep_alive_timeout_s: float = 5.0
    max_keep_alive_requests: int = 100
    listen_backlog: int = 511
    somaxconn: int = 4096
    timeout_s: int = 60
    max_connections_per_child: int = 0

    @property
    def accept_queue_capacity(self) -> int:
        """Q = min(ListenBacklog, somaxconn) + 1 (Linux `sk_acceptq_is_full` is a strict test)."""
        return min(self.listen_backlog, self.somaxconn) + 1


@dataclass(frozen=True, slots=True)
class PreforkSettings:
    server_limit: int = 256
    max_request_workers: int = 256
    start_servers: int = 5
    min_spare_servers: int = 5
    max_spare_servers: int = 10
    common: CommonSettings = field(default_factory=CommonSettings)

    @property
    def processes(self) -> int:
        return self.max_request_workers

    @property
    def workers(self) -> int:
        return self.max_request_workers


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    server_limit: int = 16
    thread_limit: int = 64
    threads_per_child: int = 25
    max_request_workers: int = 400
    start_servers: int = 3
    min_spare_threads: int = 75
    max_spare_threads: int = 250
    common: CommonSettings = field(default_factory=CommonSettings)

    @property
    def processes(self) -> int:
        """Active processes: min(MRW / TPC, ServerLimit) after check_config (F4)."""
        return min(self.max_request_workers // self.threads_per_child, self.server_limit)

    @property
    def workers(self) -> int:
        return self.processes * self.threads_per_child


@dataclass(frozen=True, slots=True)
class EventSettings:
    server_limit: int = 16
    thread_limit: int = 64
    threads_per_child: int = 25
    max_request_workers: int = 400
    start_servers: int = 3
    min_spare_threads: int = 75
    max_spare_threads: int = 250
    async_request_worker_factor: float = DEFAULT_WORKER_FACTOR
    common: CommonSettings = field(default_factory=CommonSettings)

    @property
    def processes(self) -> int:
        return min(self.max_request_workers // self.threads_per_child, self.server_limit)

    @property
    def workers(self) -> int:
        return self.processes * self.threads_per_child

    @property
    def worker_factor(self) -> int:
        """F used by the connection limit: max(1, floor(ARWF)) for httpd >= 2.4.30.

        NOTE: event.c stores `(unsigned)(ARWF * 16)` and divides by 16 in unsigned arithmetic in
        `connections_above_limit()`, so 1.5 acts as 1.
        """
        return max(1, int(self.async_request_worker_factor * 16) // 16)


MpmSettings = PreforkSettings | WorkerSettings | EventSettings
ThreadedMpm = Literal[Mpm.worker, Mpm.event]


def threaded_settings(
    mpm: ThreadedMpm,
    *,
    server_limit: int,
    thread_limit: int,
    threads_per_child: int,
    max_request_workers: int,
    start_servers: int,
    min_spare_threads: int,
    max_spare_threads: int,
    common: CommonSettings | None = None,
    async_request_worker_factor: float | None = None,
) -> WorkerSettings | EventSettings:
    """worker's or event's settings from the directives they share (one set of names, typed).

    `async_request_worker_factor` is event's alone (None: httpd's default, 2); worker has none.
    """
    common = CommonSettings() if common is None else common
    if mpm is Mpm.worker:
        return WorkerSettings(
            server_limit=server_limit,
            thread_limit=thread_limit,
            threads_per_child=threads_per_child,
            max_request_workers=max_request_workers,
            start_servers=start_servers,
            min_spare_threads=min_spare_threads,
            max_spare_threads=max_spare_threads,
            common=common,
        )
    return EventSettings(
        server_limit=server_limit,
        thread_limit=thread_limit,
        threads_per_child=threads_per_child,
        max_request_workers=max_request_workers,
        start_servers=start_servers,
        min_spare_threads=min_spare_threads,
        max_spare_threads=max_spare_threads,
        async_request_worker_factor=(
            DEFAULT_WORKER_FACTOR
            if async_request_worker_factor is None
            else async_request_worker_factor
        ),
        common=common,
    )


@dataclass(frozen=True, slots=True)
class EffectiveConfig:
    """What httpd will run with: the MPM, its settings, where each came from, and its warnings."""

    path: str
    mpm: Mpm
    settings: MpmSettings
    provenance: tuple[tuple[str, Location], ...]
    warnings: tuple[HttpdWarning, ...]
    server_root: str = ""
    layout: Literal["debian", "rhel", "upstream", "unknown"] = "unknown"
    # Silent start-up adjustments httpd makes without a message (`*_run()`), and deprecations it
    # logs at info level only: human sentences, shown by `inspect`.
    notes: tuple[str, ...] = ()
    # Identifiers of the loaded modules (`php_module`, …): recommend sizes only prefork when a
    # module that is not thread-safe is loaded.
    modules: tuple[str, ...] = ()
    # mod_http2's effective settings; None when mod_http2 is not loaded.
    http2: Http2Settings | None = None
    # Where the config sends PHP requests over FastCGI (PHP-FPM), with file:line.
    fcgi_backends: tuple[FcgiBackend, ...] = ()
    # Where `AcceptFilter http none` (or https) makes the listeners a plain accept queue; None:
    # httpd's default on Linux, TCP_DEFER_ACCEPT ("data").
    plain_accept: Location | None = None

    def source_of(self, directive: str) -> Location | None:
        for name, location in self.provenance:
            if name == directive:
                return location
        return None
