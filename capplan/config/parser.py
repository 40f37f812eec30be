"""Parser stage: one logical line → its words and its place in the section structure.

Input is a `LogicalLine`'s text (after `${VAR}` substitution); output is a `ParsedLine`: the
directive name, the raw argument text and the kind of line (directive, section opener, section
close). httpd builds its section tree while it reads, because conditional sections and Include
decide what is read next; so the tree itself is assembled by the evaluator from these lines.

Grammar (server/config.c ap_build_config_sub(), server/util.c ap_getword_conf())::

    line      := blank | comment | directive | opener | closer
    comment   := "#" any*                       (only as the first non-blank character)
    directive := word (space+ word)*            (name = first word, case-insensitive)
    opener    := "<" name [space+ args] ">"     (the ">" may stick to the last argument)
    closer    := "</" name ">"                  (nothing else on the line)
    word      := '"' (\\" | \\\\ | any)* '"'?   (a quote runs to the matching quote or line end)
               | "'" (\\' | \\\\ | any)* "'"?
               | nonspace+                       (\\\\ → \\ ; other backslashes stay)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

# One word of ap_getword_conf(): leading apr_isspace() skipped, then a quoted run or a bare run.
_WORD = re.compile(
    r"""[ \t\n\v\f\r]*(?:"((?:\\[\\"]|[^"])*)"?|'((?:\\[\\']|[^'])*)'?|([^ \t\n\v\f\r]+))"""
)
_SPACE = re.compile(r"[ \t\n\v\f\r]*")
_UNESCAPE_BARE = re.compile(r"\\(\\)")
_UNESCAPE_DQ = re.compile(r'\\([\\"])')
_UNESCAPE_SQ = re.compile(r"\\([\\'])")


_ALL_WORDS = re.compile(
    r""""((?:\\[\\"]|[^"])*)"?|'((?:\\[\\']|[^'])*)'?|([^ \t\n\v\f\r]+)"""
).findall


def split_words(text: str) -> list[str]:
    """All words of `text`, quotes removed and escapes resolved, like repeated ap_getword_conf().

    NOTE: server/util.c substring_conf(): inside quotes `\\"` (same quote) and `\\\\` are
    unescaped, outside quotes only `\\\\`; text glued after a closing quote starts a new word.
    """
    if "\\" not in text:
        # One of the three groups matched; the others are empty strings.
        return [double + single + bare for double, single, bare in _ALL_WORDS(text)]
    words: list[str] = []
    for double, single, bare in _ALL_WORDS(text):
        if bare:
            words.append(_UNESCAPE_BARE.sub(r"\1", bare))
        elif single:
            words.append(_UNESCAPE_SQ.sub(r"\1", single))
        else:
            words.append(_UNESCAPE_DQ.sub(r"\1", double))
    return words


def first_word(text: str) -> tuple[str, str]:
    """(first word, the rest with leading whitespace removed) — one ap_getword_conf() call."""
    found = _WORD.match(text)
    if found is None:
        return "", ""
    double, single, bare = found.groups()
    if bare is not None:
        word = _UNESCAPE_BARE.sub(r"\1", bare) if "\\" in bare else bare
    elif double is not None:
        word = _UNESCAPE_DQ.sub(r"\1", double) if "\\" in double else double
    else:
        word = _UNESCAPE_SQ.sub(r"\1", single or "") if "\\" in (single or "") else (single or "")
    rest_at = _SPACE.match(text, found.end())
    assert rest_at is not None
    return word, text[rest_at.end() :]


class LineKind(Enum):
    DIRECTIVE = "directive"
    OPEN = "open"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """A non-blank, non-comment logical line, split the way ap_build_config_sub() splits it.

    `name` is the directive name as written; for an opener it is `<Name` (the `>` removed when it
    was glued to the name), for a closer the whole word (`</Name>`). `args` is the raw rest of the
    line: for an opener without arguments httpd substitutes `>`.
    """

    kind: LineKind
    name: str
    args: str


def parse_line(text: str) -> ParsedLine | None:
    """Classify a trimmed logical line; None for blank lines and comments."""
    if not text or text[0] == "#":
        return None
    name, args = first_word(text)
    if not name:
        # NOTE: ap_build_config_sub() skips a line whose first word is empty (e.g. `""`).
        return None
    if name[:2] == "</":
        return ParsedLine(LineKind.CLOSE, name, args)
    if name[-1] == ">":
        name = name[:-1]
    if name[:1] == "<":
        return ParsedLine(LineKind.OPEN, name, args or ">")
    return ParsedLine(LineKind.DIRECTIVE, name, args)


def container_args(args: str) -> tuple[str | None, str]:
    """Split an opener's raw args at the last `>`: (text before it or None when missing, after).

    NOTE: server/core.c start_cond_section() and the container handlers use strrchr(arg, '>').
    """
    at = args.rfind(">")
    if at < 0:
        return None, ""
    return args[:at], args[at + 1 :]
