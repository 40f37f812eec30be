"""`capplan profile --dask`: a real dask.distributed cluster (two worker processes on 127.0.0.1)
scans the blocks, and the profile equals the local scan's byte for byte; without the extra or
without `--dask`, Dask is never imported."""

from __future__ import annotations

import gzip
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.logs.derive import render_profile_yaml
from capplan.logs.pipeline import ProfileRequest, profile_logs
from capplan.logs.scan import ScanOptions
from tests.logs.generator import LOG_FORMAT, TrafficModel, log_lines

pytest.importorskip("distributed")  # the `scheduler` fixture (conftest) needs it too

BLOCK = 64 << 10  # small blocks: every file is many tasks


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """Three rotated logs, oldest first: gzip, plain with bad lines, plain (about 4 MB)."""
    tmp = tmp_path_factory.mktemp("dask")
    lines = list(log_lines(TrafficModel(visit_rate_per_s=4.0, duration_s=900.0), seed=3))
    third = len(lines) // 3
    old, mid, new = lines[:third], lines[third : 2 * third], lines[2 * third :]
    for i in range(0, len(mid), 997):
        mid.insert(i, "not a log line\n")
    mid.insert(500, "x" * 3000 + "\n")
    with gzip.open(tmp / "access.log.2.gz", "wt") as fh:
        fh.writelines(old)
    (tmp / "access.log.1").write_text("".join(mid))
    (tmp / "access.log").write_text("".join(new))
    return tuple(str(tmp / name) for name in ("access.log.2.gz", "access.log.1", "access.log"))


def _profile(paths: tuple[str, ...], *, jobs: int = 1, dask: str | None = None) -> str:
    request = ProfileRequest(
        paths=paths,
        log_format=LOG_FORMAT,
        options=ScanOptions(jobs=jobs, block_bytes=BLOCK),
        dask=dask,
    )
    return render_profile_yaml(profile_logs(request))


@pytest.mark.parametrize("jobs", [1, 2], ids=["local-1-process", "local-2-processes"])
def test_same_profile_as_the_local_scan(logs: tuple[str, ...], scheduler: str, jobs: int) -> None:
    local = _profile(logs, jobs=jobs)
    assert "unusable lines skipped" in local  # the bad lines are in
    assert _profile(logs, dask=scheduler) == local


def test_progress_is_reported(logs: tuple[str, ...], scheduler: str) -> None:
    seen: list[tuple[int, int]] = []
    request = ProfileRequest(
        paths=logs,
        log_format=LOG_FORMAT,
        options=ScanOptions(block_bytes=BLOCK),
        dask=scheduler,
    )
    profile_logs(request, progress=lambda done, total: seen.append((done, total)))
    total = sum(Path(p).stat().st_size for p in logs)
    assert seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_cli_with_a_local_cluster(
    logs: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local, remote = tmp_path / "local.yaml", tmp_path / "dask.yaml"
    assert main(["profile", *logs, "-f", LOG_FORMAT, "-o", str(local)]) == 0
    assert main(["profile", *logs, "-f", LOG_FORMAT, "--dask", "local:2", "-o", str(remote)]) == 0
    assert remote.read_bytes() == local.read_bytes()
    capsys.readouterr()


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--dask", "local:x"], "--dask local:x: expected local:N with N from 1 to 256"),
        (["--dask", "local:2", "-"], "--dask: standard input (-) cannot be read by cluster"),
        (["--dask", "local:2", "-j", "2"], "give -j or --dask, not both"),
        (["--dask", "tcp://127.0.0.1:9"], "--dask tcp://127.0.0.1:9: cannot reach the scheduler"),
    ],
    ids=["bad-local", "stdin", "with-jobs", "no-scheduler"],
)
def test_bad_dask_arguments_exit_2(
    logs: tuple[str, ...],
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    text: str,
) -> None:
    import dask

    logs_args = [] if "-" in args else [logs[2]]
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        code = main(["profile", *logs_args, "-f", LOG_FORMAT, *args])
    err = capsys.readouterr().err
    assert code == 2
    assert text in err.splitlines()[0]


def test_missing_file_is_named(logs: tuple[str, ...], scheduler: str) -> None:
    from capplan.errors import CapplanError

    missing = str(Path(logs[0]).parent / "nope.log")
    with pytest.raises(CapplanError, match=r"nope.log: cannot read: No such file"):
        _profile((logs[2], missing), dask=scheduler)


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_the_extra_dask_gives_one_line_and_exit_2(logs: tuple[str, ...]) -> None:
    proc = _run_python(
        f"""
        import sys
        class NoDask:  # as if capplan[dask] were not installed
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("dask", "distributed"):
                    raise ImportError(name)
        sys.meta_path.insert(0, NoDask())
        from capplan.cli import main
        sys.exit(main(["profile", {logs[2]!r}, "-f", {LOG_FORMAT!r}, "--dask", "local:2"]))
        """
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "--dask needs the optional Dask support: pip install 'capplan[dask]'"
    ]


def test_profile_without_dask_does_not_import_it(logs: tuple[str, ...]) -> None:
    proc = _run_python(
        f"""
        import sys
        from capplan.cli import main
        code = main(["profile", {logs[2]!r}, "-f", {LOG_FORMAT!r}, "-o", "/dev/null"])
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
        print(code, loaded)
        """
    )
    assert proc.stdout.strip() == "0 []", proc.stderr


def test_block_size_does_not_change_the_dask_profile(logs: tuple[str, ...], scheduler: str) -> None:
    base = ProfileRequest(paths=logs, log_format=LOG_FORMAT, dask=scheduler)
    big = render_profile_yaml(profile_logs(base))
    small = render_profile_yaml(profile_logs(replace(base, options=ScanOptions(block_bytes=BLOCK))))
    assert small == big
