"""Renderer of `capplan fit`: a `FitReport` → a table, markdown or JSON (schema_version 1).

Input: the frozen report. Output: text. The table says where every input came from (a figure from
a default is marked `*` with a footnote), the largest MaxRequestWorkers per MPM with its worst-case
memory, the next size up that does not fit, and the directive block of each fitted size.
"""

from __future__ import annotations

import json
import math
from typing import Any

from capplan.fit import Figure, FitReport, MpmFit, directives
from capplan.render.format import format_bytes, format_number, format_probability
from capplan.render.formats import OutputFormat, not_offered
from capplan.render.json_out import SCHEMA_VERSION
from capplan.render.table import render_table

_SOURCE_WORDS = {
    "measured": "measured",
    "profile": "profile",
    "default": "default",
    "flag": "--ram",
    "machine": "this machine",
    "none": "none",
}


def mib(value: float) -> str:
    """Bytes in MiB with one decimal and thousands separators: fits and misses differ visibly."""
    return f"{value / (1 << 20):,.1f} MiB"


def _figure_text(figure: Figure) -> str:
    mark = "*" if figure.source == "default" else ""
    return f"{format_bytes(figure.value)}{mark}"


def _shape(fit: MpmFit) -> str:
    if fit.fit is None:
        return "-"
    threads = "thread" if fit.threads_per_child == 1 else "threads"
    return f"{fit.fit.processes} × {fit.threads_per_child} {threads}"


def _next_text(fit: MpmFit) -> str:
    if fit.next_up is None or fit.next_memory is None:
        return f"none (httpd's ServerLimit ceiling, {fit.fit.processes if fit.fit else 0})"
    return f"{fit.next_up.workers}: {mib(fit.next_memory.worst_bytes)}"


def _rate(value: float) -> str:
    if math.isinf(value):
        return "any rate tried"
    return f"{format_number(round(value, 1))} req/s"


def _sustains_line(fit: MpmFit) -> str | None:
    s = fit.sustains
    if s is None:
        return None
    verdict = "meets" if s.meets_targets else "misses"
    return (
        f"{fit.mpm}: sustains {_rate(s.max_rate_per_s)} within the profile's targets; at the "
        f"profile's {format_number(s.profile_rate_per_s)} req/s it {verdict} them "
        f"(P(wait) {format_probability(s.p_wait)})"
    )


def _header(report: FitReport) -> list[str]:
    config = report.config
    where = config.path + (
        f" ({config.mpm}" + (f", {config.layout} layout)" if config.layout != "unknown" else ")")
    )
    lines = [f"capplan fit: {where}"]
    ram = report.ram
    ram_from = (
        ram.detail
        if ram.source in ("flag", "profile")
        else f"{_SOURCE_WORDS[ram.source]}: {ram.detail}"
    )
    left = int(ram.value) - report.reserve.bytes
    fraction = report.memory_fraction
    fraction_mark = "*" if fraction.source == "default" else ""
    reserve_text = {
        "measured": "measured: the PSS of every other process",
        "flag": "--reserve",
        "none": "none: give --reserve SIZE or --reserve-measured",
    }[report.reserve.source]
    lines.append(
        f"RAM {mib(ram.value)} ({ram_from}) - reserve {mib(report.reserve.bytes)} "
        f"({reserve_text}) = {mib(left)}; httpd may use "
        f"{format_number(round(fraction.value * 100, 1))} %{fraction_mark} of it: "
        f"{mib(report.available_bytes)}"
    )
    return lines


def _memory_rows(report: FitReport) -> list[list[str]]:
    return [
        [f"memory.{key}", _figure_text(figure), _SOURCE_WORDS[figure.source]]
        for key, figure in report.memory
    ]


def _fit_rows(report: FitReport) -> list[list[str]]:
    rows = []
    for fit in report.fits:
        worst = mib(fit.fit_memory.worst_bytes) if fit.fit_memory else "-"
        rows.append([fit.mpm, str(fit.max_request_workers), _shape(fit), worst, _next_text(fit)])
    return rows


def _directive_lines(fit: MpmFit) -> str:
    if fit.fit is None:
        return f"{fit.mpm}: not even one process fits"
    block = ", ".join(f"{k} {format_number(v)}" for k, v in directives(fit.fit).items())
    return f"{fit.mpm}: {block}"


def fraction_is_default(report: FitReport) -> bool:
    return report.memory_fraction.source == "default"


def render_fit_text(report: FitReport, *, markdown: bool = False) -> str:
    """The report for a terminal (`markdown=False`) or a pull-request comment."""
    out = _header(report)
    heading = "## " if markdown else ""
    out += ["", f"{heading}Memory per process and thread (worst case, PSS/USS)", ""]
    out.append(render_table(["figure", "value", "from"], _memory_rows(report), markdown=markdown))
    others = report.reserve.others
    if others is not None:
        out += ["", f"{heading}Other processes on this machine (the reserve)", ""]
        rows = [
            [g.name, str(g.processes), format_bytes(g.memory_bytes) + ("†" if g.by_rss else "")]
            for g in others.groups[:15]
        ]
        rest = others.groups[15:]
        if rest:
            rows.append(
                [
                    f"{len(rest)} other names",
                    str(sum(g.processes for g in rest)),
                    format_bytes(sum(g.memory_bytes for g in rest)),
                ]
            )
        rows.append(["total", str(others.processes), format_bytes(others.total_bytes)])
        out.append(render_table(["process", "count", "PSS"], rows, markdown=markdown))
        if others.by_rss:
            out.append("")
            out.append(
                f"† {others.by_rss} of {others.processes} processes could not be read by PSS "
                "(permission denied: another user's, read without root) and count by their "
                "resident set, shared pages in full."
            )
    out += ["", f"{heading}Largest MaxRequestWorkers that fits, per MPM", ""]
    out.append(
        render_table(
            [
                "MPM",
                "MaxRequestWorkers",
                "processes × threads",
                "memory, worst",
                "next size: memory, worst",
            ],
            _fit_rows(report),
            markdown=markdown,
        )
    )
    out += ["", "Settings (httpd applies them unchanged):"]
    out += [f"  - {_directive_lines(fit)}" for fit in report.fits]
    sustain_lines = [line for fit in report.fits if (line := _sustains_line(fit))]
    if sustain_lines and report.profile is not None:
        out += ["", f"With profile {report.profile.name}:"]
        out += [f"  - {line}" for line in sustain_lines]
    footnotes = []
    if any(f.source == "default" for _, f in report.memory) or fraction_is_default(report):
        footnotes.append(
            "* a default, not measured and not in a profile: run with --measure on the server, or "
            "give a profile whose memory: section holds `capplan measure --format yaml`."
        )
    footnotes += [f"Note: {note}" for note in report.notes]
    if footnotes:
        out += ["", *footnotes]
    return "\n".join(out) + "\n"


def _fit_dict(fit: MpmFit) -> dict[str, Any]:
    out: dict[str, Any] = {
        "max_request_workers": fit.max_request_workers,
        "processes": fit.fit.processes if fit.fit is not None else 0,
        "threads_per_child": fit.threads_per_child,
        "memory_worst_bytes": fit.fit_memory.worst_bytes if fit.fit_memory else None,
        "directives": directives(fit.fit) if fit.fit is not None else {},
        "limited_by": fit.limited_by,
        "next": None,
    }
    if fit.next_up is not None and fit.next_memory is not None:
        out["next"] = {
            "max_request_workers": fit.next_up.workers,
            "memory_worst_bytes": fit.next_memory.worst_bytes,
        }
    if fit.sustains is not None:
        s = fit.sustains
        out["sustains"] = {
            "max_rate_per_s": s.max_rate_per_s if math.isfinite(s.max_rate_per_s) else None,
            "profile_rate_per_s": s.profile_rate_per_s,
            "meets_targets": s.meets_targets,
            "p_wait": s.p_wait,
        }
    return out


def fit_document(report: FitReport) -> dict[str, Any]:
    """The JSON report: inputs with their sources, then `mpms.<mpm>` as above."""
    from capplan.render.json_out import config_to_dict

    reserve: dict[str, Any] = {"bytes": report.reserve.bytes, "source": report.reserve.source}
    others = report.reserve.others
    if others is not None:
        reserve["processes"] = [
            {
                "name": g.name,
                "count": g.processes,
                "pss_bytes": g.memory_bytes,
                "counted_by_rss": g.by_rss,
            }
            for g in others.groups
        ]
        reserve["unreadable"] = others.unreadable
    return {
        "schema_version": SCHEMA_VERSION,
        "command": "fit",
        "config": config_to_dict(report.config),
        "profile": report.profile.name if report.profile is not None else None,
        "ram_bytes": int(report.ram.value),
        "reserve": reserve,
        "max_memory_fraction": report.memory_fraction.value,
        "available_bytes": report.available_bytes,
        "memory": {f"{key}_bytes": int(figure.value) for key, figure in report.memory},
        "sources": report.sources,
        "mpms": {fit.mpm: _fit_dict(fit) for fit in report.fits},
        "notes": list(report.notes),
    }


def render_fit(report: FitReport, fmt: OutputFormat) -> str:
    """`table`, `markdown` or `json`."""
    match fmt:
        case OutputFormat.json:
            return json.dumps(fit_document(report), indent=2, allow_nan=False) + "\n"
        case OutputFormat.table | OutputFormat.markdown:
            return render_fit_text(report, markdown=fmt is OutputFormat.markdown)
        case _:  # the other formats are not among its --format choices
            raise not_offered(fmt, "fit")
