"""Time stamps of access-log lines → seconds since the epoch and the hour of day.

Input: the text of a `%t` field (`10/Oct/2000:13:55:36 -0700`, brackets removed) or of a
`%{strftime}t` field. Output: `(epoch_s, hour)` where `hour` is the local hour as written in the
log (the server's own clock, which is what a daily load curve means). Results are cached per
distinct text: a busy log repeats each second's stamp many times.
"""

from __future__ import annotations

import calendar
import time

_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    )
}


def parse_clf_time(text: bytes) -> tuple[float, int] | None:
    """`[dd/Mon/yyyy:HH:MM:SS ±hhmm]` (brackets optional) → (epoch_s, local hour), None if bad."""
    s = text.strip(b"[]")
    try:
        day = int(s[0:2])
        month = _MONTHS[s[3:6].decode("ascii")]
        year = int(s[7:11])
        hour = int(s[12:14])
        minute = int(s[15:17])
        second = int(s[18:20])
        sign = s[21:22]
        offset_h = int(s[22:24])
        offset_m = int(s[24:26])
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
    if s[2:3] != b"/" or s[6:7] != b"/" or s[11:12] != b":" or sign not in (b"+", b"-"):
        return None
    if not (1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    offset = (offset_h * 3600 + offset_m * 60) * (1 if sign == b"+" else -1)
    try:
        epoch = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    except (ValueError, OverflowError):  # year 0000 has no proleptic Gregorian date
        return None
    return float(epoch), hour


def parse_strftime_time(text: bytes, fmt: str) -> tuple[float, int] | None:
    """A `%{fmt}t` stamp → (epoch_s, local hour); the time zone is `%z` when present, else UTC."""
    try:
        parsed = time.strptime(text.decode("ascii"), fmt)
    except (ValueError, UnicodeDecodeError):
        return None
    offset = parsed.tm_gmtoff if "%z" in fmt and parsed.tm_gmtoff is not None else 0
    try:
        return float(calendar.timegm(parsed) - offset), parsed.tm_hour
    except (ValueError, OverflowError):
        return None
