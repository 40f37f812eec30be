"""Renderer of error-log evidence: `ErrorLogEvidence` → a table section, a JSON object, or YAML
comments (for `measure --format yaml`, whose output must stay a pasteable profile section).

Input: the evidence and the config's MPM (None when unknown). Output: text or plain dicts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capplan.errorlog import ErrorLogEvidence, MessageCount, how_often, meaning
from capplan.render.formats import OutputFormat
from capplan.render.table import render_table

if TYPE_CHECKING:
    from capplan.mpm_names import Mpm

_HOURS_SHOWN = 12


def _time(count: MessageCount, first: bool) -> str:
    value = count.first if first else count.last
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _busiest_hours(count: MessageCount) -> str:
    ranked = sorted(count.per_hour, key=lambda item: (-item[1], item[0]))[:_HOURS_SHOWN]
    return ", ".join(f"{hour} ×{n}" for hour, n in sorted(ranked))


def evidence_text(evidence: ErrorLogEvidence, mpm: Mpm | None, *, markdown: bool = False) -> str:
    """The error-log section of a report: one row per message found, then what each means."""
    heading = "## " if markdown else ""
    files = ", ".join(evidence.paths)
    runs = ""
    if evidence.starts:
        runs = f", {evidence.runs} runs of the server, {evidence.restarts} restarts"
    lines = [f"{heading}Error log: {files} ({evidence.lines} lines{runs})", ""]
    found = evidence.found
    if not found:
        lines.append(
            "No saturation message: httpd did not report reaching MaxRequestWorkers "
            "(AH00161, AH00286, AH00484), nearing it (AH00287, AH10159) or a full scoreboard "
            "(AH00288, AH03490)."
        )
    else:
        rows = [
            [
                c.message.code,
                c.message.mpm,
                c.message.text,
                str(c.count),
                _time(c, True),
                _time(c, False),
            ]
            for c in found
        ]
        lines.append(
            render_table(
                ["code", "MPM", "message", "lines", "first", "last"], rows, markdown=markdown
            )
        )
        lines.append("")
        for count in found:
            lines.append(
                f"- {count.message.code}: {meaning(count.message, mpm)}; "
                f"{how_often(count.message)}."
            )
            if count.per_hour:
                lines.append(f"  per hour: {_busiest_hours(count)}")
            if count.undated:
                lines.append(f"  {count.undated} of these lines carry no readable time")
    if evidence.long_lines:
        lines.append(f"{evidence.long_lines} lines longer than 64 KiB were read in part.")
    return "\n".join(lines) + "\n"


def evidence_document(evidence: ErrorLogEvidence, mpm: Mpm | None) -> dict[str, Any]:
    """`{files, lines, messages: {code: {mpm, kind, message, count, first, last, per_hour,
    undated, meaning}}}`; times in ISO 8601 (the log's local time, as httpd wrote it)."""
    return {
        "files": list(evidence.paths),
        "lines": evidence.lines,
        "long_lines": evidence.long_lines,
        "starts": evidence.starts,
        "restarts": evidence.restarts,
        "runs": evidence.runs,
        "messages": {
            c.message.code: {
                "mpm": c.message.mpm,
                "kind": c.message.kind,
                "message": c.message.text,
                "count": c.count,
                "first": c.first.isoformat() if c.first else None,
                "last": c.last.isoformat() if c.last else None,
                "per_hour": dict(c.per_hour),
                "undated": c.undated,
                "meaning": meaning(c.message, mpm),
            }
            for c in evidence.counts
        },
    }


def evidence_yaml_comments(evidence: ErrorLogEvidence, mpm: Mpm | None) -> str:
    """The evidence as YAML comment lines, so a `memory:` section stays valid YAML."""
    text = evidence_text(evidence, mpm)
    return "\n".join(f"# {line}".rstrip() for line in text.splitlines()) + "\n"


def measure_report(
    measured_text: str | None,
    *,
    measured_document: dict[str, Any] | None,
    evidence: ErrorLogEvidence,
    mpm: Mpm | None,
    fmt: OutputFormat,
    unmeasured: str | None,
) -> str:
    """`capplan measure --error-log`: the measurement (when a server was measured) and the log.

    `measured_text` is the measurement rendered in `fmt` (table or yaml), `measured_document` its
    JSON object; `unmeasured` says why no server was measured (the log is still reported).
    """
    if fmt is OutputFormat.json:
        import json

        document: dict[str, Any] = dict(measured_document or {"schema_version": 1})
        if unmeasured is not None:
            document["not_measured"] = unmeasured
        document["error_log"] = evidence_document(evidence, mpm)
        return json.dumps(document, indent=2, allow_nan=False) + "\n"
    parts = []
    if fmt is OutputFormat.yaml:
        if unmeasured is not None:
            parts.append(f"# no running httpd measured: {unmeasured}\n")
        if measured_text is not None:
            parts.append(measured_text.rstrip("\n") + "\n")
        parts.append(evidence_yaml_comments(evidence, mpm))
        return "".join(parts)
    if unmeasured is not None:
        parts.append(f"No running httpd measured: {unmeasured}\n")
    if measured_text is not None:
        parts.append(measured_text.rstrip("\n") + "\n")
    parts.append(evidence_text(evidence, mpm, markdown=fmt is OutputFormat.markdown))
    return "\n".join(parts)
