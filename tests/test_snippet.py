"""Snippet text and placement advice: the block's order and values, and where it goes per layout."""

from __future__ import annotations

import pytest

from capplan.effective import Layout
from capplan.location import Location
from capplan.mpm_names import Mpm
from capplan.mpm_settings import CommonSettings, EventSettings, PreforkSettings
from capplan.snippet import (
    format_factor,
    format_seconds,
    mpm_directives,
    placement,
    render_snippet,
)


@pytest.mark.parametrize(
    ("value_s", "text"),
    [
        pytest.param(5.0, "5", id="whole-seconds"),
        pytest.param(0.5, "500ms", id="milliseconds"),
        pytest.param(1.25, "1250ms", id="fraction"),
    ],
)
def test_keepalive_timeout_is_written_as_httpd_parses_it(value_s: float, text: str) -> None:
    assert format_seconds(value_s) == text


@pytest.mark.parametrize(
    ("factor", "text"),
    [pytest.param(2.0, "2", id="integer"), pytest.param(1.5, "1.5", id="fraction")],
)
def test_async_request_worker_factor_text(factor: float, text: str) -> None:
    assert format_factor(factor) == text


def test_event_block_lists_every_sizing_directive_in_order() -> None:
    settings = EventSettings(
        server_limit=4,
        thread_limit=50,
        threads_per_child=50,
        max_request_workers=200,
        start_servers=2,
        min_spare_threads=50,
        max_spare_threads=150,
        async_request_worker_factor=3.0,
        common=CommonSettings(listen_backlog=1024),
    )
    assert [name for name, _ in mpm_directives(settings)] == [
        "ServerLimit",
        "ThreadLimit",
        "ThreadsPerChild",
        "MaxRequestWorkers",
        "StartServers",
        "MinSpareThreads",
        "MaxSpareThreads",
        "AsyncRequestWorkerFactor",
        "MaxConnectionsPerChild",
        "ListenBacklog",
    ]
    text = render_snippet(settings)
    assert text.startswith("<IfModule mpm_event_module>\n")
    assert "    AsyncRequestWorkerFactor 3\n" in text
    assert text.endswith("</IfModule>\n")


def test_keepalive_changes_follow_the_block() -> None:
    text = render_snippet(PreforkSettings(), (("KeepAliveTimeout", "1"),))
    block, _, tail = text.partition("</IfModule>\n")
    assert "KeepAliveTimeout" not in block
    assert tail.splitlines()[-1] == "KeepAliveTimeout 1"


@pytest.mark.parametrize(
    ("layout", "current", "new", "file", "commands", "step_words"),
    [
        pytest.param(
            "debian",
            "prefork",
            "event",
            "/etc/apache2/mods-available/mpm_event.conf",
            ("a2dismod mpm_prefork && a2enmod mpm_event",),
            "full stop and start",
            id="debian-switch",
        ),
        pytest.param(
            "debian",
            "event",
            "event",
            "/etc/apache2/mods-available/mpm_event.conf",
            (),
            "ServerLimit and ThreadLimit",
            id="debian-same-mpm",
        ),
        pytest.param(
            "rhel",
            "prefork",
            "event",
            "/etc/httpd/conf.d/mpm.conf",
            (),
            "LoadModule mpm_event_module modules/mod_mpm_event.so",
            id="rhel-switch",
        ),
        pytest.param(
            "upstream",
            "event",
            "worker",
            "/usr/local/apache2/conf/extra/httpd-mpm.conf",
            (),
            "LoadModule mpm_worker_module modules/mod_mpm_worker.so",
            id="upstream-switch",
        ),
        pytest.param(
            "unknown",
            "worker",
            "event",
            "httpd.conf",
            (),
            "AH00534",
            id="unknown-layout",
        ),
    ],
)
def test_placement_per_layout(  # noqa: PLR0917  (one parameter per table column)
    layout: Layout,
    current: Mpm,
    new: Mpm,
    file: str,
    commands: tuple[str, ...],
    step_words: str,
) -> None:
    roots = {"debian": "/etc/apache2", "rhel": "/etc/httpd", "upstream": "/usr/local/apache2"}
    where = placement(
        layout=layout,
        current_mpm=current,
        new_mpm=new,
        server_root=roots.get(layout, ""),
        main_file="httpd.conf",
    )
    assert where.snippet_file == file
    assert where.commands == commands
    assert any(step_words in step for step in where.steps), where.steps


def test_placement_points_at_the_current_block_and_keepalive_line() -> None:
    where = placement(
        layout="rhel",
        current_mpm=Mpm.event,
        new_mpm=Mpm.event,
        server_root="/etc/httpd",
        main_file="/etc/httpd/conf/httpd.conf",
        mpm_block_location=Location("/etc/httpd/conf.d/mpm-tuning.conf", 3),
        keepalive_locations=(
            ("KeepAliveTimeout", Location("/etc/httpd/conf/httpd.conf", 40)),
            ("MaxKeepAliveRequests", None),
        ),
    )
    assert where.snippet_file == "/etc/httpd/conf.d/mpm-tuning.conf"
    assert where.steps[0].startswith(
        "Replace the MPM directives set in /etc/httpd/conf.d/mpm-tuning.conf (from line 3)"
    )
    assert "Set KeepAliveTimeout at /etc/httpd/conf/httpd.conf:40" in where.steps[1]
    assert "Set MaxKeepAliveRequests in /etc/httpd/conf/httpd.conf" in where.steps[2]
