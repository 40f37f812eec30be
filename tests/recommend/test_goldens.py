"""Golden outputs per format: recommend (table, json, markdown) for two examples and two profiles,
check (table, json, junit, github) and compare (table, json, markdown).

Text formats must match exactly; JSON is compared as data, numbers to 1e-9 relative (the last
bits of a float may differ between platforms). Regenerate with
`python -m tests.recommend.regenerate_goldens` and review the diff.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest

from capplan.render.report_json import report_schema
from tests.recommend.goldens import CASES, GOLDEN_DIR, GoldenCase, produce


def _same(got: object, want: object, where: str = "$") -> list[str]:
    if isinstance(want, float) and isinstance(got, int | float) and not isinstance(got, bool):
        return (
            []
            if math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-300)
            else [f"{where}: got {got!r}, want {want!r}"]
        )
    if isinstance(want, dict) and isinstance(got, dict):
        if list(got) != list(want):
            return [f"{where}: keys {list(got)} != {list(want)}"]
        return [d for k in want for d in _same(got[k], want[k], f"{where}.{k}")]
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return [f"{where}: length {len(got)} != {len(want)}"]
        return [
            d
            for i, (g, w) in enumerate(zip(got, want, strict=True))
            for d in _same(g, w, f"{where}[{i}]")
        ]
    return [] if got == want else [f"{where}: got {got!r}, want {want!r}"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("goldens")


@pytest.mark.parametrize("case", CASES, ids=[c.filename for c in CASES])
def test_output_matches_its_golden(case: GoldenCase, workdir: Path) -> None:
    got = produce(case, workdir)
    want = (GOLDEN_DIR / case.filename).read_text()
    assert str(workdir) not in got
    if case.fmt == "json":
        document = json.loads(got)
        jsonschema.Draft202012Validator(report_schema()).validate(document)
        assert _same(document, json.loads(want)) == []
    else:
        assert got == want
