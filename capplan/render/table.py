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
    from capplan.settings import EffectiveConfig


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
    from capplan.mpm import capacity, effective_values

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
    return "\n".join(parts)
