"""capplan.effective: defaults, check_config clamping, run-time adjustments, parsing quirks, errors.

Rows of the worked-examples table come from httpd-facts §2.6 (each observed with apache2 2.4.71
`-t`); `tests/test_differential_settings.py` checks the same code against the real binary.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from capplan.config.cnumbers import c_atoi, c_strtod_whole, parse_timeout_us
from capplan.config.types import Directive, EvaluatedConfig, LoadedModule
from capplan.effective import (
    effective_config,
    effective_values,
    effective_worker_factor,
    mpm_from_v_output,
)
from capplan.errors import CapplanError
from capplan.location import Location
from capplan.machine import detect_layout, find_system_config
from capplan.mpm_names import Mpm
from capplan.mpm_settings import EffectiveConfig, EventSettings

CONF = "conf/httpd.conf"


def evaluated(
    lines: tuple[str, ...] | list[str],
    mpms: tuple[str, ...] = (),
    sections: dict[int, tuple[str, ...]] | None = None,
) -> EvaluatedConfig:
    """An EvaluatedConfig whose directive i (1-based line i + 1) is `lines[i]`, split on spaces."""
    modules = tuple(
        LoadedModule(f"mpm_{m}_module", f"modules/mod_mpm_{m}.so", Location(CONF, 1)) for m in mpms
    )
    directives = []
    for number, text in enumerate(lines, start=2):
        name, *args = text.split(" ")
        directives.append(
            Directive(name, tuple(args), Location(CONF, number), (sections or {}).get(number, ()))
        )
    return EvaluatedConfig(
        main_file=CONF,
        server_root=".",
        directives=tuple(directives),
        modules=modules,
        defines=(),
        warnings=(),
        files_read=(CONF,),
    )


def run(mpm: Mpm, *lines: str) -> EffectiveConfig:
    return effective_config(evaluated(lines, (mpm,)), somaxconn=4096, online_cpus=2)


def codes(config: EffectiveConfig) -> list[str]:
    return [w.code for w in config.warnings]


# (mpm, directives, warning codes, expected effective values) — httpd-facts §2.6.
WORKED: list[tuple[str, Mpm, tuple[str, ...], list[str], dict[str, int]]] = [
    ("prefork-defaults", Mpm.prefork, (), [], {"ServerLimit": 256, "MaxRequestWorkers": 256,
        "StartServers": 5, "MinSpareServers": 5, "MaxSpareServers": 10}),
    ("prefork-mrw-300", Mpm.prefork, ("MaxRequestWorkers 300",), ["AH00180"],
        {"MaxRequestWorkers": 256}),
    ("prefork-sl-300-mrw-300", Mpm.prefork, ("ServerLimit 300", "MaxRequestWorkers 300"), [],
        {"MaxRequestWorkers": 300}),
    ("prefork-sl-100", Mpm.prefork, ("ServerLimit 100",), ["AH00180"], {"MaxRequestWorkers": 100}),
    ("prefork-huge", Mpm.prefork, ("ServerLimit 300000", "MaxRequestWorkers 300000"),
        ["AH00175", "AH00180"], {"ServerLimit": 200000, "MaxRequestWorkers": 200000}),
    ("prefork-sl-0", Mpm.prefork, ("ServerLimit 0",), ["AH00177", "AH00180"],
        {"ServerLimit": 1, "MaxRequestWorkers": 1}),
    ("prefork-mrw-0", Mpm.prefork, ("MaxRequestWorkers 0",), ["AH00182"], {"MaxRequestWorkers": 1}),
    ("prefork-mrw-neg", Mpm.prefork, ("MaxRequestWorkers -5",), ["AH00182"],
        {"MaxRequestWorkers": 1}),
    ("prefork-mrw-abc", Mpm.prefork, ("MaxRequestWorkers abc",), ["AH00182"],
        {"MaxRequestWorkers": 1}),
    ("prefork-mrw-150abc", Mpm.prefork, ("MaxRequestWorkers 150abc",), [],
        {"MaxRequestWorkers": 150}),
    ("prefork-start-0", Mpm.prefork, ("StartServers 0",), ["AH00184"], {"StartServers": 1}),
    ("prefork-minspare-0", Mpm.prefork, ("MinSpareServers 0",), ["AH00186"],
        {"MinSpareServers": 1, "MaxSpareServers": 10}),
    ("prefork-maxspare-0", Mpm.prefork, ("MaxSpareServers 0",), [], {"MaxSpareServers": 6}),
    ("prefork-maxclients-alias", Mpm.prefork, ("MaxClients 120",), [], {"MaxRequestWorkers": 120}),
    ("prefork-last-wins", Mpm.prefork, ("MaxRequestWorkers 100", "MaxRequestWorkers 400"),
        ["AH00180"], {"MaxRequestWorkers": 256}),
    ("prefork-start-above-mrw", Mpm.prefork, ("StartServers 10", "MaxRequestWorkers 3"), [],
        {"StartServers": 3}),
    ("event-defaults", Mpm.event, (), [], {"ServerLimit": 16, "ThreadLimit": 64,
        "ThreadsPerChild": 25, "MaxRequestWorkers": 400, "StartServers": 3,
        "MinSpareThreads": 75, "MaxSpareThreads": 250}),
    ("worker-tpc-100", Mpm.worker, ("ThreadsPerChild 100",), ["AH00310", "AH00316"],
        {"ThreadsPerChild": 64, "MaxRequestWorkers": 384}),
    ("event-tpc-100", Mpm.event, ("ThreadsPerChild 100",), ["AH00507", "AH00513"],
        {"ThreadsPerChild": 64, "MaxRequestWorkers": 384}),
    ("event-tl-tpc-100", Mpm.event, ("ThreadLimit 100", "ThreadsPerChild 100"), [],
        {"ThreadsPerChild": 100, "MaxRequestWorkers": 400}),
    ("worker-mrw-10", Mpm.worker, ("MaxRequestWorkers 10",), ["AH00314"],
        {"MaxRequestWorkers": 25}),
    ("event-mrw-130", Mpm.event, ("MaxRequestWorkers 130",), ["AH00513"],
        {"MaxRequestWorkers": 125}),
    ("event-mrw-1000", Mpm.event, ("MaxRequestWorkers 1000",), ["AH00515"],
        {"MaxRequestWorkers": 400}),
    ("worker-mrw-1010", Mpm.worker, ("MaxRequestWorkers 1010",), ["AH00316", "AH00318"],
        {"MaxRequestWorkers": 400}),
    ("worker-sl-25000", Mpm.worker, ("ServerLimit 25000",), ["AH00300"], {"ServerLimit": 20000}),
    ("worker-tl-25000", Mpm.worker, ("ThreadLimit 25000",), ["AH00305"], {"ThreadLimit": 20000}),
    ("worker-tl-200000", Mpm.worker, ("ThreadLimit 200000",), ["AH00305"],
        {"ThreadLimit": 20000}),
    ("event-tl-25000", Mpm.event, ("ThreadLimit 25000",), [], {"ThreadLimit": 25000}),
    ("event-tl-200000", Mpm.event, ("ThreadLimit 200000",), ["AH00502"],
        {"ThreadLimit": 100000}),
    ("event-tpc-0", Mpm.event, ("ThreadsPerChild 0",), ["AH00509", "AH00515"],
        {"ThreadsPerChild": 1, "MaxRequestWorkers": 16}),
    ("worker-tl-0", Mpm.worker, ("ThreadLimit 0",), ["AH00307", "AH00310", "AH00318"],
        {"ThreadLimit": 1, "ThreadsPerChild": 1, "MaxRequestWorkers": 16}),
    ("event-sl-0", Mpm.event, ("ServerLimit 0",), ["AH00499", "AH00515"],
        {"ServerLimit": 1, "MaxRequestWorkers": 25}),
    ("worker-tl-10", Mpm.worker, ("ThreadLimit 10",), ["AH00310", "AH00318"],
        {"ThreadsPerChild": 10, "MaxRequestWorkers": 160}),
    ("worker-sl4-tpc10-mrw45", Mpm.worker,
        ("ServerLimit 4", "ThreadsPerChild 10", "MaxRequestWorkers 45"), ["AH00316"],
        {"MaxRequestWorkers": 40}),
    ("worker-sl2-tpc64-mrw1000", Mpm.worker,
        ("ServerLimit 2", "ThreadsPerChild 64", "MaxRequestWorkers 1000"),
        ["AH00316", "AH00318"], {"MaxRequestWorkers": 128}),
    ("event-tl20-tpc30-mrw100-sl3", Mpm.event,
        ("ThreadLimit 20", "ThreadsPerChild 30", "MaxRequestWorkers 100", "ServerLimit 3"),
        ["AH00507", "AH00515"], {"ThreadsPerChild": 20, "MaxRequestWorkers": 60}),
    ("event-sl1-tpc2-mrw4", Mpm.event,
        ("ServerLimit 1", "ThreadsPerChild 2", "MaxRequestWorkers 4"), ["AH00515"],
        {"MaxRequestWorkers": 2}),
    ("event-minspare-0", Mpm.event, ("MinSpareThreads 0",), ["AH00519"],
        {"MinSpareThreads": 1, "MaxSpareThreads": 250}),
    ("worker-start-0", Mpm.worker, ("StartServers 0",), ["AH00320"], {"StartServers": 1}),
    ("event-maxspare-0", Mpm.event, ("MaxSpareThreads 0",), [], {"MaxSpareThreads": 101}),
    ("event-start-above-daemons", Mpm.event, ("StartServers 10", "MaxRequestWorkers 100"), [],
        {"StartServers": 4}),
    ("event-debian-shipped", Mpm.event, ("StartServers 2", "MinSpareThreads 25",
        "MaxSpareThreads 75", "ThreadLimit 64", "ThreadsPerChild 25", "MaxRequestWorkers 150",
        "MaxConnectionsPerChild 0"), [], {"MaxRequestWorkers": 150, "MaxSpareThreads": 75}),
    ("event-atoi-overflow", Mpm.event, ("MaxRequestWorkers 3000000000",), ["AH00511"],
        {"MaxRequestWorkers": 25}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mpm", "lines", "want_codes", "want"), [row[1:] for row in WORKED], ids=[r[0] for r in WORKED]
)
def test_worked_examples(
    mpm: Mpm, lines: tuple[str, ...], want_codes: list[str], want: dict[str, int]
) -> None:
    config = run(mpm, *lines)
    assert codes(config) == want_codes
    got = effective_values(config)
    assert {k: got[k] for k in want} == want


@pytest.mark.parametrize(
    ("mpm", "lines", "messages"),
    [
        (
            "event",
            ("ThreadsPerChild 7", "MaxRequestWorkers 130", "ServerLimit 2"),
            [
                "WARNING: MaxRequestWorkers of 130 is not an integer multiple of ThreadsPerChild "
                "of 7, decreasing to nearest multiple 126, for a maximum of 18 servers.",
                "WARNING: MaxRequestWorkers of 126 would require 18 servers and would exceed "
                "ServerLimit of 2, decreasing to 14. To increase, please see the ServerLimit "
                "directive.",
            ],
        ),
        (
            "prefork",
            ("MaxRequestWorkers 99999999999", "ServerLimit 3000000000"),
            [
                "WARNING: ServerLimit of -1294967296 not allowed, increasing to 1.",
                "WARNING: MaxRequestWorkers of 1215752191 exceeds ServerLimit value of 1 "
                "servers, decreasing MaxRequestWorkers to 1. To increase, please see the "
                "ServerLimit directive.",
            ],
        ),
        (
            "worker",
            ("MinSpareThreads -1",),
            [
                "WARNING: MinSpareThreads of -1 not allowed, increasing to 1 to avoid almost "
                "certain server failure. Please read the documentation."
            ],
        ),
    ],
    ids=["event-round-then-limit", "prefork-atoi-wraps", "worker-minspare-negative"],
)
def test_messages_are_httpds_words(mpm: Mpm, lines: tuple[str, ...], messages: list[str]) -> None:
    assert [w.message for w in run(mpm, *lines).warnings] == messages


def test_warning_points_at_the_directive_that_set_the_value() -> None:
    config = run(Mpm.event, "ServerLimit 2", "MaxRequestWorkers 1000")
    assert config.warnings[0].location == Location(CONF, 3)


def test_provenance_names_the_last_occurrence_and_aliases() -> None:
    config = run(Mpm.prefork, "MaxRequestWorkers 10", "MaxClients 20", "KeepAlive Off")
    assert config.source_of("MaxRequestWorkers") == Location(CONF, 3)
    assert config.source_of("KeepAlive") == Location(CONF, 4)
    assert config.source_of("ServerLimit") is None
    assert any("MaxClients is deprecated" in note for note in config.notes)


@pytest.mark.parametrize(
    ("lines", "field", "want"),
    [
        (("KeepAliveTimeout 500ms",), "keep_alive_timeout_s", 0.5),
        (("KeepAliveTimeout 2mi",), "keep_alive_timeout_s", 120.0),
        (("KeepAliveTimeout 1h",), "keep_alive_timeout_s", 3600.0),
        (("KeepAliveTimeout 5sec",), "keep_alive_timeout_s", 5.0),
        (("KeepAlive off",), "keep_alive", False),
        (("Timeout 500ms",), "timeout_s", 500),
        (("Timeout abc",), "timeout_s", 0),
        (("MaxKeepAliveRequests 0",), "max_keep_alive_requests", 0),
        (("ListenBacklog 10000",), "listen_backlog", 10000),
        (("MaxRequestsPerChild 1000",), "max_connections_per_child", 1000),
    ],
    ids=["kat-ms", "kat-minutes", "kat-hours", "kat-sec-suffix", "keepalive-off",
         "timeout-no-unit", "timeout-atoi-abc", "mkar-0", "backlog", "mrpc-alias"],
)  # fmt: skip
def test_common_settings(lines: tuple[str, ...], field: str, want: object) -> None:
    assert getattr(run(Mpm.event, *lines).settings.common, field) == want


def test_vhost_keepalive_does_not_change_the_main_server() -> None:
    config = effective_config(
        evaluated(["KeepAliveTimeout 3", "KeepAliveTimeout 30"], ("event",), {3: ("VirtualHost",)}),
        somaxconn=4096,
    )
    assert config.settings.common.keep_alive_timeout_s == 3.0
    assert config.source_of("KeepAliveTimeout") == Location(CONF, 2)


def test_accept_queue_uses_somaxconn() -> None:
    config = effective_config(evaluated(["ListenBacklog 10000"], ("event",)), somaxconn=128)
    assert config.settings.common.accept_queue_capacity == 129


@pytest.mark.parametrize(
    ("value", "factor", "limit_factor"),
    [("2", 2.0, 2), ("1.5", 1.5, 1), ("0.5", 1.0, 1), ("1e1", 10.0, 10),
     ("0x10", 16.0, 16), ("nan", 1.0, 1), ("inf", 1.0, 1), ("1.99", 1.9375, 1)],
    ids=["int", "fraction", "below-one", "exponent", "hex", "nan", "inf",
         "sixteenths"],
)  # fmt: skip
def test_async_request_worker_factor(value: str, factor: float, limit_factor: int) -> None:
    settings = run(Mpm.event, f"AsyncRequestWorkerFactor {value}").settings
    assert isinstance(settings, EventSettings)
    assert settings.async_request_worker_factor == factor
    assert settings.worker_factor == limit_factor


@pytest.mark.parametrize(
    ("mpm", "line", "message"),
    [
        ("event", "AsyncRequestWorkerFactor abc", "error parsing value"),
        ("event", "AsyncRequestWorkerFactor 1.5x", "error parsing value"),
        ("event", "AsyncRequestWorkerFactor 0",
         "AsyncRequestWorkerFactor argument must be a positive number"),
        ("event", "AsyncRequestWorkerFactor -1",
         "AsyncRequestWorkerFactor argument must be a positive number"),
        ("event", "KeepAliveTimeout abc", "KeepAliveTimeout has wrong format"),
        ("event", "KeepAliveTimeout -5", "KeepAliveTimeout has wrong format"),
        ("event", "KeepAliveTimeout 1.5", "KeepAliveTimeout has wrong format"),
        ("event", "KeepAliveTimeout 9223372036855", "KeepAliveTimeout has wrong format"),
        ("event", "KeepAlive yes", "KeepAlive must be On or Off"),
        ("event", "ListenBacklog 0", "ListenBacklog must be > 0"),
        ("event", "ListenBacklog abc", "ListenBacklog must be > 0"),
        ("event", "ListenCoresBucketsRatio 0", "ListenCoresBucketsRatio must be > 0"),
        ("prefork", "ThreadsPerChild 25",
         "Invalid command 'ThreadsPerChild', perhaps misspelled or defined by a module not "
         "included in the server configuration"),
        ("prefork", "AsyncRequestWorkerFactor 2",
         "Invalid command 'AsyncRequestWorkerFactor', perhaps misspelled or defined by a module "
         "not included in the server configuration"),
        ("worker", "AsyncRequestWorkerFactor 2",
         "Invalid command 'AsyncRequestWorkerFactor', perhaps misspelled or defined by a module "
         "not included in the server configuration"),
        ("event", "minsparesERVERS 2",
         "Invalid command 'minsparesERVERS', perhaps misspelled or defined by a module not "
         "included in the server configuration"),
        ("event", "MaxRequestWorkers 1 2",
         "MaxRequestWorkers takes one argument, Maximum number of threads alive at the same time"),
        ("prefork", "maxrequestworkers",
         "MaxRequestWorkers takes one argument, Maximum number of children alive at the same "
         "time"),
    ],
    ids=["arwf-abc", "arwf-suffix", "arwf-0", "arwf-neg", "kat-abc", "kat-neg", "kat-fraction",
         "kat-overflow", "keepalive-yes", "backlog-0", "backlog-abc", "buckets-0",
         "prefork-tpc", "prefork-arwf", "worker-arwf", "event-minspareservers", "mrw-two-args",
         "mrw-no-arg"],
)  # fmt: skip
def test_httpd_rejects(mpm: Mpm, line: str, message: str) -> None:
    with pytest.raises(CapplanError) as caught:
        run(mpm, "ServerName x", line)
    assert caught.value.message == message
    assert caught.value.location == Location(CONF, 3)
    assert caught.value.source_line == line
    assert "Traceback" not in caught.value.render()


@pytest.mark.parametrize(
    ("line", "sections", "message"),
    [
        ("ServerLimit 4", ("VirtualHost",),
         "ServerLimit cannot occur within <VirtualHost> section"),
        ("ServerLimit 4", ("Directory",), "ServerLimit not allowed in <Directory> context"),
        ("ServerLimit 4", ("VirtualHost", "Location"),
         "ServerLimit not allowed in <Location> context"),
        ("KeepAliveTimeout 4", ("Directory",),
         "KeepAliveTimeout not allowed in <Directory> context"),
    ],
    ids=["mpm-in-vhost", "mpm-in-directory", "mpm-in-vhost-location", "kat-in-directory"],
)  # fmt: skip
def test_context_errors(line: str, sections: tuple[str, ...], message: str) -> None:
    with pytest.raises(CapplanError) as caught:
        effective_config(evaluated([line], ("event",), {2: sections}), somaxconn=4096)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("mpms", "message"),
    [
        ((), f"{CONF}: AH00534: apache2: Configuration error: No MPM loaded."),
        (("event", "prefork"), "AH00534: apache2: Configuration error: More than one MPM loaded."),
    ],
    ids=["none", "two"],
)
def test_mpm_count(mpms: tuple[str, ...], message: str) -> None:
    with pytest.raises(CapplanError) as caught:
        effective_config(evaluated([], mpms), somaxconn=4096)
    assert caught.value.message == message


def test_same_mpm_twice_is_one_mpm() -> None:
    assert effective_config(evaluated([], ("worker", "worker")), somaxconn=1).mpm == "worker"


def test_mpm_override_and_v_output() -> None:
    assert effective_config(evaluated([], ()), mpm=Mpm.prefork, somaxconn=1).mpm == Mpm.prefork
    v_text = Path(__file__).parent.joinpath("data", "apache2-V-worker.txt").read_text()
    assert effective_config(evaluated([], ()), v_output=v_text, somaxconn=1).mpm == "worker"
    assert mpm_from_v_output("Server MPM:     event") == "event"
    with pytest.raises(CapplanError, match="empty"):
        mpm_from_v_output("Server MPM:     \n  threaded:     no")


def test_listener_buckets_raise_spare_threads() -> None:
    # httpd-facts §2.5: 2 online cores, ratio 1 → NB 2, so StartServers 3 stays and
    # MinSpareThreads ≥ TPC·(NB−1)+NB = 27 and MaxSpareThreads ≥ MinSpare + (TPC+1)·NB.
    config = effective_config(
        evaluated(["ListenCoresBucketsRatio 1", "MinSpareThreads 5", "MaxSpareThreads 10"],
                  ("event",)),
        somaxconn=4096,
        online_cpus=2,
    )  # fmt: skip
    values = effective_values(config)
    assert values["MinSpareThreads"] == 27
    assert values["MaxSpareThreads"] == 27 + 26 * 2


@pytest.mark.parametrize(
    ("text", "want"),
    [("150abc", 150), ("abc", 0), ("-5", -5), ("  +7", 7), ("0x10", 0),
     ("99999999999", 1215752191), ("3000000000", -1294967296), ("99999999999999999999", -1),
     ("-99999999999999999999", 0), ("", 0)],
)  # fmt: skip
def test_c_atoi(text: str, want: int) -> None:
    assert c_atoi(text) == want


def test_c_strtod_whole() -> None:
    assert c_strtod_whole("1e") is None
    assert c_strtod_whole("2 ") is None
    assert c_strtod_whole("0x1.8p1") == 3.0
    assert c_strtod_whole(".5") == 0.5
    assert c_strtod_whole(" \t3") == 3.0
    nan = c_strtod_whole("NaN")
    assert nan is not None
    assert math.isnan(nan)


@pytest.mark.parametrize(
    ("text", "want"),
    [("5", 5_000_000), ("s", 0), ("ms", 0), ("5sx", 5_000_000), ("5h", 18_000_000_000),
     ("5mx", None), ("5S", None), ("9223372036854s", 9223372036854_000_000),
     ("9223372036854775807ms", None), ("0x10", None)],
)  # fmt: skip
def test_parse_timeout_us(text: str, want: int | None) -> None:
    assert parse_timeout_us(text) == want


def test_worker_factor_never_nan() -> None:
    assert effective_worker_factor(float("nan")) == 1.0
    assert effective_worker_factor(1e300) == 1.0


def test_detect_layout(tmp_path: Path) -> None:
    debian = tmp_path / "apache2"
    (debian / "mods-enabled").mkdir(parents=True)
    (debian / "envvars").write_text("")
    (debian / "apache2.conf").write_text("")
    rhel = tmp_path / "httpd"
    (rhel / "conf").mkdir(parents=True)
    (rhel / "conf.modules.d").mkdir()
    upstream = tmp_path / "upstream"
    (upstream / "conf" / "extra").mkdir(parents=True)
    assert detect_layout(debian / "apache2.conf") == "debian"
    assert detect_layout(rhel / "conf" / "httpd.conf") == "rhel"
    assert detect_layout(upstream / "conf" / "httpd.conf") == "upstream"
    assert detect_layout(tmp_path / "x.conf") == "unknown"


def test_find_system_config(tmp_path: Path) -> None:
    conf = tmp_path / "conf" / "httpd.conf"
    conf.parent.mkdir()
    conf.write_text("")
    v_text = f' -D HTTPD_ROOT="{tmp_path}"\n -D SERVER_CONFIG_FILE="conf/httpd.conf"\n'
    assert find_system_config(v_output=v_text, candidates=()) == conf
    fallback = tmp_path / "apache2.conf"
    fallback.write_text("")
    assert find_system_config(run_v=lambda: None, candidates=(fallback,)) == fallback
    with pytest.raises(CapplanError, match="no httpd configuration found"):
        find_system_config(run_v=lambda: None, candidates=(tmp_path / "nope.conf",))
