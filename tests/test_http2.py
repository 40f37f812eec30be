"""capplan.http2: mod_http2's effective settings, the defaults it derives from the MPM, errors.

The defaults and the failure modes in these tables were read from mod_http2 (h2_config.c
`h2_get_workers_config()`, h2_workers.c `h2_workers_create()`) and observed on apache2 2.4.71;
`tests/test_http2_apache.py` checks the same code against the running server.
"""

from __future__ import annotations

import pytest

from capplan.config.types import Directive, EvaluatedConfig, LoadedModule
from capplan.effective import effective_config
from capplan.errors import CapplanError
from capplan.http2 import Http2Settings, default_max_workers, default_min_workers
from capplan.location import Location
from capplan.mpm_names import Mpm

CONF = "conf/httpd.conf"


def settings_for(mpm: Mpm, *lines: str, http2: bool = True) -> Http2Settings | None:
    """Effective mod_http2 settings of a config whose line i + 2 is `lines[i]`.

    A line starting with two spaces sits inside the most recent `<VirtualHost …>` line.
    """
    modules = [LoadedModule(f"mpm_{mpm}_module", "m.so", Location(CONF, 1))]
    if http2:
        modules.append(LoadedModule("http2_module", "modules/mod_http2.so", Location(CONF, 1)))
    directives = []
    for number, text in enumerate(lines, start=2):
        inside = text.startswith("  ")
        name, *args = text.strip().split(" ")
        if name == "<VirtualHost":
            args[-1] = args[-1].rstrip(">")
        sections = ("VirtualHost",) if inside else ()
        directives.append(Directive(name, tuple(args), Location(CONF, number), sections))
    evaluated = EvaluatedConfig(CONF, ".", tuple(directives), tuple(modules), (), (), (CONF,))
    return effective_config(evaluated, somaxconn=4096, online_cpus=1).http2


@pytest.mark.parametrize(
    ("mpm", "lines", "min_workers", "max_workers"),
    [
        pytest.param("event", (), 25, 37, id="event-defaults-from-ThreadsPerChild"),
        pytest.param("worker", ("ThreadsPerChild 10",), 10, 15, id="worker-tpc10"),
        pytest.param("event", ("ThreadsPerChild 2",), 2, 4, id="max-at-least-4"),
        pytest.param("event", ("ThreadsPerChild 3",), 3, 4, id="integer-division"),
        pytest.param("prefork", (), 1, 4, id="prefork-one-thread"),
        pytest.param("event", ("H2MinWorkers 8",), 8, 12, id="max-from-configured-min"),
        pytest.param("event", ("H2MaxWorkers 60",), 25, 60, id="max-only"),
        pytest.param("event", ("H2MinWorkers 5abc", "H2MaxWorkers 7"), 5, 7, id="atoi-prefix"),
        pytest.param(
            "event", ("ThreadsPerChild 80", "ThreadLimit 64"), 64, 96, id="tpc-after-clamping"
        ),
    ],
)
def test_worker_pool_defaults(
    mpm: Mpm, lines: tuple[str, ...], min_workers: int, max_workers: int
) -> None:
    settings = settings_for(mpm, *lines)
    assert settings is not None
    assert (settings.min_workers, settings.max_workers) == (min_workers, max_workers)


@pytest.mark.parametrize(
    ("threads", "expected"), [(1, 4), (2, 4), (3, 4), (5, 7), (25, 37), (64, 96)]
)
def test_default_max_workers(threads: int, expected: int) -> None:
    assert default_max_workers(default_min_workers(Mpm.event, threads)) == expected


def test_not_loaded_gives_none() -> None:
    assert settings_for(Mpm.event, "Protocols h2c http/1.1", http2=False) is None


def test_protocols_lines_append_and_vhost_replaces() -> None:
    settings = settings_for(
        Mpm.event,
        "Protocols h2c",
        "Protocols http/1.1",
        "<VirtualHost *:80>",
        "  H2MaxSessionStreams 20",
        "<VirtualHost *:81>",
        "  Protocols http/1.1",
        "  KeepAliveTimeout 2",
        "  Timeout 30",
        "  H2StreamTimeout 10",
    )
    assert settings is not None
    main, inherits, own = settings.servers
    assert main.protocols == ("h2c", "http/1.1")
    assert inherits.protocols == ("h2c", "http/1.1")
    assert inherits.max_session_streams == 20
    assert main.max_session_streams == 100
    assert own.protocols == ("http/1.1",)
    assert not own.offers_h2
    assert (own.idle_timeout_s, own.timeout_s, own.stream_timeout_s) == (2.0, 30.0, 10.0)
    assert inherits.stream_timeout_s == 60.0  # falls back to Timeout (h2_c2.c)
    assert settings.active


@pytest.mark.parametrize(
    ("mpm", "lines", "active", "codes"),
    [
        pytest.param("event", ("Protocols h2c http/1.1",), True, (), id="event-h2c"),
        pytest.param("event", (), False, (), id="not-offered"),
        pytest.param("event", ("Protocols H2C",), False, (), id="case-sensitive-id"),
        pytest.param(
            "prefork", ("Protocols h2 http/1.1",), False, ("AH10034",), id="prefork-declines"
        ),
        pytest.param(
            "event", ("Protocols h2c", "H2MaxWorkers 8"), False, ("AH02911",), id="max-below-min"
        ),
    ],
)
def test_active_and_warnings(
    mpm: Mpm, lines: tuple[str, ...], active: bool, codes: tuple[str, ...]
) -> None:
    settings = settings_for(mpm, *lines)
    assert settings is not None
    assert settings.active is active
    assert tuple(w.code for w in settings.warnings) == codes


def test_timeouts_and_idle_limit() -> None:
    settings = settings_for(
        Mpm.worker, "KeepAliveTimeout 3", "Timeout 20", "H2MaxWorkerIdleSeconds 30"
    )
    assert settings is not None
    assert settings.worker_idle_s == 30.0
    assert settings.main.idle_timeout_s == 3.0
    assert settings.main.stream_timeout_s == 20.0
    assert str(settings.source_of("H2MaxWorkerIdleSeconds")) == f"{CONF}:4"
    zero = settings_for(Mpm.event, "H2MaxWorkerIdleSeconds 0", "H2StreamTimeout 0")
    assert zero is not None
    assert zero.worker_idle_s == 600.0
    assert zero.main.stream_timeout_s == 60.0


def test_vhost_worker_directives_are_noted() -> None:
    settings = settings_for(Mpm.event, "<VirtualHost *:80>", "  H2MaxWorkers 3")
    assert settings is not None
    assert settings.max_workers == 37
    assert settings.notes == (
        f"{CONF}:3: H2MaxWorkers in <VirtualHost *:80> has no effect: mod_http2 sizes its "
        "workers from the main server's value",
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("H2MinWorkers 0", "value must be > 0"),
        ("H2MaxWorkers -3", "value must be > 0"),
        ("H2MaxSessionStreams abc", "value must be > 0"),
        ("H2MaxWorkerIdleSeconds x", "Invalid idle limit value"),
        ("H2StreamTimeout -5", "Invalid timeout value"),
    ],
)
def test_bad_values_are_httpds_errors(line: str, message: str) -> None:
    with pytest.raises(CapplanError) as caught:
        settings_for(Mpm.event, "Protocols h2c", line)
    assert caught.value.message == message
    assert str(caught.value.location) == f"{CONF}:3"
