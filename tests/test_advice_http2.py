"""recommend with HTTP/2 visits: `mpms.<mpm>.http2`, `recommendation.http2`, H2MaxWorkers in the
snippet, and no trace of HTTP/2 with a share of 0 (capplan.advice, capplan.render.report_json)."""

from __future__ import annotations

from pathlib import Path

import pytest

from capplan.pipeline import recommend_report
from capplan.render.report_json import report_to_dict
from capplan.render.report_table import render_report_table

MODULES = "/usr/lib/apache2/modules"


def _write(
    tmp_path: Path, *, http2: bool, share: float, rate: float = 200.0, extra: tuple[str, ...] = ()
) -> tuple[str, str]:
    conf = tmp_path / "httpd.conf"
    lines = [
        f'ServerRoot "{tmp_path}"',
        f"LoadModule mpm_event_module {MODULES}/mod_mpm_event.so",
        "ThreadsPerChild 25",
        "MaxRequestWorkers 100",
    ]
    if http2:
        lines += [f"LoadModule http2_module {MODULES}/mod_http2.so", "Protocols h2 http/1.1"]
    lines += list(extra)
    conf.write_text("\n".join(lines) + "\n")
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "version: 1\ntraffic:\n"
        f"  requests_per_second: {rate}\n  service_time: 50ms\n"
        "visits:\n  requests_per_visit: 12\n  think_time: 2s\n"
        f"  http2_share: {share}\n  http2_streams: 6\n"
    )
    return str(conf), str(profile)


def test_share_zero_leaves_no_http2_in_the_report(tmp_path: Path) -> None:
    conf, profile = _write(tmp_path, http2=True, share=0.0)
    document = report_to_dict(recommend_report(conf, profile, somaxconn=4096))
    assert all("http2" not in metrics for metrics in document["mpms"].values())
    assert "http2" not in document["recommendation"]
    assert "http2_share" not in document["profile"]["visits"]


def test_http2_parts_of_the_report(tmp_path: Path) -> None:
    conf, profile = _write(tmp_path, http2=True, share=0.6)
    report = recommend_report(conf, profile, somaxconn=4096)
    document = report_to_dict(report)
    mpms = document["mpms"]
    assert mpms["event"]["http2"]["active"] is True
    assert mpms["worker"]["http2"]["active"] is True
    assert mpms["prefork"]["http2"]["active"] is False
    assert "AH10034" in mpms["prefork"]["http2"]["reason"]
    sizing = document["recommendation"]["http2"]
    assert sizing["h2_max_workers"] >= sizing["h2_min_workers"]
    assert sizing["stream_wait_probability"] <= 0.01
    assert "HTTP/2:" in render_report_table(report)


@pytest.mark.parametrize(("http2", "reason"), [(False, "not loaded")])
def test_http2_visits_without_mod_http2_are_http11(
    tmp_path: Path, http2: bool, reason: str
) -> None:
    conf, profile = _write(tmp_path, http2=http2, share=0.6)
    document = report_to_dict(recommend_report(conf, profile, somaxconn=4096))
    assert reason in document["mpms"]["event"]["http2"]["reason"]
    assert document["recommendation"]["http2"]["active"] is False


def test_a_configured_h2maxworkers_is_sized_in_the_snippet(tmp_path: Path) -> None:
    # The config's H2MaxWorkers 30 is below the H2MinWorkers of the recommended ThreadsPerChild
    # (mod_http2 would start no workers): recommend writes the pool, at least H2MinWorkers.
    conf, profile = _write(tmp_path, http2=True, share=1.0, rate=3000.0, extra=("H2MaxWorkers 30",))
    rec = report_to_dict(recommend_report(conf, profile, somaxconn=4096))["recommendation"]
    h2 = rec["http2"]
    assert rec["action"] == "change"
    wanted = str(max(h2["h2_max_workers_needed"], h2["h2_min_workers"]))
    assert h2["directives"] == {"H2MaxWorkers": wanted}
    assert rec["directives"]["H2MaxWorkers"] == wanted
    assert f"<IfModule http2_module>\n    H2MaxWorkers {wanted}\n</IfModule>" in rec["snippet"]
