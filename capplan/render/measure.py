"""Rendering a `Measurement`: the JSON object, a plain-text table, and a profile `memory:` section.

Stage: renderer (`capplan measure`). Input: a `Measurement`. Output: `str` (or the JSON-ready
dict); pure and deterministic, rounding happens only here. Sizes read by people go through
`render.format.format_bytes`, like every report; sizes pasted into a profile are its literals.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from capplan.measure.pipeline import Measurement, measurement_to_profile_memory
from capplan.measure.status import Scoreboard
from capplan.render.format import format_bytes

SCHEMA_VERSION = 1
MIB = 1 << 20
KIB = 1 << 10


def _scoreboard_dict(board: Scoreboard) -> dict[str, Any]:
    """Every Scoreboard field under its own name; slot states as {character: count}."""
    return {**dataclasses.asdict(board), "states": dict(board.states)}


def measurement_to_dict(m: Measurement) -> dict[str, Any]:
    """The stable JSON object of `capplan measure --format json` (schema_version 1)."""
    f = m.memory
    private = f.private if f is not None else None
    cost = f.thread_cost if f is not None else None
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "mpm": m.mpm,
        "mpm_evidence": m.mpm_evidence,
        "parent_pid": m.parent_pid,
        "found_by": m.found_by,
        "processes": f.processes if f is not None else None,
        "threads": f.threads if f is not None else None,
        "pss_total_bytes": f.pss_total_bytes if f is not None else None,
        "rss_total_bytes": f.rss_total_bytes if f is not None else None,
        "parent_bytes": f.parent_bytes if f is not None else None,
        "shared_bytes": f.shared_bytes if f is not None else None,
        "private_per_process_bytes": private.mean_bytes if private is not None else None,
        "private_per_process": None
        if private is None
        else {
            "mean_bytes": private.mean_bytes,
            "median_bytes": private.median_bytes,
            "max_bytes": private.max_bytes,
            "min_bytes": private.min_bytes,
            "stdev_bytes": private.stdev_bytes,
        },
        "process_base_bytes": cost.process_base_bytes if cost is not None else None,
        "per_thread_bytes": cost.per_thread_bytes if cost is not None else None,
        "per_thread_method": cost.method if cost is not None else None,
        "swap_bytes": f.swap_bytes if f is not None else None,
        "cgroup_limit_bytes": m.cgroup.limit_bytes if m.cgroup is not None else None,
        "mem_total_bytes": m.mem_total_bytes,
    }
    if m.scoreboard is not None:
        out["scoreboard"] = _scoreboard_dict(m.scoreboard)
    out["warnings"] = list(m.warnings)
    return out


def render_json(m: Measurement) -> str:
    return json.dumps(measurement_to_dict(m), indent=2, allow_nan=False) + "\n"


def _size(value: int | None) -> str:
    return "unknown" if value is None else format_bytes(value)


def _board_lines(board: Scoreboard) -> list[tuple[str, str]]:
    states = " ".join(f"{state}{count}" for state, count in board.states if count)
    rows = [
        ("scoreboard", board.url),
        ("workers", f"{board.busy_workers} busy, {board.idle_workers} idle"),
        ("slot states", states or "none"),
    ]
    if board.conns_total is not None:
        rows.append(
            (
                "connections",
                f"{board.conns_total} total, {board.conns_async_writing} writing, "
                f"{board.conns_async_keep_alive} keep-alive, {board.conns_async_closing} closing",
            )
        )
    if board.requests_per_s is not None and board.interval_s is not None:
        rows.append(("request rate", f"{board.requests_per_s:.3g}/s over {board.interval_s:.2g} s"))
    return rows


def render_table(m: Measurement) -> str:
    """Two aligned columns, then the warnings."""
    rows: list[tuple[str, str]] = []
    rows.append(("MPM", f"{m.mpm or 'unknown'} ({m.mpm_evidence})"))
    if m.parent_pid is not None:
        rows.append(("parent", f"PID {m.parent_pid} (found by {m.found_by})"))
    f = m.memory
    if f is not None:
        rows.append(("processes", f"{f.processes} children, {f.threads} threads"))
        rows.append(("PSS total", _size(f.pss_total_bytes)))
        rows.append(("RSS total", f"{_size(f.rss_total_bytes)} (counts shared pages repeatedly)"))
        rows.append(("parent private", _size(f.parent_bytes)))
        rows.append(("shared", f"{_size(f.shared_bytes)} (counted once)"))
        if f.private is not None:
            p = f.private
            rows.append(
                (
                    "private/child",
                    f"mean {_size(p.mean_bytes)}, median {_size(p.median_bytes)}, "
                    f"max {_size(p.max_bytes)}, standard deviation {_size(p.stdev_bytes)}",
                )
            )
        if f.thread_cost is not None:
            c = f.thread_cost
            how = "fit across children" if c.method == "fit" else "thread stacks"
            rows.append(
                (
                    "per thread",
                    f"{_size(c.per_thread_bytes)} + {_size(c.process_base_bytes)} "
                    f"per process ({how})",
                )
            )
    limit = m.cgroup.limit_bytes if m.cgroup is not None else None
    rows.append(
        (
            "memory limit",
            f"cgroup {_size(limit)}"
            if limit is not None
            else f"no cgroup limit (host RAM {_size(m.mem_total_bytes)})",
        )
    )
    if m.scoreboard is not None:
        rows.extend(_board_lines(m.scoreboard))
    width = max(len(k) for k, _ in rows)
    lines = [f"{key.ljust(width)}  {value}" for key, value in rows]
    if m.warnings:
        lines.append("")
        lines.append("warnings:")
        lines.extend(f"  - {w}" for w in m.warnings)
    return "\n".join(lines) + "\n"


def profile_size(size_bytes: int) -> str:
    """A size for the profile, rounded up (memory is planned conservatively): `NNMiB`.

    Below 10 MiB the unit is KiB so that small figures (a thread) keep their precision.
    """
    if size_bytes >= 10 * MIB:
        return f"{math.ceil(size_bytes / MIB)}MiB"
    return f"{math.ceil(size_bytes / KIB)}KiB"


_PROFILE_COMMENTS = {
    "ram": "memory available to httpd",
    "parent": "private memory of the parent process",
    "shared": "counted once (code, copy-on-write, shared memory)",
    "prefork_process": "private memory of one prefork child",
    "threaded_process": "private memory of one worker/event child, threads excluded",
    "thread": "private memory per worker thread",
    "process_spread": "standard deviation of the children's private memory",
}


def render_profile_memory(m: Measurement) -> str:
    """The `memory:` section of a profile, ready to paste, with what it was measured on."""
    values = measurement_to_profile_memory(m)
    lines = [f"# measured by capplan measure: {m.mpm or 'unknown MPM'}"]
    if m.memory is not None:
        lines[0] += f", {m.memory.processes} children, {m.memory.threads} threads"
    if m.scoreboard is not None and m.scoreboard.requests_per_s is not None:
        lines.append(f"# observed request rate: {m.scoreboard.requests_per_s:.3g}/s")
    ram_note = (
        "cgroup limit"
        if m.cgroup is not None and m.cgroup.limit_bytes is not None
        else "host MemTotal (no cgroup limit)"
    )
    # The YAML is pasted into a profile: the warnings must travel with it.
    lines.extend(f"# warning: {' '.join(warning.split())}" for warning in m.warnings)
    lines.append("memory:")
    for key, comment in _PROFILE_COMMENTS.items():
        if key in values:
            note = f"{comment}; {ram_note}" if key == "ram" else comment
            lines.append(f"  {key}: {profile_size(values[key])}".ljust(30) + f"  # {note}")
        else:
            lines.append(f"  # {key}: not measured".ljust(30) + f"  # {comment}")
    return "\n".join(lines) + "\n"
