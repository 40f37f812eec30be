"""Debian envvars: what apache2ctl's `. envvars` would export, read without a shell."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from capplan.config.envvars import apply_envvars, read_envvars
from capplan.config.fs import MemoryFileSystem

DEBIAN = """\
unset HOME
if [ "${APACHE_CONFDIR##/etc/apache2-}" != "${APACHE_CONFDIR}" ] ; then
	SUFFIX="-${APACHE_CONFDIR##/etc/apache2-}"
else
	SUFFIX=
fi
export APACHE_RUN_USER=www-data
export APACHE_PID_FILE=/var/run/apache2$SUFFIX/apache2.pid
export APACHE_LOG_DIR=/var/log/apache2${SUFFIX}
export APACHE_LOCK_DIR='/var/lock/apache2$SUFFIX'
SHELL_ONLY="x y"
export LANG=C
export LANG
#export APACHE_ARGUMENTS=''
. /etc/default/locale
"""


@pytest.mark.parametrize(
    ("confdir", "pid_file", "log_dir"),
    [
        pytest.param("/etc/apache2", "/var/run/apache2/apache2.pid", "/var/log/apache2", id="main"),
        pytest.param(
            "/etc/apache2-two",
            "/var/run/apache2-two/apache2.pid",
            "/var/log/apache2-two",
            id="multi-instance",
        ),
    ],
)
def test_debian_envvars(confdir: str, pid_file: str, log_dir: str) -> None:
    env = read_envvars(DEBIAN, confdir, {"HOME": "/root", "PATH": "/bin"})
    assert env["APACHE_PID_FILE"] == pid_file
    assert env["APACHE_LOG_DIR"] == log_dir
    assert env["APACHE_RUN_USER"] == "www-data"
    assert env["APACHE_LOCK_DIR"] == "/var/lock/apache2$SUFFIX"  # single quotes: literal
    assert env["LANG"] == "C"
    assert env["PATH"] == "/bin"
    assert "HOME" not in env
    assert "SHELL_ONLY" not in env
    assert "SUFFIX" not in env
    assert "APACHE_ARGUMENTS" not in env


def test_confdir_from_environment_wins() -> None:
    env = read_envvars(DEBIAN, "/srv/conf", {"APACHE_CONFDIR": "/etc/apache2-x"})
    assert env["APACHE_LOG_DIR"] == "/var/log/apache2-x"


def test_no_envvars_file_keeps_environment() -> None:
    environ = {"A": "1"}
    assert apply_envvars("/etc/apache2", environ, MemoryFileSystem({})) is environ


def test_envvars_file_next_to_main_config() -> None:
    fs = MemoryFileSystem({"/etc/apache2/envvars": "export APACHE_RUN_DIR=/run/x\n"})
    assert apply_envvars("/etc/apache2", {}, fs)["APACHE_RUN_DIR"] == "/run/x"


SHELL_CASES = {
    "several-per-export": "export A=1 B=2\n",
    "quotes-and-expansion": "export A=1\nexport C=\"$A x\" D='$A' E=pre\"$A\"'$A'post\n",
    "later-export-and-unset": "E=5\nexport E\nexport B=2\nunset B\n",
    "comment-after-value": "export A=1\nexport F=${A}y # trailing comment\n",
    "escapes": 'export G=a\\ b H="q\\"uote" I=\\$A\n',
    "plain-assignments-then-export": "J=1 K=$J\nexport K J\n",
}


@pytest.mark.parametrize("script", SHELL_CASES.values(), ids=SHELL_CASES.keys())
def test_matches_what_a_real_shell_exports(tmp_path: Path, script: str) -> None:
    """`. envvars; env` in a clean bash is the oracle: same names, same values."""
    envvars = tmp_path / "envvars"
    envvars.write_text(script)
    dump = subprocess.run(
        ["env", "-i", "bash", "-c", f'. "{envvars}"; env -0'],
        capture_output=True,
        check=True,
    ).stdout.decode()
    shell_env = dict(item.split("=", 1) for item in dump.split("\0") if "=" in item)
    ours = read_envvars(script, str(tmp_path), {})
    names = {name for name in shell_env if name not in {"PWD", "SHLVL", "_", "OLDPWD"}}
    ours.pop("APACHE_CONFDIR", None)
    assert {name: ours.get(name) for name in names} == {name: shell_env[name] for name in names}
    assert set(ours) <= names
