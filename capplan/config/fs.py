"""File access for the evaluator, injected so tests can use an in-memory tree.

Input: absolute paths; output: file bytes, directory listings and file kinds. `RealFileSystem`
reads the disk; `MemoryFileSystem` serves a dict of paths and can refuse reads (like `chmod 000`).
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Protocol

# capplan lexes a config file whole; a file this large is no config anyone wrote (Debian's
# whole tree is under 100 KiB), and refusing it keeps memory bounded (httpd itself reads
# line by line and has no such limit).
MAX_CONFIG_FILE_BYTES = 64 * 1024 * 1024


class FileTooLargeError(OSError):
    """A config file larger than MAX_CONFIG_FILE_BYTES."""

    def __init__(self, path: str) -> None:
        super().__init__(
            errno.EFBIG,
            f"larger than {MAX_CONFIG_FILE_BYTES >> 20} MiB, the most capplan reads of one "
            "config file",
            path,
        )


class Kind(Enum):
    FILE = "file"
    DIRECTORY = "directory"
    OTHER = "other"


class FileSystem(Protocol):
    """What the evaluator needs from a file system; errors are `OSError` with `strerror` set."""

    def read_bytes(self, path: str) -> bytes:
        """Contents of a regular file (or /dev/null); EBADF for anything else that opens.

        NOTE: server/util.c ap_pcfg_openfile() opens first, then refuses non-regular files.
        """
        ...

    def kind(self, path: str, *, follow_symlinks: bool = True) -> Kind | None:
        """Kind of `path` (a symlink itself is OTHER unless followed), None when stat() fails."""
        ...

    def list_dir(self, path: str) -> list[str]:
        """Entry names of a directory (without `.` and `..`), in no particular order."""
        ...


class RealFileSystem:
    """The local disk."""

    def read_bytes(self, path: str) -> bytes:
        # O_NONBLOCK: a FIFO must not hang the reader; it is refused below anyway.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) and path != "/dev/null":
                raise _error(errno.EBADF, path)
            if info.st_size > MAX_CONFIG_FILE_BYTES:
                raise FileTooLargeError(path)
            parts = []
            total = 0
            while chunk := os.read(fd, min(max(info.st_size + 1, 65536), 1 << 24)):
                parts.append(chunk)
                total += len(chunk)
                if total > MAX_CONFIG_FILE_BYTES:  # grew while being read
                    raise FileTooLargeError(path)
            return b"".join(parts)
        finally:
            os.close(fd)

    def kind(self, path: str, *, follow_symlinks: bool = True) -> Kind | None:
        try:
            mode = os.stat(path, follow_symlinks=follow_symlinks).st_mode
        except (OSError, ValueError):
            return None
        if stat.S_ISREG(mode):
            return Kind.FILE
        if stat.S_ISDIR(mode):
            return Kind.DIRECTORY
        return Kind.OTHER

    def list_dir(self, path: str) -> list[str]:
        return os.listdir(path)


def _error(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


class MemoryFileSystem:
    """An in-memory tree: `files` maps absolute paths to contents; parent directories are implied.

    `unreadable` paths exist but reading them fails with EACCES, as after `chmod 000` for a
    non-root user; `directories` adds empty directories.
    """

    def __init__(
        self,
        files: Mapping[str, bytes | str],
        *,
        unreadable: Iterable[str] = (),
        directories: Iterable[str] = (),
    ) -> None:
        self._files = {
            posixpath.normpath(path): data.encode() if isinstance(data, str) else data
            for path, data in files.items()
        }
        self._unreadable = frozenset(posixpath.normpath(p) for p in unreadable)
        empty = [posixpath.normpath(d) for d in directories]
        self._children: dict[str, set[str]] = {d: set() for d in empty}
        for path in [*self._files, *empty]:
            child = path
            parent = posixpath.dirname(child)
            while child != parent:
                self._children.setdefault(parent, set()).add(posixpath.basename(child))
                child, parent = parent, posixpath.dirname(parent)

    def read_bytes(self, path: str) -> bytes:
        key = posixpath.normpath(path)
        if key in self._unreadable:
            raise _error(errno.EACCES, path)
        if key in self._children:
            raise _error(errno.EBADF, path)
        try:
            return self._files[key]
        except KeyError:
            raise _error(errno.ENOENT, path) from None

    def kind(self, path: str, *, follow_symlinks: bool = True) -> Kind | None:
        key = posixpath.normpath(path)  # no symlinks in memory: following changes nothing
        if key in self._files:
            return Kind.FILE
        if key in self._children:
            return Kind.DIRECTORY
        return None

    def list_dir(self, path: str) -> list[str]:
        key = posixpath.normpath(path)
        if key in self._files:
            raise _error(errno.ENOTDIR, path)
        try:
            return sorted(self._children[key])
        except KeyError:
            raise _error(errno.ENOENT, path) from None
