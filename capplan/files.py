"""Reading small input files (PID files, `apachectl -V` output, profiles, /proc) with bounds.

Input: a path and the most bytes it may hold. Output: its bytes, or an OSError whose strerror
says why not: a FIFO, device or directory where a regular file is needed (opened without
waiting, so a FIFO with no writer cannot hang the run), or a file over the limit (so
/dev/zero or a 4 GB file cannot exhaust memory).
"""

from __future__ import annotations

import errno
import os
import stat


def read_regular_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them, else OSError.

    /proc files count as regular (their size reads as 0; they are read to their end).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise OSError(errno.EINVAL, kind, os.fspath(path))
        os.set_blocking(fd, True)
        parts = []
        total = 0
        while chunk := os.read(fd, min(limit + 1 - total, 1 << 20)):
            parts.append(chunk)
            total += len(chunk)
            if total > limit:
                raise OSError(
                    errno.EFBIG, f"larger than {_size_text(limit)}, too large", os.fspath(path)
                )
        return b"".join(parts)
    finally:
        os.close(fd)


def _size_text(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"
