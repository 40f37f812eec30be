"""Human formatting of numbers for the table and markdown renderers.

Input: SI values (bytes, seconds, probabilities, plain counts). Output: short strings such as
`3.4 GiB`, `200 ms`, `1.2e-5`. Never NaN: non-finite inputs print as `inf`, `-inf` or `n/a`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def _non_finite(value: float) -> str | None:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return None


def format_number(value: float, digits: int = 3) -> str:
    """Integers below 1e9 in full, else `digits` significant digits: `0.0123`, `1.2e-5`."""
    special = _non_finite(value)
    if special is not None:
        return special
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


# Below this a probability is "never" for planning; tables say `< 1e-9` instead of 1.5e-198.
PROBABILITY_FLOOR = 1e-9


def format_probability(value: float, digits: int | None = None) -> str:
    """A probability in [0, 1] with two significant digits: `0`, `0.25`, `0.012`, `1.2e-5`, and
    `< 1e-9` below PROBABILITY_FLOOR (JSON keeps the number); `digits` significant digits when
    given."""
    special = _non_finite(value)
    if special is not None:
        return special
    if value == 0:
        return "0"
    if value < PROBABILITY_FLOOR:
        return f"< {format_number(PROBABILITY_FLOOR)}"
    if digits is not None:
        return format_number(value, digits)
    if value >= 1e-3:
        return format_number(round(value, 4 if value < 0.01 else 3), 2)
    return format_number(value, 2)


def format_bytes(value: float, digits: int | None = None) -> str:
    """Bytes in binary units with two or three significant digits: `512 B`, `3.4 GiB`, `25 MiB`;
    `digits` significant digits when given (`1.802 GiB`)."""
    special = _non_finite(value)
    if special is not None:
        return special
    magnitude = abs(value)
    unit = 0
    while magnitude >= 1024 and unit < len(_BINARY_UNITS) - 1:
        magnitude /= 1024
        unit += 1
    sign = "-" if value < 0 else ""
    if digits is not None:
        return f"{sign}{format_number(magnitude, digits)} {_BINARY_UNITS[unit]}"
    if unit == 0:
        return f"{sign}{magnitude:.0f} B"
    shown = f"{magnitude:.1f}" if magnitude < 10 else f"{magnitude:.0f}"
    return f"{sign}{shown.removesuffix('.0')} {_BINARY_UNITS[unit]}"


# The most significant digits a value is shown with to tell it from the limit it is judged by.
_MOST_DIGITS = 6


def distinct_from(value: float, limit: float, shown: Callable[[float, int | None], str]) -> str:
    """`shown(value, None)`, or with more significant digits (up to six) where it would read as
    the limit does though it differs: a probability of 0.01007 against a limit of 0.01 is
    `0.0101`, not `0.01`, so a table never says `0.01 > 0.01`."""
    text = shown(value, None)
    if value == limit or not math.isfinite(value) or text != shown(limit, None):
        return text
    for digits in range(3, _MOST_DIGITS + 1):
        finer = shown(value, digits)
        if finer != shown(limit, digits):
            return finer
    return text


def format_seconds(value: float) -> str:
    """A duration: `0 s`, `2.2e-10 s`, `350 µs`, `200 ms`, `5 s`, `1.5 s`, `2 min`, `1.5 h`."""
    special = _non_finite(value)
    if special is not None:
        return special
    if value == 0:
        return "0 s"
    magnitude = abs(value)
    if magnitude < 1e-6:  # below a microsecond nobody waits
        return "< 1 µs" if value > 0 else f"{value:.2g} s"
    for limit, scale, unit in ((1e-3, 1e6, "µs"), (1.0, 1e3, "ms"), (120.0, 1.0, "s"),
                               (3600.0, 1 / 60, "min")):  # fmt: skip
        if magnitude < limit:
            return f"{format_number(value * scale)} {unit}"
    return f"{format_number(value / 3600)} h"
