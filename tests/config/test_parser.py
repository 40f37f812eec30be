"""Parser: words and line shapes, against a literal transcription of ap_getword_conf()."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.config.parser import LineKind, container_args, first_word, parse_line, split_words

SPACE = " \t\n\v\f\r"


def getword_conf(line: str) -> tuple[str, str]:
    """server/util.c ap_getword_conf() + substring_conf(), character by character."""
    i = 0
    while i < len(line) and line[i] in SPACE:
        i += 1
    if i == len(line):
        return "", ""
    quote = line[i]
    if quote in "\"'":
        end = i + 1
        while end < len(line) and line[end] != quote:
            if line[end] == "\\" and end + 1 < len(line) and line[end + 1] in (quote, "\\"):
                end += 2
            else:
                end += 1
        body, escapes = line[i + 1 : end], quote + "\\"
        if end < len(line):
            end += 1
    else:
        end = i
        while end < len(line) and line[end] not in SPACE:
            end += 1
        body, escapes = line[i:end], "\\"
    word = []
    k = 0
    while k < len(body):
        if body[k] == "\\" and k + 1 < len(body) and body[k + 1] in escapes:
            word.append(body[k + 1])
            k += 2
        else:
            word.append(body[k])
            k += 1
    while end < len(line) and line[end] in SPACE:
        end += 1
    return "".join(word), line[end:]


def all_words(line: str) -> list[str]:
    words = []
    rest = line
    while rest.strip(SPACE):
        word, rest = getword_conf(rest)
        words.append(word)
    return words


CASES = [
    ("bare", "MaxRequestWorkers 300", ["MaxRequestWorkers", "300"]),
    ("double-quoted", 'ServerAdmin "a b"', ["ServerAdmin", "a b"]),
    ("single-quoted", "ServerAdmin 'a b'", ["ServerAdmin", "a b"]),
    ("escaped-quote", r'X "a\"b"', ["X", 'a"b']),
    ("other-quote-not-escaped", r'X "a\'b"', ["X", "a\\'b"]),
    ("escaped-backslash", r'X "a\\b" c\\d', ["X", "a\\b", "c\\d"]),
    ("lone-backslash-kept", r"X a\b", ["X", "a\\b"]),
    ("glued-after-quote", 'X "13"0', ["X", "13", "0"]),
    ("unterminated-quote", 'X "a b', ["X", "a b"]),
    ("empty-quotes", 'X ""', ["X", ""]),
    ("tabs", "X\t\ta\tb", ["X", "a", "b"]),
]


@pytest.mark.parametrize(("line", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_split_words(line: str, words: list[str]) -> None:
    assert split_words(line) == words
    assert all_words(line) == words


WORD_CHARS = st.sampled_from(['"', "'", "\\", " ", "\t", "a", "b", ">", "<", "#", "\x1c"])


@settings(max_examples=800, deadline=None)
@given(st.lists(WORD_CHARS, max_size=30).map("".join))
def test_split_words_matches_httpd(line: str) -> None:
    assert split_words(line) == all_words(line)
    assert first_word(line) == getword_conf(line)


SHAPES = [
    ("directive", "Timeout 5", LineKind.DIRECTIVE, "Timeout", "5"),
    ("opener", "<VirtualHost *:80>", LineKind.OPEN, "<VirtualHost", "*:80>"),
    ("opener-glued", "<IfModule>", LineKind.OPEN, "<IfModule", ">"),
    ("opener-no-gt", "<IfModule x", LineKind.OPEN, "<IfModule", "x"),
    ("closer", "</VirtualHost>", LineKind.CLOSE, "</VirtualHost>", ""),
    ("closer-with-space", "</IfModule >", LineKind.CLOSE, "</IfModule", ">"),
    ("name-with-gt", "Foo> bar", LineKind.DIRECTIVE, "Foo", "bar"),
]


@pytest.mark.parametrize(
    ("text", "kind", "name", "args"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES]
)
def test_parse_line(text: str, kind: LineKind, name: str, args: str) -> None:
    parsed = parse_line(text)
    assert parsed is not None
    assert (parsed.kind, parsed.name, parsed.args) == (kind, name, args)


def test_blank_comment_and_empty_name_are_skipped() -> None:
    assert parse_line("") is None
    assert parse_line("# x") is None
    assert parse_line('"" x') is None


def test_container_args_use_the_last_gt() -> None:
    assert container_args("a>b>") == ("a>b", "")
    assert container_args("/a>Require all granted") == ("/a", "Require all granted")
    assert container_args("x") == (None, "")
