"""Reading stage: log inputs (plain files, gzip files, `-` for stdin) → blocks of whole lines.

Input: paths as the user gave them. Output: `Block`s of a few MiB of whole lines, in file order,
read with constant memory. A line longer than `max_line_bytes` is replaced
by a marker line (so line numbers stay right and the scanner counts it as bad) and skipped
without being held in memory. A truncated or corrupt gzip stream ends its file with a note.
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, cast

from capplan.errors import CapplanError
from capplan.location import Location

BLOCK_BYTES = 8 << 20
MAX_LINE_BYTES = 1 << 20
_PIECE_BYTES = 1 << 20
# Replaces an over-long line in a block; the scanner reports it by this text.
LONG_LINE_MARK = b"\x00capplan: line longer than the limit\x00"
STDIN_NAME = "<stdin>"
# Opens a path for binary reading (default: the local file system); another opener lets the
# same reading serve URLs (fsspec) on cluster workers.
Opener = Callable[[str], BinaryIO]


@dataclass(frozen=True, slots=True)
class Block:
    """Whole lines of one input, in order: `buffer[start:end]` (the scanner counts them, for
    line numbers). The bounds spare copying a read buffer just to drop its partial last line."""

    source: str
    buffer: bytes
    start: int
    end: int
    raw_done_bytes: int  # bytes of the input file consumed so far (compressed for gzip)

    @property
    def data(self) -> bytes:
        return self.buffer[self.start : self.end]


@dataclass(frozen=True, slots=True)
class ReadNote:
    """Something the user should know about an input that is not fatal (e.g. a truncated gzip)."""

    location: Location
    message: str


class LogInput:
    """One input: opened lazily, read in blocks; notes collect non-fatal problems."""

    def __init__(
        self,
        path: str,
        stdin: BinaryIO | None = None,
        *,
        block_bytes: int = BLOCK_BYTES,
        max_line_bytes: int = MAX_LINE_BYTES,
        opener: Opener | None = None,
        size_bytes: int | None = None,
    ) -> None:
        self.path = path
        self._opener = opener
        self.name = STDIN_NAME if path == "-" else path
        self._stdin = stdin
        self.block_bytes = block_bytes
        self.max_line_bytes = max_line_bytes
        self.notes: list[ReadNote] = []
        self._broken = False
        if size_bytes is None:
            size_bytes = 0 if path == "-" else _size(path)
        self.size_bytes = size_bytes

    def _open(self) -> tuple[BinaryIO, BinaryIO]:
        """(stream to read lines from, raw stream whose position measures progress)."""
        if self.path == "-":
            if self._stdin is None:
                raise CapplanError(f"{STDIN_NAME}: no standard input to read")
            raw: BinaryIO = self._stdin
        else:
            opener = self._opener
            if opener is None:
                raw = _open_log(self.path)
            else:
                try:
                    raw = opener(self.path)  # closed by blocks()
                except OSError as exc:
                    raise CapplanError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        if head == b"\x1f\x8b":
            return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb")), raw
        return raw, raw

    def blocks(self) -> Iterator[Block]:
        stream, raw = self._open()
        try:
            yield from self._blocks(stream, raw)
        finally:
            if self.path != "-":
                stream.close()
                raw.close()

    def _read(self, stream: BinaryIO) -> bytes:
        """Up to a block of bytes; b"" at the end. Reads in pieces so that a corrupt gzip
        stream loses only the piece it breaks in."""
        if self._broken:
            return b""
        pieces: list[bytes] = []
        size = 0
        try:
            if not isinstance(stream, gzip.GzipFile):
                return stream.read(self.block_bytes)
            # read1 on a gzip stream decompresses one input chunk at a time, so a truncated
            # stream raises only after everything before the damage was returned.
            while size < self.block_bytes:
                piece = stream.read1(min(_PIECE_BYTES, self.block_bytes - size))
                if not piece:
                    break
                pieces.append(piece)
                size += len(piece)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            self._broken = True
            self.notes.append(
                ReadNote(
                    Location(self.name, 0),
                    f"gzip stream is truncated or corrupt ({exc}); "
                    "the lines after this are missing",
                )
            )
        except OSError as exc:
            raise CapplanError(f"{self.name}: cannot read: {exc.strerror or exc}") from None
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _blocks(self, stream: BinaryIO, raw: BinaryIO) -> Iterator[Block]:
        pending = b""
        skipping = False

        def done() -> int:
            try:
                return raw.tell() if self.path != "-" else 0
            except OSError:
                return 0

        while True:
            chunk = self._read(stream)
            if not chunk:
                break
            if skipping:
                nl = chunk.find(b"\n")
                if nl < 0:
                    continue
                chunk = chunk[nl + 1 :]
                skipping = False
            cut = chunk.rfind(b"\n") + 1
            if cut:
                first = 0
                if pending:
                    # the carried partial line and its end, as a small block of its own
                    first = chunk.find(b"\n") + 1
                    line = pending + chunk[:first]
                    yield Block(self.name, line, 0, len(line), done())
                if first < cut:
                    yield Block(self.name, chunk, first, cut, done())
                pending = chunk[cut:]
            else:
                pending += chunk
            if len(pending) > self.max_line_bytes:
                yield Block(self.name, LONG_LINE_MARK + b"\n", 0, len(LONG_LINE_MARK) + 1, done())
                pending = b""
                skipping = True
        if pending and not skipping:
            yield Block(self.name, pending, 0, len(pending), done())


def _open_log(path: str) -> BinaryIO:
    """Open a log file, a FIFO or a pipe (`<(zcat log)`); refuse devices and directories.

    O_NONBLOCK: opening a FIFO that has no writer would wait for one forever; opened this way
    it reads as empty instead (a read with no writer is end of file). Reads then block again.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise CapplanError(f"{path}: cannot read: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a device"
        raise CapplanError(
            f"{path}: cannot read: {kind}, not a log file (give a file, a pipe or -)"
        )
    os.set_blocking(fd, True)
    return open(fd, "rb")  # closed by blocks()


def is_plain_file(path: str) -> bool:
    """A regular file that is not gzip: one whose byte ranges can be read independently."""
    if path == "-":
        return False
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as fh:
            return fh.read(2) != b"\x1f\x8b"
    except OSError:
        return False


def read_range(
    path: str,
    start: int,
    end: int,
    max_line_bytes: int = MAX_LINE_BYTES,
    opener: Opener | None = None,
) -> bytes:
    """The lines of a plain file that start in bytes [start, end), whole.

    The ranges of consecutive calls partition the file's lines exactly: a line belongs to the
    range its first byte is in. A last line that goes on for more than `max_line_bytes` past the
    range is replaced by `LONG_LINE_MARK`, so memory stays bounded by the range plus the limit.
    """
    try:
        with open(path, "rb") if opener is None else opener(path) as fh:
            if start > 0:
                fh.seek(start - 1)
                if fh.read(1) != b"\n":
                    # the line at `start` began in an earlier range: skip to its end
                    while True:
                        piece = fh.readline(_PIECE_BYTES)
                        if not piece or piece.endswith(b"\n"):
                            break
                        if fh.tell() >= end:
                            return b""  # that line runs through this whole range
            pos = fh.tell()
            if pos >= end:
                return b""
            data = fh.read(end - pos)
            if len(data) < end - pos or data.endswith(b"\n"):
                return data  # the file ended, or the range ends on a line end
            rest = fh.readline(max_line_bytes + 1)
            if rest.endswith(b"\n") or len(rest) <= max_line_bytes:
                return data + rest  # the line ends (or the file does) within the limit
            return data[: data.rfind(b"\n") + 1] + LONG_LINE_MARK + b"\n"
    except OSError as exc:
        raise CapplanError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _size(path: str) -> int:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise CapplanError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise CapplanError(f"{path}: is a directory, not a log file")
    return st.st_size if stat.S_ISREG(st.st_mode) else 0
