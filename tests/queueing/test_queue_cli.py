"""`capplan queue`: output contract (JSON keys, null for infinite waits), bad input, timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.queueing import blocking_estimate, erlang_c, mgc, min_servers_erlang_c

BASE_KEYS = {
    "servers",
    "load_erlangs",
    "utilization",
    "stable",
    "erlang_b",
    "p_wait",
    "mean_wait_s",
    "wait_p99_s",
}


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["queue", *args, "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    document = json.loads(captured.out)
    assert isinstance(document, dict)
    return document


def test_rate_and_service_give_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, "--servers", "10", "--rate", "8", "--service", "500ms")
    assert doc.keys() >= BASE_KEYS
    assert doc["load_erlangs"] == 4.0
    assert doc["stable"] is True
    want = mgc(10, 4.0, mean_holding_s=0.5)
    assert doc["p_wait"] == want.p_wait == erlang_c(10, 4.0)
    assert doc["mean_wait_s"] == pytest.approx(want.mean_wait_s, rel=1e-15)
    assert doc["wait_p99_s"] == pytest.approx(want.wait_p99_s, rel=1e-15)
    assert "p_block" not in doc
    assert "min_servers" not in doc


def test_queue_and_target(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(
        capsys,
        "--servers", "256", "--load", "240", "--service", "7.874", "--service-scv", "0.268",
        "--queue", "512", "--target-wait", "0.01",
    )  # fmt: skip
    est = blocking_estimate(256, 240.0, 512, scv=0.268)
    assert doc["p_block"] == est.p_block_est
    assert doc["p_block_conservative"] == est.p_block_cons
    assert doc["min_servers"] == min_servers_erlang_c(240.0, 0.01)
    assert doc["mean_wait_s"] == pytest.approx(mgc(256, 240.0, 7.874, 0.268).mean_wait_s, rel=1e-14)


def test_overload_gives_null_waits_never_nan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queue", "--servers", "256", "--load", "678.9", "--queue", "512",
                 "--format", "json"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "NaN" not in text
    assert "Infinity" not in text
    doc = json.loads(text)
    assert doc["stable"] is False
    assert doc["p_wait"] == 1.0
    assert doc["mean_wait_s"] is None
    assert doc["wait_p99_s"] is None
    # derivations §3.6: M/M/c/K with Q = 512 blocks 62 % of attempts at c = 256.
    assert doc["p_block"] == pytest.approx(0.62, abs=0.005)


def test_load_without_service_reports_waits_in_holding_times(
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = _json(capsys, "--servers", "400", "--load", "350")
    assert doc["mean_wait_s"] is None
    assert doc["mean_wait_holding_times"] == pytest.approx(mgc(400, 350.0).mean_wait_s)


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queue", "--servers", "743", "--load", "678.9", "--target-wait", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "P(wait), Erlang C" in out
    assert "servers for P(wait) <= 0.01" in out
    assert f"{min_servers_erlang_c(678.9, 0.01)}" in out


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "q.json"
    assert main(["queue", "-c", "5", "-a", "2", "--format", "json", "-o", str(target)]) == 0
    assert json.loads(target.read_text())["servers"] == 5


BAD = [
    pytest.param(["--servers", "0", "--load", "1"], "--servers", id="zero-servers"),
    pytest.param(["--servers", "2.5", "--load", "1"], "--servers", id="fractional-servers"),
    pytest.param(["--servers", "-1", "--load", "1"], "--servers", id="negative-servers"),
    pytest.param(["--servers", "3", "--load", "nan"], "--load", id="nan-load"),
    pytest.param(["--servers", "3", "--load", "inf"], "--load", id="inf-load"),
    pytest.param(["--servers", "3", "--load", "-1"], "--load", id="negative-load"),
    pytest.param(["--servers", "3", "--load", "1", "--queue", "-1"], "--queue", id="negative-q"),
    pytest.param(["--servers", "3"], "missing the load", id="no-load"),
    pytest.param(["--load", "3"], "--servers", id="no-servers"),
    pytest.param(
        ["--servers", "3", "--load", "1", "--rate", "2", "--service", "1s"],
        "not both",
        id="load-and-rate",
    ),
    pytest.param(["--servers", "3", "--rate", "2"], "needs --service", id="rate-no-service"),
    pytest.param(["--servers", "3", "--rate", "2", "--service", "2parsecs"], "unit", id="bad-unit"),
    pytest.param(["--servers", "3", "--rate", "2", "--service", "0"], "> 0", id="zero-service"),
    pytest.param(["--servers", "3", "--load", "1", "--target-wait", "1"], "(0, 1)", id="target-1"),
    pytest.param(["--servers", "3", "--load", "1", "--service-scv", "-2"], "scv", id="neg-scv"),
]


@pytest.mark.parametrize(("args", "mentions"), BAD)
def test_bad_input_is_one_line_exit_2(
    args: list[str], mentions: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "out.json"
    assert main(["queue", *args, "--output", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert mentions.lower() in captured.err.lower()
    assert "Traceback" not in captured.err
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_few_servers_never_import_scipy() -> None:
    """scipy.special costs ~0.15 s to import; below 1000 servers the command must not need it."""
    args = ["queue", "-c", "400", "-a", "350", "--queue", "512", "--target-wait", "0.01"]
    code = (
        f"import sys; from capplan.cli import main; rc = main({args!r}); "
        "print(rc, 'scipy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split()[-2:] == ["0", "False"]
