"""Text renderer of reports: `Report` / `Comparison` → aligned tables (terminal or markdown).

Input: frozen reports from `capplan.report`. Output: `str`. Tables go through
`capplan.render.table.render_table` (tabulate's one home); numbers through
`capplan.render.format`. `markdown=True` gives GitHub tables, headings and a fenced snippet (the
`markdown` format, for pull-request comments); otherwise plain text for a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from capplan.models import MpmMetrics, TargetResult
from capplan.recommend import MpmOption
from capplan.render.format import (
    format_bytes,
    format_number,
    format_probability,
    format_seconds,
)
from capplan.render.table import render_table
from capplan.report import COMPARE_METRICS, Comparison, Report, Row, describe_target
from capplan.snippet import mpm_of

METRIC_LABELS = {
    "workers": "workers",
    "processes": "processes",
    "memory_bytes": "memory, worst case",
    "max_concurrent_requests": "max concurrent requests",
    "max_connections": "max connections",
    "idle_keepalive_capacity": "idle keep-alive capacity",
    "offered_load_erlangs": "worker-holding load (Erlangs)",
    "utilization": "utilization",
    "busy_workers_mean": "busy workers, mean",
    "idle_keepalive_mean": "idle keep-alive conns, mean",
    "connections_per_s": "new connections/s",
    "p_wait": "P(new connection waits)",
    "p_wait_request": "P(request waits)",
    "mean_wait_s": "mean wait",
    "wait_p99_s": "wait p99",
    "p_block": "P(accept queue full)",
    "stable": "stable",
}


def format_metric(name: str, value: float | bool | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool) or name == "stable":
        return "yes" if value else "NO"
    if name.endswith("_bytes"):
        return format_bytes(value)
    if name.endswith("_s") and not name.endswith("_per_s"):
        return format_seconds(value)
    if name == "target max_memory_fraction":
        return f"{value * 100:.0f} % of RAM"
    if name.startswith(("p_", "target ")):
        return format_probability(value)
    if name == "utilization":
        return f"{value * 100:.0f} %" if value < 100 else format_number(value)
    return format_number(value)


def _metric_value(metrics: MpmMetrics, name: str) -> float | bool:
    value = getattr(metrics, name)
    return bool(value) if name == "stable" else float(value)


def _heading(text: str, markdown: bool) -> str:
    return f"### {text}" if markdown else f"{text}\n{'-' * len(text)}"


def _rate(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{format_number(value)} req/s"


def _targets_table(targets: Sequence[TargetResult], ram_bytes: float | None, markdown: bool) -> str:
    rows = []
    for t in targets:
        memory = t.target == "max_memory_fraction"
        limit = format_bytes(t.limit * ram_bytes) if memory and ram_bytes else format_metric(
            "p_", t.limit)
        value = format_bytes(t.value * ram_bytes) if memory and ram_bytes else format_metric(
            "p_", t.value)
        rows.append([t.target, limit, value, "met" if t.met else "MISSED"])
    return render_table(["target", "limit", "value", "result"], rows, markdown=markdown)


def _mpms_table(report: Report, markdown: bool) -> str:
    current = report.config.mpm if report.config is not None else None
    headers = ["metric"] + [f"{name}*" if name == current else name for name, _ in report.mpms]
    names = [name for name, _ in COMPARE_METRICS] + ["stable"]
    rows = [
        [METRIC_LABELS.get(name, name)]
        + [format_metric(name, _metric_value(m, name)) for _, m in report.mpms]
        for name in names
    ]
    return render_table(headers, rows, markdown=markdown)


def _option_row(option: MpmOption) -> list[str]:
    shown = option.best if option.best is not None else option.limit
    if shown is None:
        return [option.mpm, "no", "–", "–", "–", "–", "–", "–"]
    m = shown.metrics
    settings = shown.settings
    shape = (
        f"{settings.processes}"
        if mpm_of(settings) == "prefork"
        else f"{settings.processes} × {settings.workers // max(settings.processes, 1)}"
    )
    return [
        option.mpm,
        "yes" if option.feasible else "NO (limit)",
        str(settings.workers),
        shape,
        format_bytes(m.memory_bytes),
        format_probability(m.p_wait),
        format_probability(m.p_block),
        format_seconds(settings.common.keep_alive_timeout_s),
    ]


def _options_table(options: Sequence[MpmOption], markdown: bool) -> str:
    headers = ["MPM", "meets targets", "workers", "processes × threads", "memory, worst",
               "P(wait)", "P(block)", "KeepAliveTimeout"]
    return render_table(headers, [_option_row(o) for o in options], markdown=markdown)


def _bullets(items: Sequence[str], markdown: bool) -> list[str]:
    return [f"- {item}" if markdown else f"  - {item}" for item in items]


def _snippet_block(snippet: str, markdown: bool) -> list[str]:
    if markdown:
        return ["```apache", snippet.rstrip("\n"), "```"]
    return ["    " + line if line else "" for line in snippet.rstrip("\n").split("\n")]


def _title(report: Report) -> str:
    config = report.config
    where = (
        f"{config.path} ({config.mpm}"
        + (f", {config.layout} layout" if config.layout != "unknown" else "")
        + ")"
        if config is not None
        else "no config"
    )
    traffic = report.profile.traffic
    return (
        f"capplan {report.command}: {where} with profile {report.profile.name} "
        f"({format_number(traffic.requests_per_second)} req/s, "
        f"{format_seconds(traffic.service_time_s)} per request)"
    )


def render_report_table(report: Report, *, markdown: bool = False) -> str:
    """`recommend` and `check` as text: metrics, targets, verdict, and the recommendation."""
    ram = float(report.profile.memory.ram_bytes) if report.profile.memory.ram_bytes else None
    parts = [f"## {_title(report)}" if markdown else _title(report), ""]
    if report.config is not None and report.config.warnings:
        parts.append("httpd adjusts the current config at start-up:")
        parts += _bullets([f"{w.code}: {w.message}" for w in report.config.warnings], markdown)
        parts.append("")
    if report.command == "recommend":
        note = " (* = the config's own MPM; the others with the same workers)"
        parts += [_heading("Current config under the profile" + note, markdown), "",
                  _mpms_table(report, markdown), ""]
    if report.current is not None and report.config is not None:
        parts += [
            _heading(f"Targets ({report.config.mpm}, current settings)", markdown), "",
            _targets_table(report.current.targets, ram, markdown), "",
        ]
        if report.current_max_rate_per_s is not None:
            parts += [
                f"These settings meet every target but memory up to "
                f"{_rate(report.current_max_rate_per_s)} "
                f"(the profile asks {_rate(report.profile.traffic.requests_per_second)}).",
                "",
            ]
    verdict = report.verdict
    if verdict.ok:
        parts.append("Verdict: every target holds.")
    else:
        parts.append(f"Verdict: {len(verdict.violations)} target(s) missed.")
        missed = [describe_target(v, report.profile) for v in verdict.violations]
        parts += _bullets(missed, markdown)
    for fix in report.fixes:
        parts += _bullets([f"{fix.location}: {fix.message}"], markdown)
    rec = report.recommendation
    if rec is not None:
        parts += ["", _heading("Smallest settings per MPM", markdown), "",
                  _options_table(rec.options, markdown), ""]
        if rec.mpm is None:
            parts.append("Recommended: none.")
        elif rec.meets_targets:
            parts.append(f"Recommended: {rec.mpm}.")
        else:
            parts.append(f"Best possible (targets NOT met): {rec.mpm}.")
        parts += ["", "Why:" if not markdown else "**Why**", *_bullets(rec.reasons, markdown)]
        if rec.snippet:
            parts += ["", "Snippet:" if not markdown else "**Snippet**", "",
                      *_snippet_block(rec.snippet, markdown)]
        if rec.placement is not None:
            parts += ["", "Where it goes:" if not markdown else "**Where it goes**",
                      *_bullets(rec.placement.steps, markdown)]
            for command in rec.placement.commands:
                parts += (["", "```sh", command, "```"] if markdown else [f"    $ {command}"])
    return "\n".join(parts).rstrip("\n") + "\n"


def _row_cells(row: Row) -> list[str]:
    cells = []
    for index, value in enumerate(row.values):
        text = format_metric(row.name, value)
        if row.met:
            met = row.met[index]
            text += "" if met is None else (" met" if met else " MISSED")
        if index in row.winners:
            text += " ◆" if row.better is not None else ""
        cells.append(text)
    return cells


def render_comparison_table(comparison: Comparison, *, markdown: bool = False) -> str:
    """One column per (profile, config), one row per metric; ◆ marks the best in each row."""
    headers = ["metric"] + [
        f"{c.profile.name} / {c.config.path} ({c.config.mpm})" for c in comparison.columns
    ]
    rows = []
    for row in comparison.rows:
        label = METRIC_LABELS.get(row.name, row.name)
        if row.limits:
            limits = {limit for limit in row.limits if limit is not None}
            if len(limits) == 1:
                label += f" (≤ {format_metric(row.name, limits.pop())})"
        rows.append([label, *_row_cells(row)])
    title = "capplan compare"
    head = [f"## {title}" if markdown else title, ""]
    legend = "◆ best in the row; MISSED: a target is not met."
    return "\n".join([*head, render_table(headers, rows, markdown=markdown), "", legend]) + "\n"
