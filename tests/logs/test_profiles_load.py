"""Every profile `capplan profile` writes loads in `check` and `recommend`; input no profile can
describe exits 2 with a one-line message naming the file and line, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capplan.cli import main
from capplan.models import evaluate
from capplan.mpm_settings import EventSettings, PreforkSettings, WorkerSettings
from capplan.profile import load_profile

FORMAT = '%h %t "%r" %>s %D %k %X'
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _line(
    second: int,
    *,
    client: int = 1,
    micros: int | str = 20_000,
    ka: int = 0,
    x: str = "+",
    year: int = 2024,
    month: int = 5,
    day: int = 1,
) -> str:
    stamp = (
        f"{day:02d}/{MONTHS[month - 1]}/{year:04d}:10:{second // 60 % 60:02d}:{second % 60:02d} "
        "+0000"
    )
    return f'192.0.2.{client} [{stamp}] "GET / HTTP/1.1" 200 {micros} {ka} {x}\n'


def _normal(n: int = 200) -> list[str]:
    return [_line(i // 3, client=i % 9, ka=i % 4) for i in range(n)]


def _run(
    tmp_path: Path, lines: list[str], *args: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, Path]:
    log = tmp_path / "access.log"
    log.write_text("".join(lines))
    out = tmp_path / "profile.yaml"
    code = main(["profile", str(log), "-f", FORMAT, "-o", str(out), *args])
    return code, capsys.readouterr().err, out


def _loads_everywhere(path: Path) -> None:
    """As `check` and `recommend` read it: validated, then evaluated under each MPM."""
    profile = load_profile(path)
    for mpm_settings in (PreforkSettings(), WorkerSettings(), EventSettings()):
        metrics = evaluate(mpm_settings, profile)
        assert metrics.requests_per_connection >= 1.0


# (id, lines, extra arguments, line the error names (None: no line), text in the message)
IMPOSSIBLE: list[tuple[str, list[str], tuple[str, ...], int | None, str]] = [
    (
        "duration-1e30",
        [*_normal(10), _line(5, micros="1" + "0" * 30), *_normal(10)],
        (),
        11,
        "beyond the one day a profile allows",
    ),
    (
        "one-line-dated-9999",
        [*_normal(10), _line(5, year=9999), *_normal(10)],
        (),
        11,
        "is in the future",
    ),
    (
        "one-line-dated-9999-peak-max",
        [*_normal(10), _line(5, year=9999), *_normal(10)],
        ("--peak", "max"),
        11,
        "is in the future",
    ),
    (
        "window-1e-9s",
        _normal(),
        ("--window", "1e-9s"),
        None,
        "--window 1e-09s is shorter than the log's time stamps",
    ),
    (
        "sparse-p99-zero",
        [_line(0), _line(0, year=2023)],
        (),
        1,
        "the p99 request rate is 0",
    ),
]


@pytest.mark.parametrize(
    ("lines", "args", "line", "text"), [c[1:] for c in IMPOSSIBLE], ids=[c[0] for c in IMPOSSIBLE]
)
def test_impossible_input_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *,
    lines: list[str],
    args: tuple[str, ...],
    line: int | None,
    text: str,
) -> None:
    code, err, out = _run(tmp_path, lines, *args, capsys=capsys)
    assert code == 2
    first = err.splitlines()[0]
    assert text in first
    if line is not None:
        assert first.startswith(f"{tmp_path / 'access.log'}:{line}: "), first
    assert "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("lines", "args"),
    [
        (_normal(), ()),
        (_normal(), ("--peak", "max", "--window", "10s")),
        ([_line(0, micros=0)] * 5, ()),  # zero durations, one second
        ([_line(i, ka=0, x="-") for i in range(50)], ()),  # keep-alive off
        ([_line(i * 7, client=1, ka=i) for i in range(50)], ()),  # one long connection
        ([_line(0), _line(0, year=2023), _line(0, year=2023)], ("--peak", "mean")),
    ],
    ids=["normal", "max-10s", "zero-durations", "keepalive-off", "one-connection", "sparse-mean"],
)
def test_written_profile_loads(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lines: list[str],
    args: tuple[str, ...],
) -> None:
    code, err, out = _run(tmp_path, lines, *args, capsys=capsys)
    assert code == 0, err
    _loads_everywhere(out)


_FIELDS = st.tuples(
    st.integers(0, 3599),  # second of the hour
    st.integers(0, 5),  # client
    st.one_of(st.integers(0, 10**7), st.integers(0, 10**31), st.just("-")),  # %D
    st.integers(0, 120),  # %k
    st.sampled_from(["+", "-", "X"]),
    st.sampled_from([1970, 2000, 2024, 2024, 2024, 9999]),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(_FIELDS, min_size=1, max_size=40))
def test_any_log_gives_a_loadable_profile_or_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    rows: list[tuple[int, int, int | str, int, str, int]],
) -> None:
    lines = [_line(s, client=c, micros=d, ka=k, x=x, year=y) for s, c, d, k, x, y in rows]
    code, err, out = _run(tmp_path, lines, capsys=capsys)
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 0:
        _loads_everywhere(out)
    else:
        assert not out.exists()
    out.unlink(missing_ok=True)
