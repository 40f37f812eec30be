"""Finding the server: --pid, PID files, the process table; children that exit meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest

from capplan.errors import CapplanError
from capplan.measure.discover import discover
from tests.measure.fakeproc import FakeProc

PIDFILES = ("/run/apache2/apache2.pid", "/run/httpd/httpd.pid")


def tree(tmp_path: Path) -> FakeProc:
    """Two servers (root's 100 with 3 children, user 1000's 200 with 1) and unrelated processes."""
    fake = FakeProc(tmp_path)
    fake.add(1, 0, name="init", children=(100, 200, 300))
    fake.server(100, {101: (1, 600), 102: (1, 610), 103: (1, 620)}, mpm="prefork")
    fake.add(200, 1, uid=1000, children=(201,))
    fake.add(201, 200, uid=1000)
    fake.add(300, 1, name="sleep")
    return fake


@pytest.mark.parametrize(
    ("kwargs", "files", "parent", "found_by"),
    [
        pytest.param({"pid": 100}, {}, 100, "--pid 100", id="pid"),
        pytest.param({"pid": 102}, {}, 100, "--pid 102", id="child-pid-walks-up"),
        pytest.param({"pidfile": "/x/h.pid"}, {"/x/h.pid": "200\n"}, 200, "PID file", id="pidfile"),
        pytest.param({}, {"/run/httpd/httpd.pid": "100\n"}, 100, "PID file", id="default-pidfile"),
        pytest.param(
            {}, {"/run/apache2/apache2.pid": "300\n"}, 100, "process name", id="stale-default"
        ),
        pytest.param({}, {}, 100, "process name", id="by-name-root"),
        pytest.param({"current_uid": 1000}, {}, 200, "process name", id="by-name-own-user"),
    ],
)
def test_find_the_parent(
    tmp_path: Path, kwargs: dict[str, object], files: dict[str, str], parent: int, found_by: str
) -> None:
    fake = tree(tmp_path)
    for path, text in files.items():
        fake.write(path, text)
    server = discover(fake.fs(), default_pidfiles=PIDFILES, **kwargs)  # type: ignore[arg-type]
    assert server.parent.pid == parent
    assert server.found_by.startswith(found_by)
    expected_children = {100: [101, 102, 103], 200: [201]}[parent]
    assert [c.pid for c in server.children] == expected_children


@pytest.mark.parametrize(
    ("kwargs", "files", "message"),
    [
        pytest.param({"pid": 999}, {}, "--pid 999: no such process 999", id="no-such-pid"),
        pytest.param(
            {"pidfile": "/x/h.pid"}, {}, "/x/h.pid: cannot read the PID file", id="nofile"
        ),
        pytest.param(
            {"pidfile": "/x/h.pid"}, {"/x/h.pid": "abc\n"}, "not a process ID: 'abc'", id="garbage"
        ),
        pytest.param(
            {"pidfile": "/x/h.pid"}, {"/x/h.pid": "999\n"}, "stale PID file: no such", id="stale"
        ),
    ],
)
def test_clear_errors(
    tmp_path: Path, kwargs: dict[str, object], files: dict[str, str], message: str
) -> None:
    fake = tree(tmp_path)
    for path, text in files.items():
        fake.write(path, text)
    with pytest.raises(CapplanError) as caught:
        discover(fake.fs(), default_pidfiles=PIDFILES, **kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_no_httpd_running(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    fake.add(1, 0, name="init", children=(300,))
    fake.add(300, 1, name="sleep")
    with pytest.raises(CapplanError, match="no running httpd found"):
        discover(fake.fs(), default_pidfiles=PIDFILES)


def test_zombie_and_vanished_children_are_left_out(tmp_path: Path) -> None:
    fake = tree(tmp_path)
    fake.add(103, 100, state="Z (zombie)")
    fake.remove(102)
    server = discover(fake.fs(), pid=100, default_pidfiles=PIDFILES)
    assert [c.pid for c in server.children] == [101]
    assert "PID 102 exited during the measurement" in server.warnings
    assert "PID 103 exited during the measurement" in server.warnings


def test_several_servers_are_named(tmp_path: Path) -> None:
    server = discover(tree(tmp_path).fs(), default_pidfiles=PIDFILES)
    assert any("also PID 200" in w for w in server.warnings)


def test_a_non_httpd_pid_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CapplanError) as caught:
        discover(tree(tmp_path).fs(), pid=300, default_pidfiles=PIDFILES)
    assert caught.value.message == (
        "--pid 300: PID 300 is 'sleep', not httpd: it is not named apache2 or httpd, "
        "and its memory map shows no APR library"
    )


def test_an_httpd_under_another_name_is_measured_with_a_note(tmp_path: Path) -> None:
    fake = tree(tmp_path)
    fake.write(
        "/proc/300/maps", "7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libapr-1.so.0\n"
    )
    server = discover(fake.fs(), pid=300, default_pidfiles=PIDFILES)
    assert server.parent.name == "sleep"
    assert "PID 300 is 'sleep', not apache2 or httpd" in server.warnings


def test_children_found_by_scanning_without_children_files(tmp_path: Path) -> None:
    fake = tree(tmp_path)
    for path in tmp_path.glob("proc/*/task/*/children"):
        path.unlink()
    server = discover(fake.fs(), pid=100, default_pidfiles=PIDFILES)
    assert sorted(c.pid for c in server.children) == [101, 102, 103]
