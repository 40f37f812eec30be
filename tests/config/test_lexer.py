"""Lexer: logical lines, numbering and trimming, against a literal transcription of httpd's loop."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.config.lexer import APR_SPACE, LogicalLine, lex


def reference(data: bytes) -> list[tuple[int, str]]:
    """server/util.c ap_cfg_getline_core() + cfg_trim_line(), one physical read at a time."""
    text = data.decode("utf-8", "surrogateescape")
    reads: list[tuple[str, bool]] = []  # (physical line without LF, had LF)
    rest = text
    while rest:
        at = rest.find("\n")
        if at < 0:
            reads.append((rest, False))
            rest = ""
        else:
            reads.append((rest[:at], True))
            rest = rest[at + 1 :]
    out: list[tuple[int, str]] = []
    line_number = 0
    position = 0
    while position < len(reads):
        buffer = ""
        while True:
            line_number += 1
            if position >= len(reads):  # EOF after a continuation
                break
            raw, had_lf = reads[position]
            position += 1
            if "\0" in raw:  # strlen() stops at the NUL; the LF is out of sight
                raw, had_lf = raw[: raw.index("\0")], False
            buffer += raw
            # The test looks at the end of the whole buffer (`cp > buf`), not this read alone.
            end = len(buffer)
            if had_lf and end and buffer[end - 1] == "\r":
                end -= 1
            if had_lf and end and buffer[end - 1] == "\\":
                buffer = buffer[: end - 1]
                continue
            break
        trimmed = buffer.strip(APR_SPACE)
        if trimmed and not trimmed.startswith("#"):
            out.append((line_number, trimmed))
    return out


def _lines(data: bytes) -> list[tuple[int, str]]:
    return [(line.line, line.text) for line in lex(data).lines()]


CASES = [
    ("plain", b"A 1\nB 2\n", [(1, "A 1"), (2, "B 2")]),
    ("no-final-newline", b"A 1\nB 2", [(1, "A 1"), (2, "B 2")]),
    ("continuation-no-space", b"Max\\\nWorkers 1\n", [(2, "MaxWorkers 1")]),
    ("continuation-keeps-indent", b"A\\\n   1\n", [(2, "A   1")]),
    ("crlf-continuation", b"A\\\r\n1\r\n", [(2, "A1")]),
    ("backslash-space-is-literal", b"A \\ \nB\n", [(1, "A \\"), (2, "B")]),
    ("comment-continues", b"# c \\\nA 1\nB 2\n", [(3, "B 2")]),
    ("hash-later-is-text", b"A 1 # two\n", [(1, "A 1 # two")]),
    ("continuation-at-eof", b"A\\\n", [(2, "A")]),
    ("backslash-at-eof-without-newline", b"A\\", [(1, "A\\")]),
    ("chain", b"A\\\nB\\\nC\nD\n", [(3, "ABC"), (4, "D")]),
    ("double-backslash-then-empty-line", b"A x\\\\\n\nB\n", [(3, "A xB")]),
    ("double-backslash-then-text", b"A x\\\\\nB\n", [(2, "A x\\B")]),
    ("nul-ends-line", b"A 1\x00junk\\\nB\n", [(1, "A 1"), (2, "B")]),
    ("bom-kept", b"\xef\xbb\xbfA 1\n", [(1, "\ufeffA 1")]),
    ("trim-vertical-tab", b"\x0b\x0cA\t\r\n", [(1, "A")]),
    ("unicode-space-not-trimmed", "\u00a0A\n".encode(), [(1, "\u00a0A")]),
    # Joined, `\` CR + LF continues again, so the empty line is swallowed too: httpd 2.4.71's
    # `apache2 -t` reads no directive here.
    ("backslash-cr-then-continuation", b"\\\r\\\n\n", []),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_logical_lines(data: bytes, expected: list[tuple[int, str]]) -> None:
    assert _lines(data) == expected
    assert reference(data) == expected


ALPHABET = st.sampled_from(["a", "b", " ", "\t", "\\", "\r", "\n", "\n", "#", "\0", "\x1c", "\xa0"])


@settings(max_examples=600, deadline=None)
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_matches_httpds_loop(text: str) -> None:
    data = text.encode("utf-8", "surrogateescape")
    assert _lines(data) == reference(data)


def test_plain_split_flag() -> None:
    assert lex(b"A b\n").plain_split
    assert not lex(b"A\x1cb\n").plain_split  # str.split() would cut there, httpd does not
    assert LogicalLine(1, "x").text == "x"
