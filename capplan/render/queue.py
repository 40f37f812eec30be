"""`capplan queue`'s renderers: one operating point as a table (terminal or markdown) or as JSON.

Stage: renderer. Input: `QueueMetrics`. Output: `str` or the JSON-ready document (schema_version
1), in which infinite waits are `None` (JSON null) next to `stable: false`, so no NaN or Infinity
token can reach the output.
"""

from __future__ import annotations

import math

from capplan.queueing.metrics import QueueMetrics
from capplan.render.format import format_number, format_probability, format_seconds
from capplan.render.table import render_table

SCHEMA_VERSION = 1


def queue_document(metrics: QueueMetrics) -> dict[str, object]:
    """JSON-ready mapping (schema_version 1); infinities become None."""
    document: dict[str, object] = {
        "schema_version": SCHEMA_VERSION,
        "servers": metrics.servers,
        "load_erlangs": metrics.load_erlangs,
        "arrival_rate_per_s": metrics.arrival_rate_per_s,
        "mean_holding_s": metrics.mean_holding_s,
        "holding_scv": metrics.holding_scv,
        "utilization": metrics.utilization,
        "stable": metrics.stable,
        "erlang_b": metrics.erlang_b,
        "p_wait": metrics.p_wait,
        "mean_wait_s": _finite(metrics.mean_wait_s),
        "wait_p99_s": _finite(metrics.wait_p99_s),
        "mean_wait_mmc_s": _finite(metrics.in_seconds(metrics.mean_wait_mmc_holding_times)),
        "mean_wait_holding_times": _finite(metrics.mean_wait_holding_times),
        "wait_p99_holding_times": _finite(metrics.wait_p99_holding_times),
    }
    if metrics.queue is not None:
        document["queue"] = metrics.queue
        document["p_block"] = metrics.p_block
        document["p_block_conservative"] = metrics.p_block_conservative
        document["p_block_mmck"] = metrics.p_block_mmck
    if metrics.target_wait is not None:
        document["target_wait"] = metrics.target_wait
        document["min_servers"] = metrics.min_servers
    return document


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else value


def _wait_cell(metrics: QueueMetrics, holding_times: float) -> str:
    """A wait in seconds, or in multiples of the mean holding time when that is unknown."""
    seconds = metrics.in_seconds(holding_times)
    if seconds is not None:
        return format_seconds(seconds)
    return f"{format_number(holding_times)} × holding time"


def queue_table(metrics: QueueMetrics, *, markdown: bool = False) -> str:
    """`queue`'s text: one operating point (Erlang C, Allen-Cunneen waits, M/M/c/K blocking)."""
    scv = format_number(metrics.holding_scv)
    rows: list[tuple[str, str]] = [
        ("servers", str(metrics.servers)),
        ("offered load", f"{format_number(metrics.load_erlangs)} Erlangs"),
    ]
    if metrics.mean_holding_s is not None:
        rows.append(("mean holding time", format_seconds(metrics.mean_holding_s)))
    rows += [
        ("utilization", format_number(metrics.utilization)),
        ("stable", "yes" if metrics.stable else "no (load >= servers: the queue grows)"),
        ("P(all busy), Erlang B", format_probability(metrics.erlang_b)),
        ("P(wait), Erlang C", format_probability(metrics.p_wait)),
        (f"mean wait (SCV {scv})", _wait_cell(metrics, metrics.mean_wait_holding_times)),
        (f"p99 wait (SCV {scv})", _wait_cell(metrics, metrics.wait_p99_holding_times)),
    ]
    if metrics.holding_scv != 1.0:
        rows.append(("mean wait, M/M/c", _wait_cell(metrics, metrics.mean_wait_mmc_holding_times)))
    if metrics.queue is not None:
        rows += [
            (f"P(block), queue {metrics.queue}", format_probability(metrics.p_block or 0.0)),
            ("P(block), conservative", format_probability(metrics.p_block_conservative or 0.0)),
        ]
    if metrics.target_wait is not None:
        target = format_number(metrics.target_wait)
        rows.append((f"servers for P(wait) <= {target}", str(metrics.min_servers)))
    return render_table(("metric", "value"), rows, markdown=markdown)
