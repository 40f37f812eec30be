"""The profiles shipped with capplan: where they are installed, their names, and `-p` lookup.

Input: a `-p` argument (a file path or a shipped profile's name). Output: the path of the profile
file to load, or the list of shipped profiles with the one-line summary each file opens with.
The shipped files are the repository's top-level `profiles/` directory, installed as the package
`capplan.profiles` (next to this module in a wheel; the source tree itself in a checkout).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from capplan.errors import CapplanError

PROFILE_SUFFIX = ".yaml"
_SUMMARY_MAX_CHARS = 96


@dataclass(frozen=True, slots=True)
class ShippedProfile:
    """One shipped profile: its name (the file stem), its file and its first comment line."""

    name: str
    path: Path
    summary: str


def shipped_profiles_dir() -> Path | None:
    """The directory holding the shipped profiles, or None when the installation lacks it.

    A wheel installs them as `capplan/profiles/`; a source checkout or an editable install reads
    the repository's `profiles/` next to the `capplan` package.
    """
    package = Path(__file__).resolve().parent
    for candidate in (package / "profiles", package.parent / "profiles"):
        if candidate.is_dir() and any(candidate.glob(f"*{PROFILE_SUFFIX}")):
            return candidate
    return None


def _summary(path: Path) -> str:
    """The first sentence of the comment a profile file opens with ("" when it has none)."""
    words: list[str] = []
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                text = line.strip()
                if not text.startswith("#"):
                    break
                words.extend(text.lstrip("#").split())
                if text.endswith((".", ")")):
                    break
    except OSError:
        return ""
    summary = " ".join(words)
    end = summary.find(". ")
    if end >= 0:
        summary = summary[: end + 1]
    colon = summary.find(": ")
    if len(summary) > _SUMMARY_MAX_CHARS and colon > 0:
        summary = summary[:colon] + "."
    if len(summary) > _SUMMARY_MAX_CHARS:
        summary = summary[: _SUMMARY_MAX_CHARS - 1].rstrip() + "…"
    return summary


def shipped_profiles() -> tuple[ShippedProfile, ...]:
    """Every shipped profile, sorted by name."""
    directory = shipped_profiles_dir()
    if directory is None:
        return ()
    return tuple(
        ShippedProfile(name=path.stem, path=path, summary=_summary(path))
        for path in sorted(directory.glob(f"*{PROFILE_SUFFIX}"))
    )


def resolve_profile(argument: str) -> str:
    """`-p ARG`: an existing file wins; else a shipped profile named ARG (with or without .yaml).

    Raises CapplanError naming the shipped profiles when ARG is neither.
    """
    given = Path(argument).expanduser()
    if argument and given.exists() and not given.is_dir():
        return argument
    name = argument.removesuffix(PROFILE_SUFFIX)
    is_bare_name = "/" not in argument and name not in ("", ".", "..")
    if is_bare_name:
        for shipped in shipped_profiles():
            if shipped.name == name:
                return str(shipped.path)
    names = ", ".join(p.name for p in shipped_profiles()) or "none installed"
    raise CapplanError(
        f"{argument}: no such profile file, and no shipped profile of that name "
        f"(shipped: {names}; `capplan profiles` lists them)"
    )
