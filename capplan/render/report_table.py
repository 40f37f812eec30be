"""Text renderer of reports: `Report` / `Comparison` → aligned tables (terminal or markdown).

Input: frozen reports from `capplan.advice` and `capplan.compare`. Output: `str`. Tables go through
`capplan.render.table.render_table` (tabulate's one home); numbers through
`capplan.render.format`. `markdown=True` gives GitHub tables, headings and a fenced snippet (the
`markdown` format, for pull-request comments); otherwise plain text for a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from capplan.advice import Report
from capplan.compare import COMPARE_METRICS, Comparison, Row
from capplan.models import MpmMetrics
from capplan.models.metrics import METRICS
from capplan.mpm_names import Mpm
from capplan.mpm_settings import MpmSettings
from capplan.profile import RECOMMEND_HEADROOM
from capplan.recommend import MpmOption
from capplan.render.format import (
    format_bytes,
    format_number,
    format_probability,
    format_seconds,
)
from capplan.render.table import render_table
from capplan.render.words import (
    event_model_note,
    fix_check_note,
    fix_message,
    headroom_words,
    human_percent,
    memory_footnote,
    plain_accept_note,
    rate_words,
    recommend_event_model_note,
    report_reasons,
    stability_words,
    target_label,
    target_value_against,
    target_value_words,
)
from capplan.snippet import mpm_of

# One label per metric (the JSON keys stay as they are).
METRIC_LABELS = {m.key: m.label for m in METRICS}
# A metric shown against the capacity row it cannot exceed (the table shows the capacity and says
# the limit binds; the JSON keeps the model's figure).
CAPACITY_OF = {
    "idle_keepalive_mean": "idle_keepalive_capacity",
    "busy_workers_mean": "workers",
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


def metric_cell(metrics: MpmMetrics, name: str) -> str:
    """One cell of the metrics table: the value in its unit, capped at its capacity, the binding
    limit named when the system is not stable."""
    if name == "stable":
        return "yes" if metrics.stable else "NO (see below)"
    value = float(getattr(metrics, name))
    capacity_name = CAPACITY_OF.get(name)
    if capacity_name is not None:
        capacity = float(getattr(metrics, capacity_name))
        if value > capacity:
            return f"{format_number(capacity)} (all; {format_number(value)} asked for)"
    if name in ("mean_wait_s", "wait_p99_s") and not metrics.stable and value == float("inf"):
        return "unbounded"
    return format_metric(name, value)


def _heading(text: str, markdown: bool) -> str:
    return f"### {text}" if markdown else f"{text}\n{'-' * len(text)}"


def _rate(value: float | None) -> str:
    if value is None:
        return "–"
    return rate_words(value)


def _targets_table(report: Report, markdown: bool) -> str:
    assert report.current is not None
    event = report.current.metrics.event is not None
    rows = []
    for t in report.current.targets:
        rows.append(
            [
                target_label(t.target, report.profile, event=event),
                target_value_words(t.target, t.limit, report.profile),
                target_value_against(t.target, t.value, t.limit, report.profile),
                "met" if t.met else "MISSED",
            ]
        )
    return render_table(["target", "limit", "value", "result"], rows, markdown=markdown)


def _mpms_table(report: Report, markdown: bool) -> str:
    current = report.config.mpm if report.config is not None else None
    headers = ["metric"] + [f"{name}*" if name == current else name for name, _ in report.mpms]
    names = [name for name, _ in COMPARE_METRICS] + ["stable"]
    rows = [
        [METRIC_LABELS.get(name, name)] + [metric_cell(m, name) for _, m in report.mpms]
        for name in names
    ]
    table = render_table(headers, rows, markdown=markdown)
    unstable = [f"{name}: {stability_words(m)}" for name, m in report.mpms if not m.stable]
    if unstable:
        table += (
            "\n\nNot stable, the limit that binds (waits are those of the connections the "
            "accept queue admits):\n" + "\n".join(_bullets(unstable, markdown))
        )
    return table


def keepalive_cell(settings: MpmSettings) -> str:
    common = settings.common
    if not common.keep_alive or common.keep_alive_timeout_s <= 0:
        return "off"
    return format_seconds(common.keep_alive_timeout_s)


def _option_row(option: MpmOption) -> list[str]:
    shown = option.shown
    if shown is None:
        return [option.mpm, "no", "–", "–", "–", "–", "–", "–", "–"]
    m = shown.metrics
    settings = shown.settings
    shape = (
        f"{settings.processes}"
        if mpm_of(settings) is Mpm.prefork
        else f"{settings.processes} × {settings.workers // max(settings.processes, 1)}"
    )
    return [
        option.mpm,
        "yes" if option.feasible else "NO (limit)",
        str(settings.workers),
        shape,
        str(settings.server_limit),
        format_bytes(m.memory_bytes),
        format_probability(m.p_wait),
        format_probability(m.p_block),
        keepalive_cell(settings),
    ]


def _options_table(options: Sequence[MpmOption], markdown: bool) -> str:
    headers = [
        "MPM",
        "meets targets",
        "workers",
        "processes × threads",
        "ServerLimit",
        "memory, worst",
        "P(wait)",
        "P(block)",
        "KeepAliveTimeout",
    ]
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


def _verdict_lines(report: Report, markdown: bool) -> list[str]:
    verdict = report.verdict
    count = len(report.current.targets) if report.current is not None else 0
    if report.php_fpm is not None:
        count += len(report.php_fpm.targets)
    if verdict.ok:
        return ["Verdict: every target holds."]
    lines = [f"Verdict: {len(verdict.violations)} of {count} targets missed."]
    if report.fixes:
        margin = human_percent(max(report.headroom, RECOMMEND_HEADROOM))
        lines.append(
            f"Change (sized with {margin} headroom):"
            if not markdown
            else f"**Change** (sized with {margin} headroom)"
        )
        lines += _bullets([f"{fix.location}: {fix_message(fix)}" for fix in report.fixes], markdown)
    return lines


def _recommendation_lines(report: Report, markdown: bool) -> list[str]:
    rec = report.recommendation
    assert rec is not None
    asked = headroom_words(report.profile.traffic.requests_per_second, report.headroom)
    heading = _heading(f"Sized settings per MPM (targets at {asked})", markdown)
    parts = ["", heading, "", _options_table(rec.options, markdown), ""]
    match rec.action:
        case "keep":
            parts.append(f"Recommended: keep the current {rec.mpm} settings (no change).")
        case "change":
            parts.append(f"Recommended: {rec.mpm}.")
        case "none":
            parts.append(
                "Recommended: none."
                if rec.mpm is None
                else f"Best possible (targets NOT met): {rec.mpm}."
            )
    why = "Why:" if not markdown else "**Why**"
    parts += ["", why, *_bullets(report_reasons(report), markdown)]
    if rec.http2 is not None:
        parts += [
            "",
            "HTTP/2:" if not markdown else "**HTTP/2**",
            *_bullets(_http2_lines(report), markdown),
        ]
    if rec.snippet:
        parts += [
            "",
            "Snippet:" if not markdown else "**Snippet**",
            "",
            *_snippet_block(rec.snippet, markdown),
        ]
    if rec.placement is not None:
        parts += [
            "",
            "Where it goes:" if not markdown else "**Where it goes**",
            *_bullets(rec.placement.steps, markdown),
        ]
        for command in rec.placement.commands:
            parts += ["", "```sh", command, "```"] if markdown else [f"    $ {command}"]
    return parts


def _http2_lines(report: Report) -> list[str]:
    """recommend's HTTP/2 bullets: the pool per child, what to set, and what starves."""
    rec = report.recommendation
    assert rec is not None
    h2 = rec.http2
    assert h2 is not None
    lines = list(h2.warnings)
    if h2.active:
        set_words = (
            ", ".join(f"{name} {value}" for name, value in h2.directives)
            if h2.directives
            else "mod_http2's defaults suffice"
        )
        stream_wait = format_probability(h2.stream_wait_probability)
        lines.insert(
            0,
            (
                f"mod_http2 workers per child: {format_number(h2.busy_per_child)} busy on average, "
                f"{h2.needed} needed for the stream wait target, running {h2.min_workers} to "
                f"{h2.max_workers} (P(stream waits) {stream_wait}); {set_words}"
            ),
        )
    return lines


def render_report_table(report: Report, *, markdown: bool = False) -> str:
    """`recommend` and `check` as text: metrics, targets, verdict, and the recommendation."""
    parts = [f"## {_title(report)}" if markdown else _title(report), ""]
    if report.config is not None and report.config.notes:
        parts += [*_bullets(report.config.notes, markdown), ""]
    if report.config is not None and report.config.warnings:
        parts.append("httpd adjusts the current config at start-up:")
        parts += _bullets([f"{w.code}: {w.message}" for w in report.config.warnings], markdown)
        parts.append("")
    rate = report.profile.traffic.requests_per_second
    if report.command == "recommend":
        note = (
            f" at {rate_words(rate)} (* = the config's own MPM; the others with the same workers)"
        )
        parts += [
            _heading("Current config under the profile" + note, markdown),
            "",
            _mpms_table(report, markdown),
            "",
        ]
    if report.current is not None and report.config is not None:
        parts += [
            _heading(
                f"Targets ({report.config.mpm}, current settings, at "
                f"{headroom_words(rate, report.headroom)})",
                markdown,
            ),
            "",
            _targets_table(report, markdown),
            "",
        ]
        if report.command == "check" and report.current_max_rate_per_s is not None:
            parts += [
                f"These settings meet every target but memory up to "
                f"{_rate(report.current_max_rate_per_s)}.",
                "",
            ]
    parts += _verdict_lines(report, markdown)
    if report.recommendation is not None:
        parts += _recommendation_lines(report, markdown)
    notes = plain_accept_note(report) + memory_footnote(report)
    if report.command == "check" and report.current is not None:
        notes = event_model_note(report.current.metrics) + fix_check_note(report) + notes
    elif report.command == "recommend":
        notes = recommend_event_model_note(report) + notes
    if notes:
        parts += ["", "Notes:" if not markdown else "**Notes**", *_bullets(notes, markdown)]
    if report.error_log is not None:
        from capplan.render.errorlog import evidence_text

        mpm = report.config.mpm if report.config is not None else None
        parts += ["", evidence_text(report.error_log, mpm, markdown=markdown).rstrip("\n")]
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
    legend = ["◆ best in the row; MISSED: a target is not met."]
    for column in comparison.columns:
        metrics = column.assessment.metrics
        notes = event_model_note(metrics, rates_and_fixes=False)
        if not metrics.stable:
            notes = [f"not stable: {stability_words(metrics)}", *notes]
        legend += [f"{column.profile.name} / {column.config.path}: {n}" for n in notes]
    return "\n".join([*head, render_table(headers, rows, markdown=markdown), "", *legend]) + "\n"
