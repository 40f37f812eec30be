"""Reading: byte ranges of a plain file partition its lines exactly; long lines stay bounded."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from capplan.logs.reader import LONG_LINE_MARK, LogInput, read_range


def _file(tmp_path: Path, seed: int, trailing_newline: bool) -> tuple[Path, list[bytes]]:
    rng = random.Random(seed)
    lines = [
        bytes(rng.choice(b"abc ") for _ in range(rng.choice([0, 3, 10, 40, 200])))
        for _ in range(300)
    ]
    lines[-1] = b"last"  # an empty last line without a newline would be no line at all
    path = tmp_path / "log"
    path.write_bytes(b"\n".join(lines) + (b"\n" if trailing_newline else b""))
    return path, lines


@pytest.mark.parametrize("block", [1, 7, 64, 1000, 1 << 20])
@pytest.mark.parametrize("trailing_newline", [True, False], ids=["newline-end", "no-newline"])
def test_ranges_partition_the_lines(tmp_path: Path, block: int, trailing_newline: bool) -> None:
    path, lines = _file(tmp_path, block, trailing_newline)
    size = path.stat().st_size
    got: list[bytes] = []
    for start in range(0, size, block):
        data = read_range(str(path), start, min(start + block, size), max_line_bytes=100)
        got.extend(data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"))
        if not data:
            got.pop()  # "".split gives [b""]
    assert len(got) == len(lines)
    for have, want in zip(got, lines, strict=True):
        assert have in (want, LONG_LINE_MARK)
        if have == LONG_LINE_MARK:
            assert len(want) > 100


def test_blocks_replace_a_huge_line_and_keep_counting(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"a\n" + b"x" * 5000 + b"\nb\n")
    log = LogInput(str(path), block_bytes=1000, max_line_bytes=2000)
    data = b"".join(block.data for block in log.blocks())
    assert data == b"a\n" + LONG_LINE_MARK + b"\nb\n"
