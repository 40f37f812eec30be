"""Log format stage: an httpd `LogFormat` string → a compiled byte-level parser.

Input: the format string as mod_log_config reads it (after the config tokenizer removed the outer
quotes). Output: a frozen `CompiledFormat` holding one regular expression that captures every field
(`parse_line`, for tests and diagnostics) and, on request, a second one that captures only the
fields the estimators need (`fast_regex`), both matching whole lines of `bytes`.

Grammar of a format (mod_log_config `parse_log_item`/`parse_log_misc_string`):

    format    := (literal | "%%" | item)*
    item      := "%" condition? ("<" | ">")* ("{" argument "}")? letter
               | "%" condition? ("<" | ">")* "^" letter letter     (%^FB, %^ti, %^to)
    condition := "!"? status ("," status)*      (the value is "-" unless the status matches)
    literal   := any text; "\\n" and "\\t" stand for newline and tab
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from capplan.config.types import Directive
from capplan.errors import CapplanError
from capplan.location import Location

# The formats of upstream httpd's docs/conf/httpd.conf.in. Debian's apache2.conf writes %O for %b.
COMMON_FORMAT = '%h %l %u %t "%r" %>s %b'
COMBINED_FORMAT = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'
COMBINEDIO_FORMAT = COMBINED_FORMAT + " %I %O"
# mod_log_config's DEFAULT_LOG_FORMAT: what `CustomLog file` without a format writes.
DEFAULT_LOG_FORMAT = COMMON_FORMAT
BUILTIN_FORMATS: dict[str, str] = {
    "common": COMMON_FORMAT,
    "combined": COMBINED_FORMAT,
    "combinedio": COMBINEDIO_FORMAT,
}

# Sub-patterns (bytes). Quoted strings use the unrolled form of (?:[^"\\]|\\.)*, which is linear
# and fast on the common no-escape path; httpd escapes '"' and '\' inside logged strings
# (`ap_escape_logitem`), so an unescaped '"' always ends the field. Its repeats are possessive:
# the field is always followed by '"', which no byte given back could make match, so giving back
# never helps (about 10 % faster matching of a combined line). The class [^"\\] is spelled as
# byte ranges: sre then tests each byte in a 256-bit map instead of walking a negated list of
# literals, another 15 % on a combined line.
_NOT_QUOTE_OR_BACKSLASH = rb"[\x00-\x21\x23-\x5b\x5d-\xff]"
_QUOTED = _NOT_QUOTE_OR_BACKSLASH + rb"*+(?:\\." + _NOT_QUOTE_OR_BACKSLASH + rb"*+)*+"
_LAZY = rb".*?"
_TOKEN = rb"\S+"
_OPT_TOKEN = rb"\S*"
_INT = rb"-?\d+"
_INT_OR_DASH = rb"-|-?\d+"
_HEX_OR_DASH = rb"-|[0-9a-fA-F]+"
_CLF_TIME = rb"\[[^\]]*\]"

_TIME_EPOCH_FORMS = ("sec", "msec", "usec", "msec_frac", "usec_frac")

# Letter → (value kind, pattern). Kinds decide the conversion in `parse_line`.
_LETTERS: dict[str, tuple[str, bytes]] = {
    "a": ("str", _TOKEN),
    "A": ("str", _TOKEN),
    "b": ("int", _INT_OR_DASH),
    "B": ("int", _INT_OR_DASH),
    "C": ("str", _LAZY),
    "D": ("int", _INT_OR_DASH),
    "e": ("str", _LAZY),
    "f": ("str", _LAZY),
    "h": ("str", _TOKEN),
    "H": ("str", _TOKEN),
    "i": ("str", _LAZY),
    "I": ("int", _INT_OR_DASH),
    "k": ("int", _INT_OR_DASH),
    "l": ("str", _TOKEN),
    "L": ("str", _TOKEN),
    "m": ("str", _TOKEN),
    "n": ("str", _LAZY),
    "o": ("str", _LAZY),
    "O": ("int", _INT_OR_DASH),
    "p": ("int", _INT_OR_DASH),
    "P": ("int", _INT_OR_DASH),
    "q": ("str", rb"(?:\?\S*)?"),  # empty, or "?" and the query string
    "r": ("str", _LAZY),
    "R": ("str", _TOKEN),
    "s": ("int", _INT_OR_DASH),
    "S": ("int", _INT_OR_DASH),
    "t": ("time", _CLF_TIME),
    "T": ("int", _INT_OR_DASH),
    "u": ("str", _TOKEN),
    "U": ("str", rb"[^\s?]*"),  # the path, without the query string
    "v": ("str", _TOKEN),
    "V": ("str", _TOKEN),
    "X": ("str", rb"[-+X]"),
}
_CARET_ITEMS: dict[str, tuple[str, bytes]] = {
    "FB": ("int", _INT_OR_DASH),  # mod_logio: time to first byte, µs (LogIOTrackTTFB)
    "ti": ("str", _LAZY),  # request trailer
    "to": ("str", _LAZY),  # response trailer
}

# strftime conversions → patterns, for %{format}t.
_STRFTIME: dict[str, bytes] = {
    "a": rb"[A-Za-z]+",
    "A": rb"[A-Za-z]+",
    "b": rb"[A-Za-z]+",
    "B": rb"[A-Za-z]+",
    "h": rb"[A-Za-z]+",
    "d": rb"\d\d",
    "e": rb" ?\d{1,2}",
    "H": rb"\d\d",
    "I": rb"\d\d",
    "j": rb"\d{3}",
    "m": rb"\d\d",
    "M": rb"\d\d",
    "S": rb"\d\d",
    "y": rb"\d\d",
    "Y": rb"\d{4}",
    "z": rb"[-+]\d{4}",
    "Z": rb"[A-Za-z]+",
    "p": rb"[AP]M",
    "F": rb"\d{4}-\d\d-\d\d",
    "T": rb"\d\d:\d\d:\d\d",
    "R": rb"\d\d:\d\d",
    "D": rb"\d\d/\d\d/\d\d",
    "s": rb"\d+",
    "u": rb"\d",
    "w": rb"\d",
    "%": rb"%",
}


@dataclass(frozen=True, slots=True)
class Field:
    """One `%` item of a format.

    `key` names the value in `parse_line` results: the `<`/`>` modifier, the argument in braces
    and the letter, e.g. `>s`, `{Referer}i`, `{begin:msec}t`, `^FB`. `kind` is `int`, `str` or
    `time`; `conditional` marks `%400,501{...}i` items, which print "-" unless the status matches.
    """

    letter: str
    argument: str | None
    modifier: str  # "<" (original request), ">" (final request) or ""
    conditional: bool
    kind: str
    pattern: bytes

    @property
    def key(self) -> str:
        arg = f"{{{self.argument}}}" if self.argument is not None else ""
        return f"{self.modifier}{arg}{self.letter}"


@dataclass(frozen=True, slots=True)
class CompiledFormat:
    """A LogFormat compiled to regular expressions over whole lines (bytes, no newline).

    `fields[i]` is captured by group `i + 1` of `regex`; `literal_parts` interleave them
    (len = len(fields) + 1) and serve to build `fast_regex`.
    """

    source: str
    fields: tuple[Field, ...]
    literal_parts: tuple[bytes, ...]
    regex: re.Pattern[bytes]

    def index(self, key: str) -> int | None:
        """Position of the first field with `key` (see `Field.key`), or None."""
        for i, f in enumerate(self.fields):
            if f.key == key:
                return i
        return None

    def find(self, letter: str, argument: str | None = None) -> int | None:
        """Position of the first field with this letter and argument (header names compare
        case-insensitively, as httpd's `apr_table_get` does), or None."""
        for i, f in enumerate(self.fields):
            if f.letter != letter:
                continue
            if argument is None and f.argument is None:
                return i
            if (
                argument is not None
                and f.argument is not None
                and f.argument.lower() == argument.lower()
            ):
                return i
        return None

    def fast_regex(self, wanted: tuple[int, ...]) -> re.Pattern[bytes]:
        """A multi-line regex capturing only the fields at positions `wanted`, in that order of
        position (group j+1 ↔ sorted(wanted)[j]); other fields are matched without capture."""
        keep = set(wanted)
        parts = [b"^"]
        for i, f in enumerate(self.fields):
            parts.append(re.escape(self.literal_parts[i]))
            if i in keep:
                parts.append(b"(" + f.pattern + b")")
            else:
                parts.append(b"(?:" + f.pattern + b")")
        parts.append(re.escape(self.literal_parts[-1]))
        parts.append(rb"\r?$")
        return re.compile(b"".join(parts), re.M)

    def parse_line(self, line: bytes) -> dict[str, object] | None:
        """Every field of one line, converted: ints, unescaped strings, `None` for "-".

        Times stay as their text (`[10/Oct/2000:13:55:36 -0700]` without brackets, or the
        strftime/epoch text); `capplan.logs.timeparse` converts them. Returns None when the line
        does not match the format.
        """
        m = self.regex.fullmatch(line.rstrip(b"\r\n"))
        if m is None:
            return None
        out: dict[str, object] = {}
        for f, raw in zip(self.fields, m.groups(), strict=True):
            out.setdefault(f.key, convert_value(f, raw))
        return out


_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)", re.S)
_SIMPLE_ESCAPES = {b'"': b'"', b"\\": b"\\", b"n": b"\n", b"t": b"\t", b"r": b"\r"}


def unescape(raw: bytes) -> str:
    r"""Undo httpd's `ap_escape_logitem`: `\"`, `\\`, `\n`, `\t` and `\xhh`; decode as UTF-8
    with replacement (logs are bytes; a bad byte must not stop the run)."""
    if b"\\" in raw:

        def repl(m: re.Match[bytes]) -> bytes:
            code = m.group(1)
            if len(code) == 3 and code[:1] == b"x":
                return bytes([int(code[1:], 16)])
            return _SIMPLE_ESCAPES.get(code, b"\\" + code)

        raw = _ESCAPE.sub(repl, raw)
    return raw.decode("utf-8", "replace")


def convert_value(f: Field, raw: bytes) -> object:
    """The typed value of one captured field: int, str, time text, or None for "-"."""
    if f.kind == "int":
        return None if raw == b"-" else int(raw)
    if f.kind == "time":
        return raw[1:-1].decode("ascii", "replace") if raw.startswith(b"[") else raw.decode()
    if raw == b"-" and (f.conditional or f.letter not in "qU"):
        return None
    return unescape(raw)


def _strftime_pattern(fmt: str) -> bytes:
    out = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            conv = fmt[i + 1]
            pat = _STRFTIME.get(conv)
            if pat is None:
                raise ValueError(f"strftime conversion %{conv} is not supported")
            out.append(pat)
            i += 2
        else:
            out.append(re.escape(ch.encode()))
            i += 1
    return b"".join(out)


def _time_field(argument: str | None) -> tuple[str, bytes]:
    if argument is None:
        return "time", _CLF_TIME
    form = argument
    for prefix in ("begin:", "end:"):
        if form.startswith(prefix):
            form = form[len(prefix) :]
            break
    # NOTE: mod_log_config `log_request_time` prints msec_frac as %03 and usec_frac as %06
    # (zero-padded), so they have a fixed width even right after %{sec}t.
    if form == "msec_frac":
        return "int", rb"\d{3}"
    if form == "usec_frac":
        return "int", rb"\d{6}"
    if form in _TIME_EPOCH_FORMS:
        return "int", rb"\d+"
    # NOTE: mod_log_config `log_request_time_custom` formats %{fmt}t with apr_strftime, no brackets.
    return "time", _strftime_pattern(form)


_ITEM = re.compile(r"%(!?\d{3}(?:,\d{3})*)?([<>]*)(?:\{([^}]*)\})?(\^..|.)?", re.S)


def compile_format(fmt: str, *, origin: str = "log format") -> CompiledFormat:
    """Compile a LogFormat string; `origin` names it in errors (e.g. `httpd.conf:212`)."""
    text = fmt.replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"')
    fields: list[Field] = []
    literals: list[bytes] = []
    current: list[str] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch != "%":
            current.append(ch)
            pos += 1
            continue
        if text.startswith("%%", pos):
            current.append("%")
            pos += 2
            continue
        m = _ITEM.match(text, pos)
        assert m is not None  # the pattern matches any "%..." prefix
        condition, modifiers, argument, letter = m.groups()
        if letter is None:
            raise CapplanError(f"{origin}: LogFormat ends inside a % item: {fmt!r}")
        if letter.startswith("^"):
            spec = _CARET_ITEMS.get(letter[1:])
        elif letter == "t":
            try:
                spec = _time_field(argument)
            except ValueError as exc:
                raise CapplanError(f"{origin}: %{{{argument}}}t: {exc}") from None
        else:
            spec = _LETTERS.get(letter)
        if spec is None:
            # NOTE: mod_log_config `parse_log_item` rejects unknown letters the same way.
            raise CapplanError(f"{origin}: Unrecognized LogFormat directive %{letter}: {fmt!r}")
        kind, pattern = spec
        conditional = condition is not None
        if conditional and pattern not in (_LAZY, _QUOTED):
            pattern = b"-|" + pattern if not pattern.startswith(b"-|") else pattern
        literal = "".join(current)
        quoted = literal.endswith('"') and text[m.end() : m.end() + 1] == '"'
        if quoted and kind == "str":
            pattern = _QUOTED
        modifier = modifiers[-1] if modifiers else ""
        fields.append(Field(letter, argument, modifier, conditional, kind, pattern))
        literals.append(literal.encode())
        current = []
        pos = m.end()
    literals.append("".join(current).encode())
    fields = [_possessive(f, literals[i + 1], i + 1 == len(fields)) for i, f in enumerate(fields)]
    body = b"".join(
        re.escape(lit) + (b"(" + fields[i].pattern + b")" if i < len(fields) else b"")
        for i, lit in enumerate(literals)
    )
    return CompiledFormat(
        source=fmt,
        fields=tuple(fields),
        literal_parts=tuple(literals),
        regex=re.compile(body, re.S),
    )


def log_stem(path: str) -> str:
    """A log file's name without directory and rotation suffixes: `access.log.2.gz`,
    `access.log-20240501` and `/var/log/apache2/access.log` all give `access.log`."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    name = re.sub(r"\.(gz|bz2|xz|zst)$", "", name)
    return re.sub(r"(\.\d+|-\d{8})$", "", name)


_ASCII_SPACE = b" \t\n\r\f\v"  # what \s matches in a bytes pattern
# Repeats that may be made possessive (never give back what they matched), with the test of
# whether a byte can belong to the repeat's class.
_POSSESSIVE: dict[bytes, tuple[bytes, Callable[[int], bool]]] = {
    _TOKEN: (rb"\S++", lambda b: b not in _ASCII_SPACE),
    _OPT_TOKEN: (rb"\S*+", lambda b: b not in _ASCII_SPACE),
    _INT: (rb"-?\d++", lambda b: 48 <= b <= 57),
    # "-" or a number, written so that no branch needs to be undone (~4 % faster on a line)
    _INT_OR_DASH: (rb"-\d*+|\d++", lambda b: 48 <= b <= 57),
    rb"\d+": (rb"\d++", lambda b: 48 <= b <= 57),
}


def _possessive(f: Field, next_literal: bytes, last: bool) -> Field:
    r"""The field with a possessive repeat when backtracking into it can never help: the text
    after it starts with a byte its class cannot match (or the line ends, at a CR or nothing).
    About 15 % faster matching; `%v:%p` keeps its greedy `\S+`, which must give back `:443`."""
    found = _POSSESSIVE.get(f.pattern)
    if found is None:
        return f
    pattern, in_class = found
    if next_literal:
        if in_class(next_literal[0]):
            return f
    elif not last:
        return f  # another field follows directly: it may need some of this one's bytes
    return Field(f.letter, f.argument, f.modifier, f.conditional, f.kind, pattern)


def format_from_directives(
    directives: Sequence[Directive], nickname: str | None, log_path: str | None = None
) -> tuple[str, Location | None, str]:
    """The LogFormat an httpd config logs with: (format, where it is defined, description).

    With `nickname`, the last `LogFormat "..." nickname` (mod_log_config keeps formats in a table,
    so a later definition replaces an earlier one). Without, the format of the first `CustomLog`
    writing a file named like `log_path` (rotation suffixes aside), else of the first CustomLog:
    a string with `%` is the format itself, otherwise it names a LogFormat; with no CustomLog,
    the first `TransferLog`'s.
    # NOTE: mod_log_config `open_config_log` looks a CustomLog's format up in the nickname table
    # first and only otherwise parses it as a format string.
    """
    formats: dict[str, tuple[str, Location]] = {}
    for d in directives:
        if d.key == "logformat" and len(d.args) >= 2:
            formats[d.args[1]] = (d.args[0], d.location)
    if nickname is not None:
        found = formats.get(nickname)
        if found is None:
            known = ", ".join(sorted(formats)) or "none"
            raise CapplanError(
                f"the config defines no LogFormat named {nickname!r} (defined: {known})"
            )
        return found[0], found[1], f"LogFormat {nickname}"
    customs = [d for d in directives if d.key == "customlog" and len(d.args) >= 2]
    if log_path is not None:
        stem = log_stem(log_path)
        customs.sort(key=lambda d: log_stem(d.args[0]) != stem)  # stable: matches first
    if customs:
        d = customs[0]
        spec = d.args[1]
        if spec in formats:
            fmt, where = formats[spec]
            return fmt, where, f"CustomLog {d.args[0]} {spec} ({d.location})"
        if "%" not in spec:
            raise CapplanError(
                f"CustomLog names the format {spec!r}, which no LogFormat defines", d.location
            )
        return spec, d.location, f"CustomLog {d.args[0]}"
    for d in directives:
        if d.key == "transferlog":
            # NOTE: mod_log_config `set_transfer_log` logs with the format of the last
            # one-argument LogFormat, else DEFAULT_LOG_FORMAT.
            plain = [x for x in directives if x.key == "logformat" and len(x.args) == 1]
            if plain:
                return plain[-1].args[0], plain[-1].location, f"TransferLog {d.args[0]}"
            return DEFAULT_LOG_FORMAT, d.location, f"TransferLog {d.args[0]} (default format)"
    raise CapplanError(
        "the config has no CustomLog or TransferLog directive; name the format with "
        "--log-format-name or give it with --log-format"
    )
