"""Table renderer (the one home of tabulate): frozen results → aligned text or markdown.

Input: an `EffectiveConfig` (or plain rows). Output: text for a terminal (`simple` grid) or for
markdown (`github` tables). Numbers are formatted here, by `capplan.render.format`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tabulate import tabulate

from capplan.render.format import format_number, format_seconds

if TYPE_CHECKING:
    from capplan.http2 import Http2Settings
    from capplan.mpm_settings import EffectiveConfig


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, markdown: bool = False
) -> str:
    """Rows under headers; cells are shown as given (format numbers before calling)."""
    return tabulate(
        [list(row) for row in rows],
        headers=list(headers),
        tablefmt="github" if markdown else "simple",
        disable_numparse=True,
    )


def _shown(name: str, value: int | float | bool) -> str:
    if isinstance(value, bool):
        return "On" if value else "Off"
    if name in ("KeepAliveTimeout", "Timeout"):
        # httpd's own unit (seconds) reads best; below a second the renderer picks ms.
        return format_seconds(value) if value < 1 else f"{format_number(value)} s"
    return format_number(value)


def config_table(config: EffectiveConfig, *, markdown: bool = False) -> str:
    """`inspect`'s text: MPM line, values with where they were set, warnings, notes, capacity."""
    # Imported here: `capplan queue` renders through this module and never needs the MPM stage.
    from capplan.effective import capacity, effective_values

    sources = dict(config.provenance)
    rows = [
        (name, _shown(name, value), str(sources[name]) if name in sources else "default")
        for name, value in effective_values(config).items()
    ]
    layout = f" ({config.layout} layout)" if config.layout != "unknown" else ""
    parts = [
        f"{config.path}: MPM {config.mpm}{layout}",
        "",
        render_table(("Directive", "Effective", "Set at"), rows, markdown=markdown),
    ]
    if config.warnings:
        parts += ["", "httpd warnings:"]
        for warning in config.warnings:
            where = f" ({warning.location})" if warning.location is not None else ""
            parts.append(f"  {warning.code}: {warning.message}{where}")
    if config.notes:
        parts += ["", "Notes:"]
        parts += [f"  {note}" for note in config.notes]
    parts += ["", "Capacity: " + capacity(config.settings).summary(config.mpm)]
    if config.http2 is not None:
        parts += ["", *_http2_section(config.http2, markdown=markdown)]
    return "\n".join(parts)


def _http2_section(settings: Http2Settings, *, markdown: bool) -> list[str]:
    """inspect's mod_http2 part: main-server values with their source, other servers, warnings."""
    from capplan.http2 import effective_rows

    sources = dict(settings.provenance)
    rows = []
    for name, value in effective_rows(settings).items():
        if isinstance(value, float):
            shown = _shown("Timeout", value)
        elif isinstance(value, int):
            shown = format_number(value)
        else:
            shown = str(value)
        where = str(sources[name]) if name in sources else "default"
        if name in ("H2MinWorkers", "H2MaxWorkers") and name not in sources:
            where = "default (from the MPM)"
        rows.append((name, shown, where))
    state = "active" if settings.active else "not active"
    parts = [
        f"HTTP/2 (mod_http2, {state}):",
        render_table(("Directive", "Effective", "Set at"), rows, markdown=markdown),
    ]
    others = settings.servers[1:]
    if others:
        parts += ["", "HTTP/2 per virtual host:"]
        vrows = [
            (
                f"{s.name} ({s.location})" if s.location is not None else s.name,
                " ".join(s.protocols),
                str(s.max_session_streams),
                _shown("Timeout", s.idle_timeout_s),
                _shown("Timeout", s.stream_timeout_s),
            )
            for s in others
        ]
        parts.append(
            render_table(
                ("Server", "Protocols", "H2MaxSessionStreams", "idle session", "stream timeout"),
                vrows,
                markdown=markdown,
            )
        )
    for warning in settings.warnings:
        where = f" ({warning.location})" if warning.location is not None else ""
        parts.append(f"  {warning.code}: {warning.message}{where}")
    parts += [f"  {note}" for note in settings.notes]
    return parts
