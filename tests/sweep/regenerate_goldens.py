"""Rewrite tests/data/golden_charts/ (the data behind every chart of the HTML reports).

Run `python -m tests.sweep.regenerate_goldens` from the project root, and review the diff: a
changed golden is a changed chart.
"""

from __future__ import annotations

from pathlib import Path

from tests.sweep.html_cases import CASES, GOLDEN_DIR, chart_data, dumps, golden_path


def regenerate() -> list[Path]:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for case in CASES:
        path = golden_path(case)
        path.write_text(dumps(chart_data(case)))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in regenerate():
        print(path.name)
