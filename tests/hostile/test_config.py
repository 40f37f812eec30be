"""Hostile configs: nesting, variable bombs, huge and sparse files, NUL bytes, PCRE, escapes.

Each test states the exact exit code and first message line, under a memory ceiling and a
time limit (tests/hostile/harness.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.hostile import inputs
from tests.hostile.harness import assert_error, run


def _check(conf: Path, root: Path, **limits: float) -> list[str]:
    return ["check", str(conf), "-p", str(inputs.profile(root)), "--somaxconn", "4096"]


def _max_request_workers_set(inspect_json: str) -> bool:
    """Whether `capplan inspect --format json` took MaxRequestWorkers from the config."""
    return bool(json.loads(inspect_json)["provenance"]["MaxRequestWorkers"] != "default")


def test_item02_30000_nested_directories_fail_at_the_second(tmp_path: Path) -> None:
    conf = inputs.nested(tmp_path, "<Directory />", "</Directory>", 30_000, "dirs.conf")
    result = run(_check(conf, tmp_path), cwd=tmp_path, memory_mb=300, seconds=20)
    # httpd: "Syntax error on line 9 of dirs.conf: <Directory not allowed in <Directory> context"
    assert_error(result, 2, f"{conf}:9: <Directory not allowed in <Directory> context")


def test_item03_define_doubling_is_refused(tmp_path: Path) -> None:
    conf = inputs.define_bomb(tmp_path)
    result = run(_check(conf, tmp_path), cwd=tmp_path, memory_mb=300, seconds=20)
    assert_error(
        result,
        2,
        f"{conf}:26: this line is longer than 16 MiB after ${{VAR}} substitution; "
        "capplan does not build it",
    )


def test_item03_envvars_export_doubling_is_refused(tmp_path: Path) -> None:
    conf = inputs.envvars_bomb(tmp_path)
    result = run(_check(conf, tmp_path), cwd=tmp_path, memory_mb=300, seconds=20)
    assert_error(
        result,
        2,
        f"{conf.parent}/envvars: a variable expands to more than 16 MiB; "
        "capplan stops here rather than build it",
    )


def test_item04_a_4gb_sparse_include_is_refused_unread(tmp_path: Path) -> None:
    conf = inputs.sparse_include(tmp_path)
    result = run(_check(conf, tmp_path), cwd=tmp_path, memory_mb=250, seconds=10)
    assert_error(
        result,
        2,
        f"{conf}:8: Could not open configuration file {tmp_path}/sparse.conf: larger than "
        "64 MiB, the most capplan reads of one config file",
    )


@pytest.mark.parametrize(
    ("padding", "first_line"),
    [
        (203, "{conf}:9: Invalid command 'axRequestWorkers', perhaps misspelled or defined by "
              "a module not included in the server configuration"),
        (204, ""),
        (205, "{conf}:9: Invalid command 'xMaxRequestWorkers', perhaps misspelled or defined by "
              "a module not included in the server configuration"),
    ],
    ids=["203-bytes", "204-bytes", "205-bytes"],
)  # fmt: skip
def test_item15_nul_bytes_split_reads_like_httpd(
    tmp_path: Path, padding: int, first_line: str
) -> None:
    """`#` NUL + 204 bytes fills httpd's first 206-byte read: the directive after it is read
    as a line of its own (AH00180 on the real server); a byte less or more and its first
    letter goes with the comment, or a byte of padding comes with it (the same errors as
    `apache2 -t`, see test_apache.py)."""
    conf = inputs.nul_line(tmp_path, padding)
    result = run(["inspect", str(conf), "--format", "json"], cwd=tmp_path, seconds=10)
    if first_line:
        assert_error(result, 2, first_line.format(conf=conf))
    else:
        assert result.code == 0, result.err
        assert _max_request_workers_set(result.out)


def test_item15_line_numbers_after_nul_garbage(tmp_path: Path) -> None:
    conf = inputs.config(tmp_path, b"#\0" + b"q" * 500, b"Bogus3", name="garbage.conf")
    result = run(_check(conf, tmp_path), cwd=tmp_path, seconds=10)
    # httpd: line 9 is the rest of the 500 bytes read anew (Invalid command 'qqq…').
    assert result.code == 2
    assert result.first_line.startswith(f"{conf}:9: Invalid command 'qqqq")


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("^2\\.4\\.[[:digit:]]+$", True),
        ("\\Q2.4\\E", True),
        ("(\\.)(?1)", False),
        ("(?<=2\\.)4", True),
        ("\\d++\\.", True),
        ("[[:alpha:]]", False),
    ],
)
def test_item16_ifversion_regex_is_pcre(tmp_path: Path, pattern: str, matches: bool) -> None:
    conf = inputs.if_version(tmp_path, pattern)
    result = run(["inspect", str(conf), "--format", "json", "--httpd-version", "2.4.71"],
                 cwd=tmp_path, seconds=10)  # fmt: skip
    assert result.code == 0, result.err
    assert "FutureWarning" not in result.err
    assert _max_request_workers_set(result.out) is matches


def test_item16_bad_pcre_is_httpds_error(tmp_path: Path) -> None:
    conf = inputs.if_version(tmp_path, "\\x{100}")
    result = run(_check(conf, tmp_path), cwd=tmp_path, seconds=10)
    assert_error(result, 2, f"{conf}:8: Unable to compile regular expression")


def test_item17_8446_nested_ifmodule_are_read(tmp_path: Path) -> None:
    conf = inputs.nested(tmp_path, "<IfModule mpm_event_module>", "</IfModule>", 8446, "deep.conf")
    result = run(_check(conf, tmp_path), cwd=tmp_path, memory_mb=400, seconds=20)
    assert result.code == 1, result.err  # read fine; the default settings miss the targets
    assert result.first_line.startswith(f"capplan check: {conf} (event)")


def test_item17_8447_nested_ifmodule_fail_with_a_line(tmp_path: Path) -> None:
    conf = inputs.nested(
        tmp_path, "<IfModule mpm_event_module>", "</IfModule>", 8447, "deeper.conf"
    )
    result = run(_check(conf, tmp_path), cwd=tmp_path, memory_mb=400, seconds=20)
    assert_error(
        result,
        2,
        f"{conf}:8454: <IfModule> nested more than 8446 true conditional sections deep; "
        "httpd's reader recurses once per level and crashes (SIGSEGV) beyond this with an "
        "8 MiB stack",
    )


def test_item17_20000_nested_false_conditionals_are_skipped(tmp_path: Path) -> None:
    conf = inputs.nested(tmp_path, "<IfDefine NOPE>", "</IfDefine>", 20_000, "false.conf")
    result = run(_check(conf, tmp_path), cwd=tmp_path, memory_mb=300, seconds=20)
    assert result.code == 1, result.err


def test_item18_control_characters_are_escaped_in_errors(tmp_path: Path) -> None:
    conf = inputs.config(tmp_path, b"Bogus\x1b[31m x\x07\xff", name="esc.conf")
    result = run(_check(conf, tmp_path), cwd=tmp_path, seconds=10)
    # httpd: Invalid command 'Bogus\x1b[31m', perhaps misspelled or defined by a module …
    assert_error(
        result,
        2,
        f"{conf}:8: Invalid command 'Bogus\\x1b[31m', perhaps misspelled or defined by a "
        "module not included in the server configuration",
    )
    assert result.err.splitlines()[1] == "    Bogus\\x1b[31m x\\x07\\xff"
    assert "\x1b" not in result.err
    assert "\x07" not in result.err


def test_item18_control_characters_are_escaped_in_reports(tmp_path: Path) -> None:
    conf = inputs.config(tmp_path, name="plain.conf")
    prof = inputs.profile(tmp_path)
    prof.write_text(prof.read_text().replace("name: hostile", 'name: "a\\eb\\x07c"'))
    table = run(["check", str(conf), "-p", str(prof)], cwd=tmp_path, seconds=10)
    assert table.first_line == f"capplan check: {conf} (event) with profile a\\x1bb\\x07c " \
        "(400 req/s, 2 ms per request)"  # fmt: skip
    assert "\x1b" not in table.out


# --- the classes of hostile configs that already held -------------------------------------------


def test_held_include_cycle(tmp_path: Path) -> None:
    conf = inputs.include_cycle(tmp_path)
    result = run(_check(conf, tmp_path), cwd=tmp_path, seconds=20)
    assert result.code == 2, result.err
    assert result.first_line == (
        f"{conf}:8: Exceeded maximum include depth of 128, There appears to be a recursion."
    )


def test_held_device_file_as_config(tmp_path: Path) -> None:
    result = run(_check(Path("/dev/zero"), tmp_path), cwd=tmp_path, seconds=10)
    assert_error(result, 2, "Could not open configuration file /dev/zero: Bad file descriptor")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_held_permission_denied_include(tmp_path: Path) -> None:
    secret = tmp_path / "secret.conf"
    secret.write_text("ServerAdmin x@example.org\n")
    secret.chmod(0)
    conf = inputs.config(tmp_path, f"Include {secret}", name="perm.conf")
    result = run(_check(conf, tmp_path), cwd=tmp_path, seconds=10)
    assert_error(
        result, 2, f"{conf}:8: Could not open configuration file {secret}: Permission denied"
    )
