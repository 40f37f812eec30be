"""The hostile config cases against the real `apache2 -t` (marked apache: they run httpd).

Each case is read by capplan and by httpd under a temporary ServerRoot; the first error (its
line number and text) or the acceptance must agree. Bogus directives make httpd name the line
it reads: `Invalid command 'X'` shows where a NUL byte or a read buffer split a line.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from capplan.config.evaluator import evaluate_config
from capplan.errors import CapplanError
from tests.hostile import inputs
from tests.httpd import apache2_binary, configtest

pytestmark = [
    pytest.mark.apache,
    pytest.mark.skipif(apache2_binary() is None, reason="apache2 is not installed"),
]

_SYNTAX = re.compile(r"Syntax error on line (\d+) of [^:]+:[ \n](.*)")


def _httpd(conf: Path) -> tuple[int, str] | None:
    """(line, message) of httpd's first error, None when `apache2 -t` says Syntax OK."""
    code, text = configtest(conf)
    if code == 0:
        return None
    found = _SYNTAX.search(text)
    assert found is not None, text
    return int(found.group(1)), found.group(2).strip()


def _capplan(
    conf: Path, httpd_version: tuple[int, int, int] = (2, 4, 71)
) -> tuple[int, str] | None:
    """(line, message) of capplan's first error (-1 when it has no line), None when none."""
    try:
        evaluate_config(conf, httpd_version=httpd_version)
    except CapplanError as exc:
        line = exc.location.line if exc.location is not None else -1
        return line, exc.message
    return None


NUL_CASES = {
    "hash-nul-204": b"#\0" + b"x" * 204 + b"Bogus1 7000",
    "hash-nul-203": b"#\0" + b"x" * 203 + b"Bogus1 7000",
    "hash-nul-205": b"#\0" + b"x" * 205 + b"Bogus1 7000",
    "after-a-long-line": b"#" + b"y" * 300 + b"\n" + b"#\0" + b"x" * 412 + b"Bogus1 7000",
    "nul-then-500-bytes": b"#\0" + b"q" * 500 + b"\nBogus3",
    "nul-in-continuation": b"Bogus7 a\\\n\0z\nBogus8",
    "directive-before-nul": b"Bogus9 a\0" + b"z" * 300,
}
EOF_CASES = {
    # A last line without LF that ends exactly where a read buffer is full is lost.
    "eof-206": b"Bogus5" + b"z" * 200,
    "eof-205": b"Bogus5" + b"z" * 199,
    "eof-414-after-long": b"#" + b"y" * 300 + b"\nBogus4" + b"z" * 408,
    "eof-830": b"Bogus5" + b"z" * 824,
    "eof-1246": b"Bogus5" + b"z" * 1240,
    "eof-8134": b"Bogus5" + b"z" * 8128,
}


@pytest.mark.parametrize("body", [*NUL_CASES.values(), *EOF_CASES.values()],
                         ids=[*NUL_CASES, *EOF_CASES])  # fmt: skip
def test_nul_bytes_and_read_buffers_as_httpd(tmp_path: Path, body: bytes) -> None:
    conf = inputs.config(tmp_path, name="nul.conf")
    conf.write_bytes(conf.read_bytes() + body)
    assert _capplan(conf) == _httpd(conf)


IFVERSION = [
    "^2\\.4\\.[[:digit:]]+$", "\\Q2.4\\E", "(2)(?1)", "(\\.)(?1)", "\\x{100}", "(*UTF)x",
    "[[:alpha:]]", "(?<=2\\.)4", "2\\.4\\.\\d{2}", "[", "\\d++\\.", "(?i)X|2", "\\p{Nd}",
    "a{,3}", "\\K2", "[[:<:]]2", "\\N{U+0032}", "(?|(2)|(4))\\1", "(?C1)2", "\\g{-1}",
]  # fmt: skip


@pytest.mark.parametrize("pattern", IFVERSION)
def test_ifversion_regex_as_httpd(tmp_path: Path, pattern: str) -> None:
    conf = inputs.config(
        tmp_path, f"<IfVersion ~ {pattern}>", "BogusTrue", "</IfVersion>", name="v.conf"
    )
    version = subprocess.run([apache2_binary() or "apache2", "-v"], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    found = re.search(r"Apache/(\d+)\.(\d+)\.(\d+)", version)
    assert found is not None
    httpd_version = (int(found.group(1)), int(found.group(2)), int(found.group(3)))
    ours = _capplan(conf, httpd_version)
    theirs = _httpd(conf)
    if theirs is not None and theirs[1].startswith("Invalid command 'BogusTrue'"):
        assert ours is not None
        assert ours[1].startswith("Invalid command 'BogusTrue'")
    else:
        assert (ours is None) == (theirs is None), (ours, theirs)
        if theirs is not None and ours is not None:
            assert ours == theirs


def test_30000_nested_directories_as_httpd(tmp_path: Path) -> None:
    conf = inputs.nested(tmp_path, "<Directory />", "</Directory>", 30_000, "dirs.conf")
    assert _capplan(conf) == _httpd(conf) == (9, "<Directory not allowed in <Directory> context")


def test_nested_ifmodule_limit_brackets_httpds_stack(tmp_path: Path) -> None:
    """httpd's limit is its stack: 8,446 nested true <IfModule> passed and 8,447 crashed when
    probed, give or take a few levels with the environment's size. 8,400 must pass both; at
    8,500 httpd dies of SIGSEGV and capplan stops at the 8,447th level with its line."""
    shallow = inputs.nested(
        tmp_path, "<IfModule mpm_event_module>", "</IfModule>", 8400, "shallow.conf"
    )
    assert _httpd(shallow) is None
    assert _capplan(shallow) is None
    deep = inputs.nested(tmp_path, "<IfModule mpm_event_module>", "</IfModule>", 8500, "d.conf")
    code, _text = configtest(deep)
    assert code < 0 or code == 139, code
    found = _capplan(deep)
    assert found is not None
    assert found[0] == 8454  # the 8,447th opener, after the 7 lines of the base config
