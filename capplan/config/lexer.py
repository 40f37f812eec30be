"""Lexer stage: the raw bytes of one config file → its logical lines, as httpd reads them.

Input is a file's bytes; output is a `LexedFile`: a tuple of `LogicalLine` (line number, trimmed
text) plus the read error httpd would stop at (a logical line over 16 MiB), if any.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# NOTE: server/config.c VARBUF_MAX_LEN — the longest logical line httpd accepts in server config.
MAX_LINE_BYTES = 16 * 1024 * 1024

# apr_isspace(): the C locale's whitespace, never Unicode spaces.
APR_SPACE = " \t\n\v\f\r"


@dataclass(frozen=True, slots=True)
class LogicalLine:
    """One logical line: continuations joined, leading/trailing whitespace trimmed.

    `line` is the number httpd reports for it: the last physical line it was read from.
    Blank lines and comment lines are kept (the evaluator needs them to skip false sections).
    """

    line: int
    text: str


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """httpd stops reading a file at a logical line longer than `MAX_LINE_BYTES`."""

    line: int


@dataclass(frozen=True, slots=True)
class LexedFile:
    lines: tuple[LogicalLine, ...]
    error: LineTooLong | None = None


_SPLIT_NL = re.compile("\n")


def decode(data: bytes) -> str:
    """httpd works on bytes; decoding UTF-8 with surrogateescape keeps every byte round-trippable
    while all structure (whitespace, quotes, `\\`, `#`, `<`, `$`) is ASCII and unaffected."""
    return data.decode("utf-8", "surrogateescape")


def _too_long(text: str) -> bool:
    """NOTE: ap_cfg_getline_core() needs room for the line, its LF and a NUL in the buffer."""
    return len(text) * 4 >= MAX_LINE_BYTES - 1 and (
        len(text.encode("utf-8", "surrogateescape")) >= MAX_LINE_BYTES - 1
    )


def lex(data: bytes) -> LexedFile:
    """Split `data` into logical lines the way `ap_varbuf_cfg_getline()` does.

    NOTE: server/util.c ap_cfg_getline_core(): a physical line ending in `\\` + LF (or `\\` + CRLF)
    continues on the next one; the backslash goes, nothing is inserted. A `\\` on a last line with
    no newline stays. A NUL byte ends the physical line's text (httpd uses strlen()).
    cfg_trim_line() then trims apr_isspace() on both ends (so CR of CRLF disappears).
    """
    text = decode(data)
    physical = _SPLIT_NL.split(text)
    last_terminated = physical[-1] == ""
    if last_terminated:
        physical.pop()
    count = len(physical)
    lines: list[LogicalLine] = []
    append = lines.append
    pending: list[str] = []
    number = 0
    for index, physical_line in enumerate(physical):
        number += 1
        raw = physical_line
        has_newline = index < count - 1 or last_terminated
        if "\0" in raw:
            raw = raw[: raw.index("\0")]
            has_newline = False
        if has_newline:
            body = raw[:-1] if raw.endswith("\r") else raw
            if body.endswith("\\"):
                pending.append(body[:-1])
                if index == count - 1:
                    # NOTE: ap_cfg_getline_core() counts the failed read at EOF as a line too.
                    number += 1
                    joined = "".join(pending)
                    pending = []
                    if _too_long(joined):
                        return LexedFile(tuple(lines), LineTooLong(number))
                    append(LogicalLine(number, joined.strip(APR_SPACE)))
                continue
        if pending:
            pending.append(raw)
            joined = "".join(pending)
            pending = []
        else:
            joined = raw
        if _too_long(joined):
            return LexedFile(tuple(lines), LineTooLong(number))
        append(LogicalLine(number, joined.strip(APR_SPACE)))
    return LexedFile(tuple(lines))
