"""Lexer stage: the raw bytes of one config file → its logical lines, as httpd reads them.

Input is a file's bytes; output is a `LexedFile`: the trimmed text of every logical line that
is neither blank nor a comment, the line number httpd reports for each, and the read error
httpd would stop at (a logical line of 16 MiB or more), if any.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

# NOTE: server/config.c VARBUF_MAX_LEN: a logical line of this many bytes or more (newline not
# counted) stops httpd with "Line too long" (boundary probed on 2.4.71).
MAX_LINE_BYTES = 16 * 1024 * 1024

# apr_isspace(): the C locale's whitespace, never Unicode spaces.
APR_SPACE = " \t\n\v\f\r"


@dataclass(frozen=True, slots=True)
class LogicalLine:
    """One logical line: continuations joined, leading/trailing whitespace trimmed.

    `line` is the number httpd reports for it: the last physical line it was read from.
    """

    line: int
    text: str


@dataclass(frozen=True, slots=True)
class LexedFile:
    """`texts[i]` was read at line `numbers[i]`; blank and comment lines are left out (no
    reader of httpd's looks at them: a comment can neither open nor close a section).
    `too_long_at` is the line where httpd stops reading with "Line too long", else None."""

    texts: tuple[str, ...]
    numbers: tuple[int, ...]
    too_long_at: int | None = None
    # True when str.split() splits exactly where apr_isspace() does (no exotic whitespace).
    plain_split: bool = True

    def lines(self) -> tuple[LogicalLine, ...]:
        return tuple(map(LogicalLine, self.numbers, self.texts))


def decode(data: bytes) -> str:
    """httpd works on bytes; decoding UTF-8 with surrogateescape keeps every byte round-trippable
    while all structure (whitespace, quotes, `\\`, `#`, `<`, `$`) is ASCII and unaffected."""
    return data.decode("utf-8", "surrogateescape")


def _too_long(text: str) -> bool:
    return len(text) * 4 >= MAX_LINE_BYTES and (
        len(text.encode("utf-8", "surrogateescape")) >= MAX_LINE_BYTES
    )


def lex(data: bytes) -> LexedFile:
    """Split `data` into logical lines the way `ap_varbuf_cfg_getline()` does.

    NOTE: server/util.c ap_cfg_getline_core(): a physical line ending in `\\` + LF (or `\\` + CRLF)
    continues on the next one; the backslash goes, nothing is inserted, and continuation comes
    before comment detection (a comment ending in `\\` swallows the next line). A `\\` on a last
    line with no newline stays. A NUL byte ends the physical line's text (httpd uses strlen()).
    cfg_trim_line() then trims apr_isspace() on both ends (so the CR of CRLF disappears).
    """
    text = decode(data)
    if "\0" in text or "\\\\\n" in text or "\\\\\r\n" in text:
        # NUL bytes, or a line ending in two backslashes (after its continuation the text
        # still ends in one, so a following empty line continues it again): read line by line.
        numbers, raws = _general(text)
    elif "\\\n" in text or "\\\r\n" in text:
        numbers, raws = _joined(text)
    else:
        numbers, raws = _plain(text)
    return _finish(numbers, raws, text)


def _physical(text: str) -> list[str]:
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the text after the last LF, when it is empty, is no line
    return lines


def _plain(text: str) -> tuple[Sequence[int], list[str]]:
    """No continuation and no NUL: one logical line per physical line."""
    raws = _physical(text)
    return range(1, len(raws) + 1), raws


# A continuation: backslash, optional CR, then LF.
_CONTINUED = re.compile(r"\\\r?\n")


def _joined(text: str) -> tuple[Sequence[int], list[str]]:
    """Continuations joined; each logical line numbered by its last physical line."""
    physical = _physical(text)
    count = len(physical)
    continued: list[int] = []
    index = 0
    scanned = 0
    for found in _CONTINUED.finditer(text):
        index += text.count("\n", scanned, found.start())
        scanned = found.start()
        continued.append(index)  # physical line `index` ends with a continuation
    numbers: list[int] = []
    raws: list[str] = []
    pos = 0
    pending: str | None = None
    for index in continued:
        if pending is not None and index != pos:
            numbers.append(pos + 1)
            raws.append(pending + physical[pos])
            pos += 1
            pending = None
        numbers.extend(range(pos + 1, index + 1))
        raws.extend(physical[pos:index])
        raw = physical[index]
        piece = raw[:-1] if raw[-1] == "\\" else raw[:-2]
        pending = piece if pending is None else pending + piece
        pos = index + 1
    if pending is not None:
        if pos < count:
            numbers.append(pos + 1)
            raws.append(pending + physical[pos])
            pos += 1
        else:
            # NOTE: ap_cfg_getline_core() counts the failed read at EOF as a line too.
            numbers.append(count + 1)
            raws.append(pending)
    numbers.extend(range(pos + 1, count + 1))
    raws.extend(physical[pos:])
    return numbers, raws


def _general(text: str) -> tuple[Sequence[int], list[str]]:
    """ap_cfg_getline_core() transcribed: each read appends to the logical line, and the
    continuation test looks at the end of everything gathered so far, not just that read."""
    reads = text.split("\n")
    last_terminated = reads[-1] == ""
    if last_terminated:
        reads.pop()
    count = len(reads)
    numbers: list[int] = []
    raws: list[str] = []
    number = 0
    position = 0
    while position < count:
        buffer = ""
        while True:
            number += 1
            if position >= count:
                break  # NOTE: the failed read at EOF after a continuation counts as a line
            raw = reads[position]
            position += 1
            had_newline = position < count or last_terminated
            if "\0" in raw:  # strlen() stops at the NUL; the newline is out of sight
                raw, had_newline = raw[: raw.index("\0")], False
            buffer += raw
            if had_newline:
                end = len(buffer)
                if end and buffer[end - 1] == "\r":
                    end -= 1
                if end and buffer[end - 1] == "\\":
                    buffer = buffer[: end - 1]
                    continue
            break
        numbers.append(number)
        raws.append(buffer)
    return numbers, raws


def _finish(numbers: Sequence[int], raws: list[str], text: str) -> LexedFile:
    """Trim, drop blank and comment lines, and stop at a line httpd finds too long."""
    too_long_at = None
    if len(text) * 4 >= MAX_LINE_BYTES:
        for index, raw in enumerate(raws):
            if _too_long(raw):
                numbers, raws, too_long_at = numbers[:index], raws[:index], numbers[index]
                break
    trimmed = [raw.strip(APR_SPACE) for raw in raws]
    # `line[:1] not in "#"` is False for blank lines and comments alike.
    keep = [line[:1] not in "#" for line in trimmed]
    plain = _ODD_SPACE.search(text) is None
    return LexedFile(
        tuple(compress(trimmed, keep)), tuple(compress(numbers, keep)), too_long_at, plain
    )


# Characters str.split() takes for whitespace while apr_isspace() does not.
_ODD_SPACE = re.compile("[\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
