"""`capplan sweep` end to end through `main()`: formats, exit codes and one-line errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from capplan.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEBIAN = str(ROOT / "examples/debian/apache2/apache2.conf")


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_rows_with_every_mpm(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        [
            "sweep",
            DEBIAN,
            "-p",
            "wordpress-prefork",
            "--vary",
            "rate=1x:3x:0.5x",
            "--format",
            "json",
        ],
        capsys,
    )
    assert code == 0
    document = json.loads(out)
    assert document["command"] == "sweep"
    assert [row["point"]["rate"] for row in document["rows"]] == [60, 90, 120, 150, 180]
    for row in document["rows"]:
        assert set(row["mpms"]) == {"prefork", "worker", "event"}
        for entry in row["mpms"].values():
            assert {"p_wait", "p_block", "memory_bytes", "busy_workers_mean"} <= set(entry)
            assert entry["targets"]
    failures = document["first_failures"]
    assert failures
    for failure in failures:
        assert failure["message"].startswith(f"{failure['mpm']}: ")
        assert " passes " in failure["message"] or " already misses " in failure["message"]
        assert (failure["met_again_point"] is None) == ("; met from" not in failure["message"])


def test_csv_and_table_agree_on_the_points(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "sweep",
        DEBIAN,
        "-p",
        "static-site",
        "--vary",
        "KeepAliveTimeout=1:5:2",
        "--mpm",
        "event",
    ]
    code, out, _ = _run([*args, "--format", "csv"], capsys)
    assert code == 0
    records = list(csv.DictReader(io.StringIO(out)))
    assert [r["KeepAliveTimeout"] for r in records] == ["1.0", "3.0", "5.0"]
    assert "event.scoreboard.busy_requests" in records[0]
    assert "prefork.p_wait" not in records[0]
    code, out, _ = _run([*args, "--format", "markdown"], capsys)
    assert code == 0
    assert "| KeepAliveTimeout" in out
    assert "**First failures:**" in out


def test_two_axes_make_a_grid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        [
            "sweep",
            DEBIAN,
            "-p",
            "wordpress-prefork",
            "--vary",
            "MaxRequestWorkers=100:300:100",
            "--vary",
            "rate=50:100:50",
            "--format",
            "json",
            "--mpm",
            "prefork",
        ],
        capsys,
    )
    assert code == 0
    points = [row["point"] for row in json.loads(out)["rows"]]
    assert points == [
        {"MaxRequestWorkers": w, "rate": r} for w in (100, 200, 300) for r in (50, 100)
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--vary", "rate=1:100000:1"], "more than 1000 points"),
        (["--vary", "rate=1:40:1", "--vary", "MaxRequestWorkers=1:100:1"], "at most 1000"),
        (["--vary", "speed=1:2"], "unknown parameter"),
        ([], "--vary"),
    ],
)
def test_bad_vary_is_one_line_and_exit_2(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    output = tmp_path / "out.txt"
    code, _, err = _run(
        ["sweep", DEBIAN, "-p", "wordpress-prefork", *args, "-o", str(output)], capsys
    )
    assert code == 2
    assert words in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not output.exists()
