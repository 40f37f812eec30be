"""Compare stage: (profile, config) pairs → one column each, one row per metric and target.

Input: loaded profiles and effective configs. Output: `Comparison`, with the best column of each
row marked (`winners`) and each target's outcome per column. Pure; `capplan.pipeline` loads the
files and renderers lay the rows out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from capplan.models.metrics import METRICS, Better
from capplan.mpm_settings import EffectiveConfig
from capplan.recommend import Assessment

if TYPE_CHECKING:
    from capplan.models import MpmMetrics
    from capplan.profile import TrafficProfile

# The JSON report's `mpms` keys in display order, with the direction that wins (None: a load, not a
# merit); `stable` gets its own row after them.
COMPARE_METRICS: tuple[tuple[str, Better], ...] = tuple(
    (m.key, m.better) for m in METRICS if m.key != "stable"
)


@dataclass(frozen=True, slots=True)
class Column:
    """One (profile, config) pair and its assessment."""

    profile: TrafficProfile
    profile_path: str
    config: EffectiveConfig
    assessment: Assessment

    @property
    def label(self) -> str:
        return f"{self.profile.name} @ {self.config.path} ({self.config.mpm})"


@dataclass(frozen=True, slots=True)
class Row:
    """One metric (or target) across the columns; `winners` are the best columns' indexes."""

    name: str
    values: tuple[float | bool | None, ...]
    better: Better
    winners: tuple[int, ...]
    met: tuple[bool | None, ...] = ()
    limits: tuple[float | None, ...] = ()


@dataclass(frozen=True, slots=True)
class Comparison:
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]


def winners_of(values: Sequence[float | bool | None], better: Better) -> tuple[int, ...]:
    """Indexes of the best values; none when there is no direction or all values are equal."""
    if better is None:
        return ()
    numbers = [
        (i, float(v)) for i, v in enumerate(values) if v is not None and not math.isnan(float(v))
    ]
    if len({v for _, v in numbers}) < 2:
        return ()
    best = min(v for _, v in numbers) if better == "lower" else max(v for _, v in numbers)
    return tuple(i for i, v in numbers if v == best)


# Rows whose value for an overloaded server is that of the load it carries (event) or of a full
# server, so that less is not better there: fewer connections a second, or less memory, only
# because less is served.
CARRIED_ROWS = frozenset({"connections_per_s", "memory_bytes"})


def stable_winners(
    name: str, values: Sequence[float | bool | None], better: Better, stable: Sequence[bool]
) -> tuple[int, ...]:
    """`winners_of`, among the stable columns for the `CARRIED_ROWS` when some columns are
    stable and some are not."""
    if name in CARRIED_ROWS and any(stable) and not all(stable):
        values = tuple(v if ok else None for v, ok in zip(values, stable, strict=True))
    return winners_of(values, better)


def build_comparison(columns: Sequence[Column]) -> Comparison:
    rows = []
    stable = tuple(bool(c.assessment.metrics.stable) for c in columns)
    for name, better in COMPARE_METRICS:
        values = tuple(_metric(c.assessment.metrics, name) for c in columns)
        rows.append(Row(name, values, better, stable_winners(name, values, better, stable)))
    rows.append(Row("stable", stable, "higher", winners_of(stable, "higher")))
    target_names: list[str] = []
    for column in columns:
        for target in column.assessment.targets:
            if target.target not in target_names:
                target_names.append(target.target)
    for name in target_names:
        found = [next((t for t in c.assessment.targets if t.target == name), None) for c in columns]
        values = tuple(t.value if t is not None else None for t in found)
        rows.append(
            Row(
                name=f"target {name}",
                values=values,
                better="lower",
                winners=winners_of(values, "lower"),
                met=tuple(t.met if t is not None else None for t in found),
                limits=tuple(t.limit if t is not None else None for t in found),
            )
        )
    return Comparison(columns=tuple(columns), rows=tuple(rows))


def _metric(metrics: MpmMetrics, name: str) -> float | None:
    value = getattr(metrics, name, None)
    return None if value is None else float(value)
