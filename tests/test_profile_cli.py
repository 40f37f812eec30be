"""Bad profiles through the command line: exit code 2, one `file:line: message` line, no output."""

from __future__ import annotations

from pathlib import Path

import pytest

from capplan.cli import main
from tests.test_profile import BAD, BAD_CASES, MINIMAL


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "httpd.conf"
    path.write_text(
        f'ServerRoot "{tmp_path}"\n'
        "Listen 127.0.0.1:8080\n"
        "LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n"
    )
    return path


@pytest.mark.parametrize("command", ["check", "recommend"])
@pytest.mark.parametrize(("name", "first_line"), BAD_CASES.items(), ids=list(BAD_CASES))
def test_bad_profile_exits_2_with_file_and_line(
    command: str, name: str, first_line: str, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = BAD / f"{name}.yaml"
    assert main([command, str(config), "-p", str(profile)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[0] == f"{profile}:{first_line}"
    assert "Traceback" not in err


def test_oversized_profile_exits_2(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_text(MINIMAL + "#" * (2 << 20) + "\n")
    output = tmp_path / "report.json"
    code = main(["check", str(config), "-p", str(huge), "--format", "json", "-o", str(output)])
    assert code == 2
    assert capsys.readouterr().err.startswith(f"{huge}: the profile is larger than 1 MiB")
    assert not output.exists()
