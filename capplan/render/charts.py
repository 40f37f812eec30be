"""Chart data of the HTML reports: sweeps and curves → frozen `Chart`s (what each chart shows).

Input: `Sweep`s and `Curves` of `capplan.sweep`. Output: `Chart`s with titles, axis labels with
units, one series per MPM (and per set of settings), and the lines marked on them: targets, the
RAM, the profile's rate, the configured workers. No plotting here (that is `capplan.render.html`),
so the tests compare this data with goldens instead of pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from capplan.models import MpmMetrics, Target, wait_probability_value
from capplan.mpm_names import Mpm
from capplan.render.format import PROBABILITY_FLOOR, format_bytes, format_number
from capplan.render.sweep import axis_value_words
from capplan.render.words import EVENT_WAIT_LABEL, human_percent, target_label
from capplan.sweep import Curves, Sweep, SweepRow

if TYPE_CHECKING:
    from capplan.advice import Report
    from capplan.compare import Comparison

GIB = float(1 << 30)
# Axis titles, with units, of the quantities a sweep may vary.
AXIS_TITLES = {
    "rate": "request rate (req/s)",
    "MaxRequestWorkers": "MaxRequestWorkers (workers)",
    "KeepAliveTimeout": "KeepAliveTimeout (s)",
    "think_time": "think time (s)",
    "service_time": "service time (s)",
}
PROBABILITY_AXIS = "probability (log scale; below 1e-9 drawn at 1e-9)"


@dataclass(frozen=True, slots=True)
class Series:
    """One line: its legend label and points; `dashed` for a second quantity of the same MPM."""

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Mark:
    """A horizontal (`y`) or vertical (x) reference line with its label."""

    label: str
    value: float
    axis: str  # "x" or "y"


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    x_label: str
    y_label: str
    series: tuple[Series, ...]
    marks: tuple[Mark, ...]
    log_y: bool = False
    caption: str = ""
    # One colour per MPM (recommend, sweep); per series when columns share an MPM (compare).
    colour_by_mpm: bool = True
    # The top of the y axis when the data would flatten the marks (memory far above the RAM).
    y_max: float | None = None


def _probability(value: float) -> float:
    """Log axes cannot show 0: values below PROBABILITY_FLOOR are drawn at the floor."""
    return min(1.0, max(PROBABILITY_FLOOR, value))


def _groups(sweep: Sweep) -> list[tuple[str, list[tuple[Mpm, list[SweepRow]]]]]:
    """Rows by the values of every axis but the first: [(suffix, [(mpm, rows)])]."""
    first = sweep.axes[0].name
    others = list(sweep.axes[1:])
    groups: dict[tuple[float, ...], list[SweepRow]] = {}
    for row in sweep.rows:
        groups.setdefault(tuple(row.value_of(a.name) for a in others), []).append(row)
    out = []
    for key, group in groups.items():
        suffix = ", ".join(
            f"{a.name} {axis_value_words(a, v)}" for a, v in zip(others, key, strict=True)
        )
        rows = sorted(group, key=lambda r: r.value_of(first))
        mpms = [mpm for mpm, _ in rows[0].mpms]
        out.append((suffix, [(mpm, rows) for mpm in mpms]))
    return out


def _series(
    sweep: Sweep,
    value_of: Callable[[MpmMetrics], float],
    *,
    prefix: str = "",
    suffix_label: str = "",
    dashed: bool = False,
) -> list[Series]:
    first = sweep.axes[0].name
    out = []
    for suffix, by_mpm in _groups(sweep):
        for mpm, rows in by_mpm:
            label = " ".join(p for p in (prefix, mpm, suffix_label) if p)
            label += f", {suffix}" if suffix else ""
            xs = tuple(r.value_of(first) for r in rows)
            ys = tuple(value_of(dict(r.mpms)[mpm].metrics) for r in rows)
            out.append(Series(label, xs, ys, dashed))
    return out


def _x_marks(sweep: Sweep, settings_workers: Sequence[tuple[str, int]] = ()) -> list[Mark]:
    """The profile's value of the first axis (rate, times), the configured KeepAliveTimeout, or
    each configured MaxRequestWorkers (`settings_workers`) on a workers axis."""
    name = sweep.axes[0].name
    profile = sweep.profile
    match name:
        case "KeepAliveTimeout" if sweep.settings:
            timeout = sweep.settings[0][1].common.keep_alive_timeout_s
            return [Mark(f"configured KeepAliveTimeout {format_number(timeout)} s", timeout, "x")]
        case "rate":
            rate = profile.traffic.requests_per_second
            return [Mark(f"profile's rate {format_number(rate)} req/s", rate, "x")]
        case "think_time":
            return [Mark("profile's think time", profile.visits.think_time_s, "x")]
        case "service_time":
            return [Mark("profile's service time", profile.traffic.service_time_s, "x")]
        case "MaxRequestWorkers":
            return [
                Mark(f"{label}: {workers}", float(workers), "x")
                for label, workers in settings_workers
            ]
    return []


def _probability_chart(
    sweeps: Sequence[tuple[str, Sweep]],
    key: str,
    what: str,
    value_of: Callable[[MpmMetrics], float],
    *,
    limit: float | None,
    caption: str,
) -> Chart:
    """A probability per MPM on a log axis against the first axis, its target marked."""
    series = [
        s
        for prefix, sweep in sweeps
        for s in _series(sweep, lambda m: _probability(value_of(m)), prefix=prefix)
    ]
    marks = _x_marks(sweeps[0][1])
    if limit is not None:
        marks.append(Mark(f"target {format_number(limit)}", _probability(limit), "y"))
    first = sweeps[0][1].axes[0].name
    return Chart(
        key,
        f"{what} against the {AXIS_TITLES[first].split(' (')[0]}",
        AXIS_TITLES[first],
        PROBABILITY_AXIS,
        tuple(series),
        tuple(marks),
        log_y=True,
        caption=caption,
    )


def wait_chart(sweeps: Sequence[tuple[str, Sweep]], key: str = "p_wait") -> Chart:
    """P(wait) (the value checked against max_wait_probability) per MPM, target marked."""
    profile = sweeps[0][1].profile
    caption = (
        f"{target_label(Target.max_wait_probability, profile)}; for event, {EVENT_WAIT_LABEL}."
    )
    return _probability_chart(
        sweeps,
        key,
        "Chance of waiting",
        wait_probability_value,
        limit=profile.targets.max_wait_probability,
        caption=caption,
    )


def block_chart(sweeps: Sequence[tuple[str, Sweep]], key: str = "p_block") -> Chart:
    """P(accept queue full) per MPM, target marked."""
    profile = sweeps[0][1].profile
    caption = (
        f"{target_label(Target.max_block_probability, profile)}: a new connection's SYN is dropped "
        "and retried after about 1 s."
    )
    return _probability_chart(
        sweeps,
        key,
        "Chance the accept queue is full",
        lambda m: m.p_block,
        limit=profile.targets.max_block_probability,
        caption=caption,
    )


def connections_chart(sweeps: Sequence[tuple[str, Sweep]], key: str = "connections") -> Chart:
    """Mean busy workers (solid) and idle keep-alive connections (dashed) per MPM."""
    series: list[Series] = []
    for prefix, sweep in sweeps:
        series += _series(
            sweep, lambda m: m.busy_workers_mean, prefix=prefix, suffix_label="busy workers"
        )
        series += _series(
            sweep,
            lambda m: m.idle_keepalive_mean,
            prefix=prefix,
            suffix_label="idle keep-alive",
            dashed=True,
        )
    first = sweeps[0][1].axes[0].name
    return Chart(
        key,
        f"Busy workers and idle keep-alive connections against the "
        f"{AXIS_TITLES[first].split(' (')[0]}",
        AXIS_TITLES[first],
        "connections (mean count)",
        tuple(series),
        tuple(_x_marks(sweeps[0][1])),
        caption="Solid: requests being served (each holds a worker). Dashed: idle keep-alive "
        "connections (they hold a worker in prefork and worker, none in event).",
    )


def memory_chart(
    sweeps: Sequence[tuple[str, Sweep]],
    settings_workers: Sequence[tuple[str, int]] = (),
    key: str = "memory",
) -> Chart:
    """Worst-case memory (GiB) per MPM against the first axis, with memory.ram and the target."""
    profile = sweeps[0][1].profile
    series = [
        s
        for prefix, sweep in sweeps
        for s in _series(sweep, lambda m: m.memory_bytes / GIB, prefix=prefix)
    ]
    marks = _x_marks(sweeps[0][1], settings_workers)
    ram = profile.memory.ram_bytes
    fraction = profile.targets.max_memory_fraction
    if ram:
        marks.append(Mark(f"RAM {format_bytes(ram)}", ram / GIB, "y"))
        if fraction is not None and fraction != 1.0:
            marks.append(
                Mark(f"target: {human_percent(fraction)} of RAM", ram * fraction / GIB, "y")
            )
    first = sweeps[0][1].axes[0].name
    highest = max((y for s in series for y in s.y), default=0.0)
    # Memory grows without bound with workers: show up to 2.5 × the RAM so that the crossing
    # of each MPM's line with the RAM stays readable.
    y_max = 2.5 * ram / GIB if ram and highest > 2.5 * ram / GIB else None
    return Chart(
        key,
        f"Worst-case memory against the {AXIS_TITLES[first].split(' (')[0]}",
        AXIS_TITLES[first],
        "memory (GiB)",
        tuple(series),
        tuple(marks),
        caption="Worst case: every configured worker running, plus the children still finishing "
        "after a graceful restart.",
        y_max=y_max,
    )


def sweep_charts(sweep: Sweep) -> tuple[Chart, ...]:
    """The four charts of a sweep, against its first axis."""
    named = [("", sweep)]
    configured = [(f"configured ({mpm})", s.workers) for mpm, s in sweep.settings]
    return (
        wait_chart(named),
        block_chart(named),
        connections_chart(named),
        memory_chart(named, configured),
    )


def curves_charts(
    curves: Sequence[Curves],
    configured: Sequence[tuple[str, int]] = (),
    *,
    colour_by_mpm: bool = True,
) -> tuple[Chart, ...]:
    """recommend and compare: rate charts of every set of settings, memory against workers."""
    rates = [(c.label, c.rate) for c in curves]
    workers = [(c.label, c.workers) for c in curves]
    charts = (
        wait_chart(rates),
        block_chart(rates),
        connections_chart(rates),
        memory_chart(workers, configured),
    )
    return tuple(replace(c, colour_by_mpm=colour_by_mpm) for c in charts)


def chart_to_dict(chart: Chart) -> dict[str, Any]:
    """The data behind a chart (the tests' goldens): labels, points and marks."""
    return {
        "key": chart.key,
        "title": chart.title,
        "x_label": chart.x_label,
        "y_label": chart.y_label,
        "log_y": chart.log_y,
        "series": [
            {"label": s.label, "dashed": s.dashed, "x": list(s.x), "y": list(s.y)}
            for s in chart.series
        ],
        "marks": [{"label": m.label, "axis": m.axis, "value": m.value} for m in chart.marks],
        "y_max": chart.y_max,
    }


def report_charts(report: Report, curves: Sequence[Curves]) -> tuple[Chart, ...]:
    """`recommend`: the curves' charts, the configured and recommended workers marked."""
    configured = []
    if report.config is not None:
        configured.append((f"configured ({report.config.mpm})", report.config.settings.workers))
    rec = report.recommendation
    if rec is not None and rec.settings is not None and rec.action == "change":
        configured.append((f"recommended ({rec.mpm})", rec.settings.workers))
    return curves_charts(curves, configured)


def comparison_charts(comparison: Comparison, curves: Sequence[Curves]) -> tuple[Chart, ...]:
    """`compare`: one series per column (its config's own MPM), coloured by column."""
    configured = [
        (curve.label, column.config.settings.workers)
        for curve, column in zip(curves, comparison.columns, strict=True)
    ]
    return curves_charts(curves, configured[:4], colour_by_mpm=False)
