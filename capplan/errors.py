"""The one exception root of capplan: every input problem becomes a CapplanError (exit code 2)."""

from __future__ import annotations

from capplan.location import Location


class CapplanError(Exception):
    """Bad input: a config, profile, log or flag that capplan cannot use.

    `render()` gives the user-facing text: one line `path:line: message`, then (when known) the
    offending line with a caret under `column`, then the include chain.
    """

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        *,
        source_line: str | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.source_line = source_line
        self.column = column

    def render(self) -> str:
        head = f"{self.location}: {self.message}" if self.location else self.message
        lines = [head]
        if self.source_line is not None:
            shown = self.source_line.rstrip("\r\n")
            if len(shown) > 200:
                shown = shown[:200] + "…"
            lines.append(f"    {shown}")
            if self.column is not None and 0 <= self.column <= len(shown):
                lines.append("    " + " " * self.column + "^")
        if self.location is not None and self.location.included_from:
            lines.append(self.location.chain())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()
