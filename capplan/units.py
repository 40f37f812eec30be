"""Units of the profile format and the command line: text such as `80ms` or `512MiB` to SI numbers.

Input: a duration or size as the user wrote it. Output: seconds (float) or bytes (int). Parsing is
strict: anything that is not a finite, non-negative number with a known unit raises CapplanError
(the caller adds the file and line).
"""

from __future__ import annotations

import math
import re

from capplan.errors import CapplanError

# Seconds per duration unit. A bare number is seconds.
DURATION_UNITS_S: dict[str, float] = {"ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}

# Bytes per size unit. K, M and G are binary like KiB, MiB and GiB, as in ps, free and top; a
# bare number is bytes.
SIZE_UNITS_BYTES: dict[str, int] = {
    "B": 1,
    "K": 1 << 10,
    "KiB": 1 << 10,
    "M": 1 << 20,
    "MiB": 1 << 20,
    "G": 1 << 30,
    "GiB": 1 << 30,
    "T": 1 << 40,
    "TiB": 1 << 40,
}

_QUANTITY = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*$")


def _split(text: str, what: str, units: str) -> tuple[float, str]:
    match = _QUANTITY.match(text)
    if match is None:
        raise CapplanError(f"invalid {what} {text!r}: expected a number with a unit ({units})")
    value = float(match.group(1))
    if not math.isfinite(value):
        raise CapplanError(f"invalid {what} {text!r}: not a finite number")
    if value < 0:
        raise CapplanError(f"invalid {what} {text!r}: must not be negative")
    return value, match.group(2)


def parse_duration_s(text: str) -> float:
    """`80ms`, `2s`, `1.5min`, `1h` or a bare number of seconds -> seconds (finite, >= 0)."""
    units = ", ".join(DURATION_UNITS_S)
    value, unit = _split(text, "duration", units)
    if not unit:
        return value
    if unit not in DURATION_UNITS_S:
        raise CapplanError(f"invalid duration {text!r}: unknown unit {unit!r} (use {units})")
    return value * DURATION_UNITS_S[unit]


def parse_size_bytes(text: str) -> int:
    """`512MiB`, `4G`, `64K` or a bare number of bytes -> bytes (an int, >= 0, rounded).

    K, M, G and T are binary (1024-based), the same as KiB, MiB, GiB and TiB.
    """
    units = ", ".join(SIZE_UNITS_BYTES)
    value, unit = _split(text, "size", units)
    if unit and unit not in SIZE_UNITS_BYTES:
        decimal = unit.upper() in {"KB", "MB", "GB", "TB"}
        hint = " (decimal kB/MB/GB are not accepted: write KiB/MiB/GiB)" if decimal else ""
        raise CapplanError(f"invalid size {text!r}: unknown unit {unit!r} (use {units}){hint}")
    return round(value * SIZE_UNITS_BYTES[unit or "B"])


def format_duration(seconds: float) -> str:
    """A duration for messages: `80ms` below one second, else `5s`."""
    if 0 < seconds < 1:
        return f"{seconds * 1e3:g}ms"
    return f"{seconds:g}s"


def size_literal(size_bytes: int) -> str:
    """A size as a profile writes it, the inverse of `parse_size_bytes`: `1.5GiB`, `100B`.

    For the schema's defaults and anything a user pastes back into a profile; sizes shown to be
    read go through `render.format.format_bytes` ("1.5 GiB").
    """
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = SIZE_UNITS_BYTES[unit]
        if size_bytes >= scale:
            return f"{size_bytes / scale:.4g}{unit}"
    return f"{size_bytes}B"
