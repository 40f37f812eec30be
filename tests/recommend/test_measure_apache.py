"""`recommend --measure`: the memory figures of a running httpd replace the profile's guesses."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from capplan.measure import measure_memory, measurement_to_profile_memory
from capplan.pipeline import recommend_report
from capplan.profile import load_profile
from tests.httpd import base_config, free_port, prepare_root, running_server
from tests.recommend.profiles import PROFILES_DIR

PROFILE = PROFILES_DIR / "wordpress-prefork.yaml"


@pytest.mark.apache
def test_measured_memory_replaces_the_profile_figures(apache2: str, tmp_path: Path) -> None:
    root = tmp_path / "server"
    prepare_root(root)
    port = free_port()
    conf = root / "conf" / "httpd.conf"
    conf.write_text(
        base_config(root, "prefork", port)
        + "StartServers 3\nMinSpareServers 3\nMaxSpareServers 4\nMaxRequestWorkers 8\n"
        + "ServerLimit 8\n"
    )
    guessed = load_profile(PROFILE).memory
    with running_server(root, conf, port):
        report = recommend_report(str(conf), str(PROFILE), somaxconn=4096, measure=True)
        again = measurement_to_profile_memory(measure_memory(config=str(conf)))
    used = report.profile.memory
    assert "prefork_process" in again
    # A bare prefork child is a few MiB, far from the profile's 45 MiB PHP child. Children still
    # settling after start-up move the figure a little between two readings.
    assert guessed.prefork_process_bytes == 45 << 20
    assert used.prefork_process_bytes < 20 << 20
    assert math.isclose(used.prefork_process_bytes, again["prefork_process"], rel_tol=0.5)
    assert report.recommendation is not None
    assert report.recommendation.options
