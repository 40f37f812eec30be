"""Dataset harness for the queueing goldens (scipy.special's `FuncData` style).

Each CSV row becomes one pytest parameter with a readable id; `check` compares one value and, on
failure, reports the inputs, the value got, the value wanted and the relative error.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path

import pytest

GOLDENS = Path(__file__).resolve().parent.parent / "data" / "goldens"

# derivations §9: values below this are beyond binary64's normal range and compared absolutely.
TINY = 1e-290


def rows(name: str, id_columns: tuple[str, ...]) -> list[object]:
    """One `pytest.param(row)` per line of `tests/data/goldens/<name>.csv`, id from columns."""
    with (GOLDENS / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    return [
        pytest.param(row, id="-".join(f"{col}={row[col]}" for col in id_columns if row[col]))
        for row in table
    ]


def check(
    what: str,
    got: float,
    want: float,
    inputs: Mapping[str, str],
    *,
    rtol: float = 1e-12,
    atol: float = 0.0,
) -> None:
    """Assert |got - want| <= max(atol, rtol |want|); infinities must match exactly."""
    if math.isinf(want) or math.isinf(got):
        ok = got == want
        rel = 0.0 if ok else math.inf
    else:
        err = abs(got - want)
        rel = err / abs(want) if want != 0.0 else err
        ok = err <= max(atol, rtol * abs(want))
    if not ok:
        shown = ", ".join(f"{k}={v}" for k, v in inputs.items())
        pytest.fail(f"{what}: got {got!r}, wanted {want!r}, relative error {rel:.3e} ({shown})")


def check_probability(what: str, got: float, want: float, inputs: Mapping[str, str]) -> None:
    """rtol 1e-12, or atol 1e-300 when the golden is below binary64's normal range."""
    check(what, got, want, inputs, rtol=1e-12, atol=1e-300 if want < TINY else 0.0)


def check_log10(what: str, got: float, want: float, inputs: Mapping[str, str]) -> None:
    """derivations §9 log-column tolerance: atol 1e-9 * max(1, |log10|)."""
    check(what, got, want, inputs, rtol=0.0, atol=1e-9 * max(1.0, abs(want)))
