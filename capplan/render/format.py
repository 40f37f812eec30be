"""Human formatting of numbers for the table and markdown renderers.

Input: SI values (bytes, seconds, probabilities, plain counts). Output: short strings such as
`3.4 GiB`, `200 ms`, `1.2e-5`. Never NaN: non-finite inputs print as `inf`, `-inf` or `n/a`.
"""

from __future__ import annotations

import math

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


def format_probability(value: float) -> str:
    """A probability in [0, 1] with two significant digits: `0`, `0.25`, `0.012`, `1.2e-5`, and
    `< 1e-9` below PROBABILITY_FLOOR (JSON keeps the number)."""
    special = _non_finite(value)
    if special is not None:
        return special
    if value == 0:
        return "0"
    if value < PROBABILITY_FLOOR:
        return f"< {format_number(PROBABILITY_FLOOR)}"
    if value >= 1e-3:
        return format_number(round(value, 4 if value < 0.01 else 3), 2)
    return format_number(value, 2)


def format_bytes(value: float) -> str:
    """Bytes in binary units with two or three significant digits: `512 B`, `3.4 GiB`, `25 MiB`."""
    special = _non_finite(value)
    if special is not None:
        return special
    magnitude = abs(value)
    unit = 0
    while magnitude >= 1024 and unit < len(_BINARY_UNITS) - 1:
        magnitude /= 1024
        unit += 1
    sign = "-" if value < 0 else ""
    if unit == 0:
        return f"{sign}{magnitude:.0f} B"
    shown = f"{magnitude:.1f}" if magnitude < 10 else f"{magnitude:.0f}"
    return f"{sign}{shown.removesuffix('.0')} {_BINARY_UNITS[unit]}"


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
