"""PCRE2 for <IfVersion ~ regex>: the system's libpcre2-8 and the PyPI binding, same cases."""

from __future__ import annotations

import pytest

from capplan.config import pcre

CASES = [
    (b"^2\\.4\\.[[:digit:]]+$", True),
    (b"\\Q2.4\\E", True),
    (b"(2)(?1)", False),
    (b"(\\.)(?1)", False),
    (b"[[:alpha:]]", False),
    (b"(?<=2\\.)4", True),
    (b"\\d++\\.", True),
    (b"(?i)X|2", True),
    (b"\\K2", True),
    (b"(?C1)2", True),
    (b"2#comment", False),
]
ERRORS = [b"[", b"\\x{100}", b"\\g{-1}", b"\\N{U+0032}"]
# Where the PyPI binding (its own PCRE2 10.47) differs from httpd's libpcre2-8 10.42, as
# docs/config.md says: it takes `\\x{100}` (code points above 255) and reads `a{,3}` as {0,3}.
BINDING_ACCEPTS = {b"\\x{100}"}


def _backends() -> list[str]:
    found = ["binding"]
    if pcre._system_library() is not None:
        found.append("system")
    return found


def _search(backend: str, pattern: bytes, subject: bytes) -> bool:
    if backend == "system":
        return pcre.search(pattern, subject)
    return pcre._search_binding(pattern, subject)


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize(("pattern", "matches"), CASES)
def test_search(backend: str, pattern: bytes, matches: bool) -> None:
    assert _search(backend, pattern, b"2.4.71") is matches


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("pattern", ERRORS)
def test_refused(backend: str, pattern: bytes) -> None:
    if backend == "binding" and pattern in BINDING_ACCEPTS:
        assert _search(backend, pattern, b"2.4.71") is False
        return
    with pytest.raises(pcre.PatternError):
        _search(backend, pattern, b"2.4.71")
