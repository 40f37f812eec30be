"""httpd's number parsing, as the C library does it: `atoi`, whole-string `strtod` and
`ap_timeout_parameter_parse()`.

Input: a directive's argument as written. Output: the number httpd reads from it (wrapped,
clamped or rejected exactly as httpd on glibc/LP64 does). Shared by the MPM and mod_http2 settings.
"""

from __future__ import annotations

import math
import re

_C_SPACE = " \t\n\v\f\r"
_INT64_MAX = (1 << 63) - 1
_LONG_MIN = -(1 << 63)


def _strtol(text: str) -> tuple[int, str]:
    """glibc `strtol(text, &end, 10)` on LP64: the clamped value and the unparsed rest."""
    match = re.match(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)", text)
    if match is None:
        return 0, text
    value = int(match.group(2))
    if match.group(1) == "-":
        value = -value
    return max(_LONG_MIN, min(_INT64_MAX, value)), text[match.end() :]


def c_atoi(text: str) -> int:
    """C `atoi()` as glibc implements it: `(int) strtol(text, NULL, 10)`.

    NOTE: httpd's MPM handlers (`set_max_workers()`, `set_server_limit()`, …) use atoi, so
    `150abc` is 150, `abc` is 0, and an out-of-range number wraps to 32 bits after strtol clamps it
    to the 64-bit range (`99999999999` → 1215752191, `99999999999999999999` → -1).
    """
    value, _ = _strtol(text)
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


_STRTOD = re.compile(
    r"[ \t\n\v\f\r]*[+-]?(?:"
    r"0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?"
    r"|[nN][aA][nN](?:\([0-9A-Za-z_]*\))?"
    r")"
)


def c_strtod_whole(text: str) -> float | None:
    """C `strtod()` that must consume the whole string (httpd's `*endptr` test); None otherwise."""
    match = _STRTOD.fullmatch(text)
    if match is None:
        return None
    body = text.lstrip(_C_SPACE)
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body[:2].lower() == "0x":
        if not re.search(r"[pP]", body):
            body += "p0"
        return sign * float.fromhex(body)
    if body[:3].lower() == "nan":
        return math.nan
    return sign * float(body)


def parse_timeout_us(text: str, default_unit: str = "s") -> int | None:
    """httpd's `ap_timeout_parameter_parse()`: microseconds, or None for "wrong format".

    A number (strtoll, base 10) then a unit chosen by its first letters: `ms`, `s`, `mi`
    (minutes), `h`; anything after them is ignored (`5sec` is 5 s). Negative values and results
    beyond 64-bit microseconds are rejected (checked against apache2 2.4.71).
    """
    match = re.match(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)", text)
    number = 0
    rest = text
    if match is not None:
        number = int(match.group(2)) * (-1 if match.group(1) == "-" else 1)
        if not _LONG_MIN <= number <= _INT64_MAX:
            return None  # strtoll sets ERANGE
        rest = text[match.end() :]
    unit = rest or default_unit
    if unit.startswith("ms"):
        factor_us = 1000
    elif unit.startswith("s"):
        factor_us = 1_000_000
    elif unit.startswith("mi"):
        factor_us = 60_000_000
    elif unit.startswith("h"):
        factor_us = 3_600_000_000
    else:
        return None
    if number < 0 or number * factor_us > _INT64_MAX:
        return None
    return number * factor_us
