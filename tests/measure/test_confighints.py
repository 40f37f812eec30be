"""What measure takes from a config: PidFile (relative to ServerRoot), MPM, mod_status, Listen."""

from __future__ import annotations

from pathlib import Path

import pytest

from capplan.errors import CapplanError
from capplan.measure.confighints import read_config_hints
from capplan.measure.pipeline import default_status_url, mpm_from_version_text
from capplan.measure.procfs import ProcFS

MODULES = "/usr/lib/apache2/modules"
DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def write(tmp_path: Path, body: str) -> Path:
    conf = tmp_path / "httpd.conf"
    conf.write_text(f'ServerRoot "{tmp_path}"\n' + body)
    return conf


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            f"LoadModule mpm_worker_module {MODULES}/mod_mpm_worker.so\n"
            f"LoadModule status_module {MODULES}/mod_status.so\n"
            "PidFile run/h.pid\nListen 127.0.0.1:8081\nListen 80\n"
            "<Location /server-status>\n  SetHandler server-status\n</Location>\n",
            ("run/h.pid", "worker", True, "http://127.0.0.1/server-status?auto"),
            id="worker-status-port-80",
        ),
        pytest.param(
            f"LoadModule mpm_event_module {MODULES}/mod_mpm_event.so\n"
            f"LoadModule status_module {MODULES}/mod_status.so\n"
            "<IfModule mod_status.c>\n  PidFile /run/x.pid\n</IfModule>\nListen [::1]:8443\n",
            ("/run/x.pid", "event", True, "http://127.0.0.1:8443/server-status?auto"),
            id="ifmodule-and-ipv6-listen",
        ),
        pytest.param(
            f"LoadModule mpm_prefork_module {MODULES}/mod_mpm_prefork.so\nListen 8080\n",
            (None, "prefork", False, None),
            id="no-mod-status",
        ),
    ],
)
def test_hints(
    tmp_path: Path, body: str, expected: tuple[str | None, str, bool, str | None]
) -> None:
    """expected: PidFile (relative to tmp_path), MPM, mod_status loaded, default status URL."""
    pidfile, mpm, status, url = expected
    hints = read_config_hints(write(tmp_path, body))
    expected_pidfile = None if pidfile is None else str(tmp_path / pidfile)
    assert hints.pidfile == expected_pidfile
    assert (hints.mpm, hints.status_module) == (mpm, status)
    notes: list[str] = []
    assert default_status_url(ProcFS(tmp_path), hints, None, notes) == url
    assert (url is None) == any("mod_status is not loaded" in n for n in notes)


def test_a_config_httpd_would_refuse(tmp_path: Path) -> None:
    conf = write(tmp_path, "NoSuchDirective on\n")
    with pytest.raises(CapplanError, match=r"httpd.conf:2: "):
        read_config_hints(conf)


@pytest.mark.parametrize(
    ("text", "mpm"),
    [
        pytest.param((DATA_DIR / "apache2-V-worker.txt").read_text(), "worker", id="apachectl"),
        pytest.param("Server MPM:     \nServer compiled with....\n", None, id="mpm-is-a-module"),
        pytest.param("Server MPM:     event\n", "event", id="built-in-event"),
    ],
)
def test_mpm_from_version_text(text: str, mpm: str | None) -> None:
    assert mpm_from_version_text(text) == mpm
