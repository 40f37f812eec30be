"""File systems the evaluator reads through: the disk and the in-memory tree behave alike."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from capplan.config.fs import FileSystem, Kind, MemoryFileSystem, RealFileSystem


def _trees(tmp_path: Path) -> list[FileSystem]:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.conf").write_text("A\n")
    (tmp_path / "d" / "sub" / "b.conf").write_text("B\n")
    memory = MemoryFileSystem({f"{tmp_path}/d/a.conf": "A\n", f"{tmp_path}/d/sub/b.conf": b"B\n"})
    return [RealFileSystem(), memory]


@pytest.mark.parametrize("which", [0, 1], ids=["disk", "memory"])
def test_same_answers(tmp_path: Path, which: int) -> None:
    fs = _trees(tmp_path)[which]
    base = f"{tmp_path}/d"
    assert fs.read_bytes(f"{base}/a.conf") == b"A\n"
    assert sorted(fs.list_dir(base)) == ["a.conf", "sub"]
    assert fs.kind(f"{base}/sub") is Kind.DIRECTORY
    assert fs.kind(f"{base}/a.conf") is Kind.FILE
    assert fs.kind(f"{base}/nope") is None
    with pytest.raises(FileNotFoundError) as missing:
        fs.read_bytes(f"{base}/nope")
    assert missing.value.errno == errno.ENOENT
    with pytest.raises(OSError, match=r"Bad file descriptor|Is a directory") as directory:
        fs.read_bytes(f"{base}/sub")
    assert directory.value.errno in (errno.EBADF, errno.EISDIR)
    with pytest.raises(NotADirectoryError) as not_dir:
        fs.list_dir(f"{base}/a.conf")
    assert not_dir.value.errno == errno.ENOTDIR


def test_disk_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="Bad file descriptor") as refused:
        RealFileSystem().read_bytes(str(fifo))
    assert refused.value.errno == errno.EBADF
    assert RealFileSystem().kind(str(fifo)) is Kind.OTHER


def test_memory_unreadable_and_empty_directories() -> None:
    fs = MemoryFileSystem({"/a/x": "1"}, unreadable=["/a/x"], directories=["/a/empty"])
    with pytest.raises(PermissionError):
        fs.read_bytes("/a/x")
    assert fs.list_dir("/a/empty") == []
    assert fs.kind("/a/empty") is Kind.DIRECTORY
