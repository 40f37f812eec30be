"""Source locations: where a directive or a profile value came from (file, line, include chain)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """A line in a file, plus the chain of Include directives that led to it (outermost first)."""

    path: str
    line: int
    included_from: tuple[Location, ...] = ()

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"

    def chain(self) -> str:
        """`(included from a:1, b:2)`, innermost include first; empty for a top-level file."""
        if not self.included_from:
            return ""
        inner_first = ", ".join(str(loc) for loc in reversed(self.included_from))
        return f"(included from {inner_first})"
