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
    line with no newline stays. A NUL byte ends the text of its read (httpd uses strlen()),
    and the read buffer decides where the next line starts (see `_general`).
    cfg_trim_line() then trims apr_isspace() on both ends (so the CR of CRLF disappears).
    """
    text = decode(data)
    tail = len(data) - data.rfind(b"\n") - 1  # bytes after the last LF
    if "\0" in text or _DOUBLE_CONTINUATION.search(text) or tail >= _FIRST_READ_CAPACITY:
        # NUL bytes; a line ending in two backslashes, the first optionally followed by a CR
        # (after its continuation the text still ends in `\\` or `\\` CR, so a following empty
        # line continues it again); or a long last line without LF (it may end exactly where a
        # read buffer does): read as httpd does.
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


# A backslash, an optional CR, then a continuation: joined, the text still ends in a continuation
# (ap_cfg_getline_core() checks the joined buffer again).
_DOUBLE_CONTINUATION = re.compile(r"\\\r?\\\r?\n")
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


# NOTE: server/config.c VARBUF_INIT_LEN (200), as util.c ap_varbuf_grow() rounds it: the first
# read buffer of a config reader holds 207 bytes, so apr_file_gets() reads at most 206.
_FIRST_READ_CAPACITY = 206


def _grown_capacity(capacity: int, *, adjacent: bool) -> int:
    """The read capacity after util.c ap_varbuf_cfg_getline() doubles the buffer (APR_ENOSPC).

    ap_varbuf_grow(2 × avail): up to VARBUF_SMALL_SIZE (2048) a pool block of avail·2 + 1
    rounded up to 8; when that block lies right after the old buffer (`adjacent`: a second
    growth within one line, nothing allocated in between) both are used, else the block alone.
    Beyond 2048, an allocator node of avail·2 + 1 + 16 (ap_varbuf_info) + 40 (apr_memnode_t)
    rounded up to 4096, at least 8192, less those overheads. One read holds avail - 1 bytes.
    Probed on 2.4: a last line without LF is lost at 206, 414, 1246, 8134 and 16326 bytes.
    """
    avail = capacity + 1
    wanted = 2 * avail + 1
    if wanted <= 2048:
        block = (wanted + 7) & ~7
        avail = avail + block if adjacent else block - 1
    else:
        node = max((wanted + 16 + 40 + 4095) & ~4095, 8192)
        avail = node - 40 - 16 - 1
    return avail - 1


def _general(text: str) -> tuple[Sequence[int], list[str]]:
    """ap_varbuf_cfg_getline() over ap_cfg_getline_core() transcribed, on bytes.

    Each apr_file_gets() read stops after a LF or when the buffer is full; a read that fills the
    buffer (APR_ENOSPC) grows it and continues the same line, so without NUL bytes the buffer
    size never shows. With one it does: strlen() stops at the NUL, the rest of that read is
    dropped, and the rest of the physical line, past the buffer, is read as a new line (so
    `#` NUL + 204 bytes + `MaxRequestWorkers 7000` is a comment, then a directive). The buffer
    of the file's reader only grows.

    NOTE: httpd gives each true conditional section's body a fresh reader (config.c
    ap_build_cont_config()) and skips false ones with a fixed 8 KiB buffer; capplan keeps one
    reader per file, which differs only for a line holding a NUL after a line longer than 206
    bytes in the same file.
    """
    data = text.encode("utf-8", "surrogateescape")
    size = len(data)
    capacity = _FIRST_READ_CAPACITY
    numbers: list[int] = []
    raws: list[str] = []
    number = 0
    position = 0
    while position < size:
        buffer = bytearray()
        grown = False
        while True:
            number += 1
            if position >= size:
                break  # NOTE: the failed read at EOF after a continuation counts as a line
            space = capacity - len(buffer)
            newline = data.find(b"\n", position, position + space)
            stop = position + space if newline < 0 else newline + 1
            chunk = data[position:stop]
            position = stop
            nul = chunk.find(b"\0")
            if nul >= 0:
                buffer += chunk[:nul]  # strlen() stops here: the rest of this read is lost
                break
            buffer += chunk
            if buffer[-1:] == b"\n":
                end = len(buffer) - 1
                if end and buffer[end - 1] == 0x0D:
                    end -= 1
                if end and buffer[end - 1] == 0x5C:  # a backslash: the line continues
                    del buffer[end - 1 :]
                    continue
                break
            if len(buffer) >= capacity:
                if position >= size:
                    # NOTE: APR_ENOSPC right at EOF: the next read returns APR_EOF at the
                    # line's start, so ap_varbuf_cfg_getline() gives up the line (and the file).
                    return numbers, raws
                # APR_ENOSPC: grow, read on, same line.
                capacity = _grown_capacity(capacity, adjacent=grown)
                grown = True
                number -= 1
                continue
            break
        numbers.append(number)
        raws.append(bytes(buffer).rstrip(b"\n").decode("utf-8", "surrogateescape"))
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
