"""capplan.render: human number formats, the inspect table and the JSON `config` object."""

from __future__ import annotations

import json

import pytest

from capplan.mpm_names import Mpm
from capplan.render.format import format_bytes, format_number, format_probability, format_seconds
from capplan.render.json_out import config_to_dict, dumps, inspect_document
from capplan.render.table import config_table, render_table
from tests.test_effective import run


@pytest.mark.parametrize(
    ("value", "want"),
    [(1.234e-5, "1.2e-5"), (0.0123, "0.012"), (0.25, "0.25"), (1.0, "1"), (0.0, "0"),
     (0.001234, "0.0012"), (float("nan"), "n/a"), (1.5e-198, "< 1e-9"), (1e-9, "1e-9")],
)  # fmt: skip
def test_format_probability(value: float, want: str) -> None:
    assert format_probability(value) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [(3.4 * 2**30, "3.4 GiB"), (25 * 2**20, "25 MiB"), (512, "512 B"), (1536, "1.5 KiB"),
     (10 * 2**20 + 1, "10 MiB"), (-2048, "-2 KiB"), (float("inf"), "inf")],
)  # fmt: skip
def test_format_bytes(value: float, want: str) -> None:
    assert format_bytes(value) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [(0, "0 s"), (0.00035, "350 µs"), (0.2, "200 ms"), (5, "5 s"), (1.5, "1.5 s"),
     (120, "2 min"), (5400, "1.5 h"), (0.0123456, "12.3 ms"), (2.16e-10, "< 1 µs")],
)  # fmt: skip
def test_format_seconds(value: float, want: str) -> None:
    assert format_seconds(value) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [(1.2e-5, "1.2e-5"), (450, "450"), (1.23e6, "1230000"), (1.234e9, "1.23e9"), (0.5, "0.5"),
     (2.0, "2"), (float("-inf"), "-inf")],
)  # fmt: skip
def test_format_number(value: float, want: str) -> None:
    assert format_number(value) == want


def test_render_table_markdown() -> None:
    text = render_table(("a", "b"), [("1", "x")], markdown=True)
    assert text.splitlines()[0].startswith("| a")


def test_config_table_shows_values_sources_warnings_notes_capacity() -> None:
    config = run(Mpm.event, "ThreadsPerChild 7", "MaxRequestWorkers 130", "MaxSpareThreads 0")
    text = config_table(config)
    lines = text.splitlines()
    assert lines[0] == "conf/httpd.conf: MPM event"
    row = next(line for line in lines if line.startswith("MaxRequestWorkers"))
    assert row.split() == ["MaxRequestWorkers", "112", "conf/httpd.conf:3"]
    row = next(line for line in lines if line.startswith("ServerLimit"))
    assert row.split() == ["ServerLimit", "16", "default"]
    assert any(
        line.strip().startswith("AH00513: WARNING: MaxRequestWorkers of 130") for line in lines
    )
    assert any("MaxSpareThreads 0 runs as 83" in line for line in lines)
    assert lines[-1] == (
        "Capacity: 16 processes × 7 threads = 112 workers; up to 336 connections when all "
        "workers are idle (workers × (1 + 2), AsyncRequestWorkerFactor truncated); "
        "accept queue 512 (min(ListenBacklog, somaxconn) + 1)"
    )


def test_config_object_follows_the_design_contract() -> None:
    config = run(Mpm.prefork, "MaxRequestWorkers 300", "KeepAliveTimeout 500ms")
    document = json.loads(dumps(inspect_document(config)))
    assert document["schema_version"] == 1
    assert document["path"] == "conf/httpd.conf"
    assert document["mpm"] == "prefork"
    assert list(document["effective"]) == [
        "ServerLimit", "MaxRequestWorkers", "StartServers", "MinSpareServers", "MaxSpareServers",
        "KeepAlive", "KeepAliveTimeout", "MaxKeepAliveRequests", "ListenBacklog",
        "MaxConnectionsPerChild", "Timeout",
    ]  # fmt: skip
    assert document["effective"]["MaxRequestWorkers"] == 256
    assert document["effective"]["KeepAliveTimeout"] == 0.5
    assert document["provenance"]["MaxRequestWorkers"] == "conf/httpd.conf:2"
    assert document["provenance"]["Timeout"] == "default"
    assert document["warnings"] == [
        {
            "code": "AH00180",
            "message": "WARNING: MaxRequestWorkers of 300 exceeds ServerLimit value of 256 "
            "servers, decreasing MaxRequestWorkers to 256. To increase, please see the "
            "ServerLimit directive.",
            "location": "conf/httpd.conf:2",
        }
    ]
    assert document["capacity"]["workers"] == 256
    assert "schema_version" not in config_to_dict(config)


def test_event_json_has_the_worker_factor() -> None:
    document = config_to_dict(run(Mpm.event, "AsyncRequestWorkerFactor 1.5"))
    assert document["effective"]["AsyncRequestWorkerFactor"] == 1.5
    assert document["capacity"]["max_connections"] == 400 * 2
