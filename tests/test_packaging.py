"""The package stands on its own: shipped profiles by name, `capplan profiles`, `--version`, the
packages pyproject.toml lists, the profiles inside a built wheel, and plans without any config."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from capplan import package_version
from capplan.catalog import resolve_profile, shipped_profiles
from capplan.cli import main
from capplan.effective import httpd_defaults_config
from capplan.errors import CapplanError
from capplan.machine import find_system_config
from capplan.mpm_settings import EventSettings
from capplan.profile import load_profile

ROOT = Path(__file__).resolve().parent.parent
PROFILE_FILES = sorted(ROOT.glob("profiles/*.yaml"))


def test_pyproject_lists_every_package() -> None:
    """`packages` is a list (capplan.profiles cannot be discovered): it must not miss one."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "capplan").rglob("__init__.py")
    }
    assert on_disk | {"capplan.profiles"} == listed


def test_every_shipped_profile_is_listed_and_loads() -> None:
    shipped = shipped_profiles()
    assert [p.name for p in shipped] == [f.stem for f in PROFILE_FILES]
    for profile in shipped:
        assert profile.summary.endswith(".")
        assert "\n" not in profile.summary
        assert load_profile(profile.path).traffic.requests_per_second > 0


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        pytest.param("wordpress-prefork", "profiles/wordpress-prefork.yaml", id="name"),
        pytest.param("wordpress-prefork.yaml", "profiles/wordpress-prefork.yaml", id="file-name"),
        pytest.param(
            str(ROOT / "profiles/static-site.yaml"), "profiles/static-site.yaml", id="path"
        ),
    ],
)
def test_resolve_profile(argument: str, expected: str) -> None:
    assert Path(resolve_profile(argument)).resolve() == (ROOT / expected).resolve()


@pytest.mark.parametrize("argument", ["no-such-profile", "sub/wordpress-prefork", "..", ""])
def test_unknown_profile_names_the_shipped_ones(argument: str) -> None:
    with pytest.raises(CapplanError, match=r"no such profile file.*wordpress-prefork"):
        resolve_profile(argument)


def test_a_file_wins_over_a_shipped_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "static-site").write_text("version: 1\n")
    assert resolve_profile("static-site") == "static-site"


def test_profiles_command_prints_one_line_per_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [f.stem for f in PROFILE_FILES]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"capplan {package_version()}\n"


@pytest.mark.parametrize("command", ["recommend", "check"])
def test_profile_option_is_marked_required(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "shipped profile's name (`capplan profiles`). [required]" in help_text


def test_check_reads_the_system_config_like_recommend(
    capsys: pytest.CaptureFixture[str],
) -> None:
    try:
        system = find_system_config()
    except CapplanError:
        pytest.skip("no httpd configuration on this machine")
    code = main(["check", "-p", "static-site", "--format", "json"])
    assert code in (0, 1)
    assert json.loads(capsys.readouterr().out)["config"]["path"] == str(system)


def test_without_any_config_the_plan_is_for_httpd_defaults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A machine without httpd: recommend plans for the compiled-in defaults and says so."""

    def nothing_found() -> Path:
        raise CapplanError("no httpd configuration found (tried /nowhere); give the config file")

    monkeypatch.setattr("capplan.machine.find_system_config", nothing_found)
    assert main(["recommend", "-p", "static-site", "--ram", "8GiB", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["config"]["path"] == "(httpd defaults)"
    assert document["config"]["mpm"] == "event"
    assert any("httpd's compiled-in defaults" in note for note in document["config"]["notes"])
    assert main(["recommend", "-p", "static-site", "--ram", "8GiB"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("capplan recommend: (httpd defaults) (event) with profile static-site")
    assert "Put the block in httpd's main config file (none was found on this machine)." in table


def test_httpd_defaults_are_the_compiled_in_values() -> None:
    config = httpd_defaults_config("no config", somaxconn=4096)
    assert config.settings == EventSettings(common=config.settings.common)
    assert config.settings.workers == 400
    assert config.notes == (
        "no config: planning for httpd's compiled-in defaults with the event MPM",
    )


def test_built_wheel_holds_the_shipped_profiles(tmp_path: Path) -> None:
    """What `pip install .` installs: the wheel carries profiles/ as capplan/profiles/."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("capplan-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for profile in PROFILE_FILES:
        assert f"capplan/profiles/{profile.name}" in names
    assert "capplan/py.typed" in names
