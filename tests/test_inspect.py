"""`capplan inspect` end to end: config files on disk → table/markdown/JSON, or exit 2 on bad input.

Module files are empty stand-ins under the test's ServerRoot: the evaluator only checks that a
LoadModule path exists, it never loads the shared object.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capplan.cli import main

EVENT = "LoadModule mpm_event_module modules/mod_mpm_event.so"
PREFORK = "LoadModule mpm_prefork_module modules/mod_mpm_prefork.so"


def write_config(root: Path, *lines: str, name: str = "httpd.conf") -> Path:
    (root / "modules").mkdir(exist_ok=True)
    for mpm in ("event", "prefork", "worker"):
        (root / "modules" / f"mod_mpm_{mpm}.so").touch()
    conf = root / name
    conf.write_text("\n".join(lines) + "\n")
    return conf


def inspect(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["inspect", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_table_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write_config(
        tmp_path,
        f"ServerRoot {tmp_path}",
        EVENT,
        "<IfModule mpm_event_module>",
        "    ThreadsPerChild 7",
        "    MaxRequestWorkers 130",
        "</IfModule>",
        "KeepAliveTimeout 500ms",
    )
    code, out, err = inspect(capsys, str(conf), "--somaxconn", "128")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"{conf}: MPM event"
    row = next(line for line in lines if line.startswith("MaxRequestWorkers"))
    assert row.split() == ["MaxRequestWorkers", "112", f"{conf}:5"]
    row = next(line for line in lines if line.startswith("KeepAliveTimeout"))
    assert row.split() == ["KeepAliveTimeout", "500", "ms", f"{conf}:7"]
    assert "  AH00513: WARNING: MaxRequestWorkers of 130 is not an integer multiple" in out
    assert lines[-1].endswith("accept queue 129 (min(ListenBacklog, somaxconn) + 1)")


def test_json_paths_stay_relative(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "mpm.conf").write_text("MaxRequestWorkers 300\n")
    write_config(tmp_path, PREFORK, "Include conf.d/*.conf")
    monkeypatch.chdir(tmp_path)
    code, out, _ = inspect(capsys, "httpd.conf", "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["schema_version"] == 1
    assert document["path"] == "httpd.conf"
    assert document["provenance"]["MaxRequestWorkers"] == "conf.d/mpm.conf:1"
    assert document["warnings"][0]["code"] == "AH00180"
    assert document["warnings"][0]["location"] == "conf.d/mpm.conf:1"
    assert str(tmp_path) not in out


def test_defines_select_sections(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write_config(
        tmp_path,
        EVENT,
        "<IfDefine BIG>",
        "    MaxRequestWorkers 800",
        "    ServerLimit 32",
        "</IfDefine>",
    )
    _, out, _ = inspect(capsys, str(conf), "-D", "BIG", "--format", "json")
    assert json.loads(out)["effective"]["MaxRequestWorkers"] == 800
    _, out, _ = inspect(capsys, str(conf), "--format", "json")
    assert json.loads(out)["effective"]["MaxRequestWorkers"] == 400


def test_static_mpm_and_apachectl_v(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write_config(
        tmp_path,
        "<IfModule mpm_worker_module>",
        "    ThreadsPerChild 50",
        "</IfModule>",
        "<IfModule worker.c>",
        "    MaxRequestWorkers 500",
        "</IfModule>",
    )
    _, out, _ = inspect(capsys, str(conf), "--mpm", "worker", "--format", "json")
    document = json.loads(out)
    assert document["mpm"] == "worker"
    assert document["effective"]["ThreadsPerChild"] == 50
    assert document["effective"]["MaxRequestWorkers"] == 500
    v_file = tmp_path / "v.txt"
    v_file.write_text("Server MPM:     prefork\n")
    code, out, _ = inspect(capsys, str(conf), "--apachectl-v", str(v_file), "--format", "json")
    assert (code, json.loads(out)["mpm"]) == (0, "prefork")


def test_markdown_and_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write_config(tmp_path, EVENT)
    target = tmp_path / "out.md"
    code, out, _ = inspect(capsys, str(conf), "--format", "markdown", "--output", str(target))
    assert (code, out) == (0, "")
    assert "| ServerLimit" in target.read_text()


# (id, config lines after ServerRoot, index of the offending line in them, message, its text)
BAD = [
    ("two-mpms", (EVENT, PREFORK), 2,
     "AH00534: apache2: Configuration error: More than one MPM loaded.", PREFORK),
    ("no-mpm", ("ServerName example.org",), None,  # no line of its own
     "AH00534: apache2: Configuration error: No MPM loaded.", None),
    ("arwf-abc", (EVENT, "AsyncRequestWorkerFactor abc"), 2, "error parsing value",
     "AsyncRequestWorkerFactor abc"),
    ("kat-abc", (EVENT, "KeepAliveTimeout abc"), 2, "KeepAliveTimeout has wrong format",
     "KeepAliveTimeout abc"),
    ("backlog-0", (EVENT, "ListenBacklog 0"), 2, "ListenBacklog must be > 0", "ListenBacklog 0"),
    ("prefork-threads", (PREFORK, "ThreadsPerChild 25"), 2,
     "Invalid command 'ThreadsPerChild', perhaps misspelled or defined by a module not included "
     "in the server configuration", "ThreadsPerChild 25"),
    ("worker-arwf", ("LoadModule mpm_worker_module modules/mod_mpm_worker.so",
                     "AsyncRequestWorkerFactor 2"), 2,
     "Invalid command 'AsyncRequestWorkerFactor', perhaps misspelled or defined by a module not "
     "included in the server configuration", "AsyncRequestWorkerFactor 2"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "line", "message", "offending"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_input_exits_2_with_one_located_line(  # noqa: PLR0917 (pytest passes positionally)
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lines: tuple[str, ...],
    line: int | None,
    message: str,
    offending: str | None,
) -> None:
    conf = write_config(tmp_path, f"ServerRoot {tmp_path}", *lines)
    target = tmp_path / "out.json"
    code, out, err = inspect(capsys, str(conf), "--format", "json", "--output", str(target))
    assert (code, out) == (2, "")
    assert not target.exists()
    shown = err.splitlines()
    where = str(conf) if line is None else f"{conf}:{line + 1}"
    assert shown[0] == f"{where}: {message}"
    if offending is not None:
        assert shown[1].strip() == offending
    assert "Traceback" not in err


def test_unreadable_apachectl_v_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write_config(tmp_path, EVENT)
    code, _, err = inspect(capsys, str(conf), "--apachectl-v", str(tmp_path / "missing.txt"))
    assert code == 2
    assert err.startswith(f"{tmp_path / 'missing.txt'}: cannot read")


def test_bad_httpd_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write_config(tmp_path, EVENT)
    code, _, err = inspect(capsys, str(conf), "--httpd-version", "two")
    assert code == 2
    assert "expected X.Y.Z" in err


def test_no_mpm_error_path_stays_relative(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, "ServerName example.org")
    monkeypatch.chdir(tmp_path)
    code, _, err = inspect(capsys, "httpd.conf")
    assert code == 2
    assert err == "httpd.conf: AH00534: apache2: Configuration error: No MPM loaded.\n"
