"""Sweep renderers: `Sweep` → table, markdown, CSV, JSON or HTML (`capplan.render.html`) text.

Input: the frozen rows of `capplan.sweep`. Output: `str`. Tables show the values that decide
capacity (the wait target's value, P(block), busy workers, worst-case memory, the targets missed)
per MPM; CSV and JSON carry every metric of every MPM on every row. The first point where each
target fails is said in one sentence per MPM and target, with the labels of `capplan.render.words`.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from capplan.models import Target, wait_probability_value
from capplan.mpm_names import Mpm
from capplan.render.format import format_bytes, format_number, format_probability, format_seconds
from capplan.render.json_out import SCHEMA_VERSION
from capplan.render.metrics import metrics_to_dict
from capplan.render.report_json import finite, target_to_dict
from capplan.render.words import (
    EVENT_WAIT_LABEL,
    target_label,
    target_value_against,
    target_value_words,
)
from capplan.sweep import Axis, FirstFailure, Sweep, SweepRow

# Short names of the targets in the `missed` cells, said in full under the table.
TARGET_SHORT = {
    Target.max_wait_probability: "wait",
    Target.max_wait: "wait>t",
    Target.max_block_probability: "block",
    Target.max_connection_limit_probability: "limit",
    Target.max_memory_fraction: "memory",
}


def axis_value_words(axis: Axis | str, value: float) -> str:
    """`212 req/s`, `150`, `2 s`: a point's value in its parameter's unit."""
    unit = axis.parameter.unit if isinstance(axis, Axis) else axis
    match unit:
        case "req/s":
            return f"{format_number(value)} req/s"
        case "s":
            return format_seconds(value)
        case _:
            return format_number(value)


def point_words(sweep: Sweep, row: SweepRow) -> str:
    """`212 req/s` for a rate sweep, `MaxRequestWorkers 150, 212 req/s` for several axes."""
    parts = []
    for axis in sweep.axes:
        shown = axis_value_words(axis, row.value_of(axis.name))
        parts.append(shown if axis.name == "rate" else f"{axis.name} {shown}")
    return ", ".join(parts)


def failure_words(sweep: Sweep, failure: FirstFailure) -> str:
    """`event: P(a new connection waits) passes 0.01 at 212 req/s (0.013)`; `already misses` when
    the first point misses it, and where it is met again (`; met from MaxRequestWorkers
    200`)."""
    profile = sweep.profile
    label = target_label(failure.target, profile, event=failure.mpm is Mpm.event)
    limit = target_value_words(failure.target, failure.limit, profile)
    value = target_value_against(failure.target, failure.value, failure.limit, profile)
    at = point_words(sweep, sweep.rows[failure.row])
    verb = "already misses" if failure.row == 0 else "passes"
    words = f"{failure.mpm}: {label} {verb} {limit} at {at} ({value})"
    if failure.met_again_row is not None:
        words += f"; met from {point_words(sweep, sweep.rows[failure.met_again_row])}"
    return words


def summary_lines(sweep: Sweep) -> list[str]:
    """One sentence per first failure, then one per MPM that meets every target throughout."""
    lines = [failure_words(sweep, f) for f in sweep.failures]
    failing = {f.mpm for f in sweep.failures}
    mpms = [mpm for mpm, _ in sweep.rows[0].mpms] if sweep.rows else []
    lines += [f"{mpm}: every target is met at every point" for mpm in mpms if mpm not in failing]
    return lines


def _missed_cell(row: SweepRow, index: int) -> str:
    missed = [TARGET_SHORT[t.target] for t in row.mpms[index][1].targets if not t.met]
    return "ok" if not missed else "✗ " + ",".join(missed)


def sweep_table(sweep: Sweep) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of the sweep's table: the axes, then per MPM P(wait) (the wait target's
    value), P(block), busy workers, worst-case memory and the targets missed."""
    mpms = [mpm for mpm, _ in sweep.rows[0].mpms] if sweep.rows else []
    headers = [axis.name for axis in sweep.axes]
    for mpm in mpms:
        headers += [f"{mpm} P(wait)", f"{mpm} P(block)", f"{mpm} busy", f"{mpm} memory", mpm]
    body = []
    for row in sweep.rows:
        cells = [axis_value_words(axis, row.value_of(axis.name)) for axis in sweep.axes]
        for index, (_, assessment) in enumerate(row.mpms):
            m = assessment.metrics
            cells += [
                format_probability(wait_probability_value(m)),
                format_probability(m.p_block),
                format_number(m.busy_workers_mean),
                format_bytes(m.memory_bytes),
                _missed_cell(row, index),
            ]
        body.append(cells)
    return headers, body


def sweep_title(sweep: Sweep) -> str:
    return f"Sweep of {', '.join(a.name for a in sweep.axes)}: profile {sweep.profile.name}"


def legend_lines(sweep: Sweep) -> list[str]:
    """What P(wait) means per MPM, and the short names of the targets."""
    profile = sweep.profile
    legend = ", ".join(
        f"{short} = {target_label(name, profile)}" for name, short in TARGET_SHORT.items()
    )
    wait = target_label(Target.max_wait_probability, profile)
    return [
        f"P(wait): {wait}; for event, {EVENT_WAIT_LABEL}.",
        f"Targets missed: {legend}.",
    ]


def render_sweep_table(sweep: Sweep, *, markdown: bool = False) -> str:
    """The table, then the first failures and the legend."""
    from capplan.render.table import render_table

    headers, body = sweep_table(sweep)
    heading = sweep_title(sweep)
    config = sweep.config_path or "httpd's defaults"
    lines = [f"## {heading}" if markdown else heading, f"config: {config}", ""]
    lines.append(render_table(headers, body, markdown=markdown))
    lines += ["", "First failures:" if not markdown else "**First failures:**"]
    lines += [f"{'- ' if markdown else '  '}{line}" for line in summary_lines(sweep)]
    return "\n".join([*lines, "", *legend_lines(sweep)])


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, out)
    else:
        out[prefix] = value


def row_to_dict(row: SweepRow) -> dict[str, Any]:
    """`{point, rate_per_s, mpms: {<mpm>: {...metrics, wait_target_value, targets}}}`."""
    mpms = {}
    for mpm, assessment in row.mpms:
        entry = metrics_to_dict(assessment.metrics)
        entry["wait_target_value"] = wait_probability_value(assessment.metrics)
        entry["targets"] = [target_to_dict(t) for t in assessment.targets]
        entry["targets_met"] = assessment.ok
        mpms[mpm] = entry
    return {"point": dict(row.point), "rate_per_s": row.rate_per_s, "mpms": mpms}


def sweep_to_dict(sweep: Sweep) -> dict[str, Any]:
    """The sweep document: schema_version, the axes, `rows[]` and `first_failures[]`."""
    return {
        "schema_version": SCHEMA_VERSION,
        "command": "sweep",
        "profile": sweep.profile.name,
        "config": sweep.config_path,
        "vary": [
            {"name": a.name, "unit": a.parameter.unit, "spec": a.text, "values": list(a.values)}
            for a in sweep.axes
        ],
        "rows": [row_to_dict(row) for row in sweep.rows],
        "first_failures": [
            {
                "mpm": f.mpm,
                "target": f.target,
                "row": f.row,
                "point": dict(sweep.rows[f.row].point),
                "value": finite(f.value),
                "limit": f.limit,
                "met_again_point": (
                    dict(sweep.rows[f.met_again_row].point) if f.met_again_row is not None else None
                ),
                "message": failure_words(sweep, f),
            }
            for f in sweep.failures
        ],
    }


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else "-inf"
    return str(value)


def render_sweep_csv(sweep: Sweep) -> str:
    """One line per point: the axes, then `<mpm>.<metric>` for every metric (dotted for nested
    ones) and `<mpm>.target.<name>` (met: true/false) for every target."""
    records = []
    for row in sweep.rows:
        flat: dict[str, Any] = dict(row.point)
        flat["rate_per_s"] = row.rate_per_s
        for mpm, assessment in row.mpms:
            _flatten(mpm, metrics_to_dict(assessment.metrics), flat)
            flat[f"{mpm}.wait_target_value"] = wait_probability_value(assessment.metrics)
            for target in assessment.targets:
                flat[f"{mpm}.target.{target.target}"] = target.met
        records.append(flat)
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(columns))
    for record in records:
        writer.writerow([_csv_cell(record.get(name)) for name in columns])
    return buffer.getvalue()
