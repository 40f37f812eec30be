"""Regular expressions as httpd runs them: a pattern and a subject → does PCRE2 find a match.

Used by the evaluator for `<IfVersion ~ regex>` and `<IfVersion /regex/>`. httpd compiles
with PCRE2 (server/util_pcre.c), so Python's `re` is the wrong dialect: POSIX classes,
`\\Q…\\E`, recursion and possessive quantifiers differ. The system's libpcre2-8, the library
httpd itself links, is called through ctypes; when it is missing, the `pcre2` binding from
PyPI (its own bundled PCRE2) is used. Both are loaded on first use only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache
from typing import Any

# pcre2.h: PCRE2_DOTALL. httpd's default RegexDefaultOptions are DOTALL and DOLLAR_ENDONLY;
# the latter only matters before a final newline, which no version string has.
_PCRE2_DOTALL = 0x00000020
_PCRE2_ZERO_TERMINATED = ctypes.c_size_t(-1).value


class PatternError(ValueError):
    """PCRE2 refused the pattern (httpd: "Unable to compile regular expression")."""


@cache
def _system_library() -> Any | None:
    """libpcre2-8 of this system (httpd's own), or None."""
    name = ctypes.util.find_library("pcre2-8")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.pcre2_compile_8.restype = ctypes.c_void_p
        lib.pcre2_compile_8.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint32,
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_size_t),
            ctypes.c_void_p,
        ]
        lib.pcre2_match_data_create_from_pattern_8.restype = ctypes.c_void_p
        lib.pcre2_match_data_create_from_pattern_8.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.pcre2_match_8.restype = ctypes.c_int
        lib.pcre2_match_8.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_size_t,
            ctypes.c_uint32,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.pcre2_match_data_free_8.argtypes = [ctypes.c_void_p]
        lib.pcre2_code_free_8.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return lib


def search(pattern: bytes, subject: bytes) -> bool:
    """True when `pattern` (PCRE2, DOTALL, no UTF) matches somewhere in `subject`.

    Raises PatternError when PCRE2 refuses the pattern. A match that stops at one of PCRE2's
    limits is no match, as for httpd: ap_regexec() returns non-zero for both.
    """
    lib = _system_library()
    if lib is None:
        return _search_binding(pattern, subject)
    error = ctypes.c_int(0)
    offset = ctypes.c_size_t(0)
    # A pattern with a NUL cannot come from a config line (strlen() ends it): zero-terminated.
    code = lib.pcre2_compile_8(
        pattern, _PCRE2_ZERO_TERMINATED, _PCRE2_DOTALL, ctypes.byref(error), ctypes.byref(offset),
        None,
    )  # fmt: skip
    if not code:
        raise PatternError(f"PCRE2 error {error.value} at offset {offset.value}")
    try:
        data = lib.pcre2_match_data_create_from_pattern_8(code, None)
        if not data:
            raise MemoryError
        try:
            found = lib.pcre2_match_8(code, subject, len(subject), 0, 0, data, None)
        finally:
            lib.pcre2_match_data_free_8(data)
    finally:
        lib.pcre2_code_free_8(code)
    return bool(found >= 0)


def _search_binding(pattern: bytes, subject: bytes) -> bool:
    import pcre2

    try:
        compiled = pcre2.compile(pattern, pcre2.DOTALL)
    except (pcre2.PatternError, ValueError) as exc:
        raise PatternError(str(exc)) from None
    return compiled.search(subject) is not None
