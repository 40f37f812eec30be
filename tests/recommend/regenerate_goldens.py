"""Rewrite tests/data/golden_output/ from the current code.

Run `python -m tests.recommend.regenerate_goldens` from the project root.

Review the diff before committing: a changed golden is a changed user-visible output.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.recommend.goldens import CASES, GOLDEN_DIR, produce


def regenerate() -> list[Path]:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            path = GOLDEN_DIR / case.filename
            path.write_text(produce(case, Path(tmp)))
            written.append(path)
    return written


if __name__ == "__main__":
    for path in regenerate():
        print(path.name)
