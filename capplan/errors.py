"""The one exception root of capplan: every input problem becomes a CapplanError (exit code 2)."""

from __future__ import annotations

import re

from capplan.location import Location

# C0 controls but LF and TAB, DEL, C1 controls, and the lone surrogates that stand for undecodable
# bytes (surrogateescape).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\udc80-\udcff]")


def _escape_one(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code - 0xDC00 if code >= 0xDC80 else code:02x}"


def _escape_one_json_safe(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x20 else f"\\u{code:04x}"


def escape_controls(text: str, *, json_safe: bool = False) -> str:
    """`text` safe for a terminal: control characters and undecodable bytes as `\\xNN`.

    NOTE: httpd escapes what it echoes from a config the same way (server/util.c
    ap_escape_logitem()), so an ESC byte in a config cannot drive the terminal of whoever
    reads the error. Line feeds and tabs (table layout) stay. `json_safe` writes DEL, C1
    controls and undecodable bytes as `\\uXXXX` instead, which means the same character inside
    a JSON string (JSON escapes C0 controls itself), so reports of any format can pass.
    """
    return _CONTROL.sub(_escape_one_json_safe if json_safe else _escape_one, text)


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
        lines = [escape_controls(head).replace("\n", "\\n")]
        if self.source_line is not None:
            raw = self.source_line.rstrip("\r\n")
            shown = escape_controls(raw[:200]).replace("\t", " ").replace("\n", "\\n")
            if len(raw) > 200:
                shown += "…"
            lines.append(f"    {shown}")
            if self.column is not None and 0 <= self.column <= len(raw):
                # The caret goes under the same character after escaping.
                column = len(escape_controls(raw[: self.column]).replace("\n", "\\n"))
                if column <= len(shown):
                    lines.append("    " + " " * column + "^")
        if self.location is not None and self.location.included_from:
            lines.append(escape_controls(self.location.chain()))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()
