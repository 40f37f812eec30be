"""The three commands end to end through `main()`: exit codes 0, 1, 2 and 3, and their messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from capplan.cli import app, main
from tests.recommend.examples import prepare

ROOT = Path(__file__).resolve().parents[2]
WORDPRESS = str(ROOT / "profiles/wordpress-prefork.yaml")
STATIC = str(ROOT / "profiles/static-site.yaml")
LENIENT = ["--max-wait-prob", "1", "--max-block-prob", "1", "--max-memory", "1TiB"]


@pytest.fixture(scope="module")
def debian(tmp_path_factory: pytest.TempPathFactory) -> str:
    _, conf, _ = prepare("debian-prefork-php", tmp_path_factory.mktemp("debian"))
    return str(conf)


@pytest.fixture(scope="module")
def lenient_profile(tmp_path_factory: pytest.TempPathFactory) -> str:
    text = Path(WORDPRESS).read_text()
    path = tmp_path_factory.mktemp("profiles") / "lenient.yaml"
    path.write_text(text[: text.index("targets:")] + "targets:\n  max_wait: null\n")
    return str(path)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(["recommend", "{debian}", "-p", WORDPRESS], 0, id="recommend"),
        pytest.param(
            ["recommend", "{debian}", "-p", WORDPRESS, "--format", "json"], 0, id="recommend-json"
        ),
        pytest.param(
            ["recommend", "{debian}", "-p", WORDPRESS, "--mpm", "current"],
            0,
            id="recommend-current",
        ),
        pytest.param(["check", "{debian}", "-p", WORDPRESS], 1, id="check-missed"),
        pytest.param(["check", "{debian}", "-p", "{lenient}", *LENIENT], 0, id="check-passes"),
        pytest.param(
            ["check", "{debian}", "-p", WORDPRESS, "--format", "junit"], 1, id="check-junit-missed"
        ),
        pytest.param(["compare", WORDPRESS, STATIC, "-c", "{debian}"], 0, id="compare"),
        pytest.param(
            ["compare", WORDPRESS, "-c", "{debian}", "--format", "markdown"],
            0,
            id="compare-markdown",
        ),
    ],
)
def test_exit_codes_of_successful_runs(
    args: list[str],
    code: int,
    debian: str,
    lenient_profile: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [a.format(debian=debian, lenient=lenient_profile) for a in args]
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.out
    assert captured.err == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["recommend", "{debian}"], "Missing option '-p' / '--profile'", id="no-profile"
        ),
        pytest.param(
            ["recommend", "{debian}", "-p", "missing.yaml"],
            "missing.yaml: no such profile file",
            id="missing-profile",
        ),
        pytest.param(
            ["recommend", "{debian}", "-p", WORDPRESS, "--ram", "lots"],
            "invalid size",
            id="bad-ram",
        ),
        pytest.param(
            ["check", "nowhere.conf", "-p", WORDPRESS], "nowhere.conf", id="missing-config"
        ),
        pytest.param(
            ["check", "{debian}", "-p", WORDPRESS, "--max-wait-prob", "2"],
            "--max-wait-prob",
            id="probability-out-of-range",
        ),
        pytest.param(
            ["check", "{debian}", "-p", WORDPRESS, "--format", "sarif"],
            "--format",
            id="unknown-format",
        ),
        pytest.param(
            ["compare", WORDPRESS, "-c", "{debian}", "-D", "=x"],
            "a define needs a name",
            id="bad-define",
        ),
    ],
)
def test_bad_input_is_exit_2_with_one_clear_line(
    args: list[str],
    message: str,
    debian: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "out.txt"
    argv = [a.format(debian=debian) for a in args] + ["--output", str(output)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert not output.exists()


def test_recommend_without_profile_points_at_shipped_profiles_and_capplan_profile(
    debian: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["recommend", debian]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Missing option '-p'" in err
    assert "`capplan profiles` lists them" in err
    assert "capplan profile access.log" in err


@pytest.fixture
def broken_command() -> Iterator[str]:
    """A command that fails with a bug (not bad input), registered for one test only."""
    name = "recommend-broken-for-test"

    @app.command(name, hidden=True)
    def _broken() -> None:
        raise ZeroDivisionError("a bug")

    yield name
    app.registered_commands[:] = [c for c in app.registered_commands if c.name != name]


def test_an_internal_error_is_exit_3(
    broken_command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([broken_command]) == 3
    err = capsys.readouterr().err
    assert err.startswith("capplan: internal error, please report: ZeroDivisionError")


def test_output_file_receives_the_report(debian: str, tmp_path: Path) -> None:
    output = tmp_path / "report.md"
    assert (
        main(
            ["recommend", debian, "-p", WORDPRESS, "--format", "markdown", "--output", str(output)]
        )
        == 0
    )
    assert output.read_text().startswith("## capplan recommend: ")


@pytest.mark.apache
def test_recommend_without_config_reads_the_system_config(
    apache2: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from capplan.machine import find_system_config

    system = find_system_config()  # the installed apache2 package's; read, never written
    assert main(["recommend", "-p", STATIC, "--format", "json", "--somaxconn", "4096"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["config"]["path"] == str(system)
    assert document["recommendation"]["mpm"] in ("prefork", "worker", "event")


def test_github_annotation_for_a_default_value_points_at_line_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.httpd import base_config

    conf = tmp_path / "httpd.conf"
    conf.write_text(base_config(tmp_path, "prefork", 8080))  # no MaxRequestWorkers: 256
    profile = tmp_path / "busy.yaml"
    profile.write_text(
        "version: 1\nname: busy\ntraffic:\n  requests_per_second: 5000\n  service_time: 100ms\n"
        "targets:\n  max_wait: null\n  max_block_probability: null\n"
    )
    assert main(["check", str(conf), "-p", str(profile), "--format", "github"]) == 1
    line = capsys.readouterr().out.splitlines()[0]
    head = f"::error file={conf},line=1,title=capplan check%3A MaxRequestWorkers::"
    assert line.startswith(head)
    assert line.endswith("(MaxRequestWorkers is not set: httpd's default applies)")
