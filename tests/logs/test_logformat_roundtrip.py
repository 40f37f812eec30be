"""Round trip: lines written the way httpd writes them, for random formats, parse back exactly."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.logs.logformat import compile_format


def _escape(text: str) -> str:
    """httpd's ap_escape_logitem: backslash and quote escaped, control bytes as \\xhh."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


_TEXT = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=40)
_TOKEN = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20
).filter(lambda s: s != "-")
_INT = st.integers(min_value=0, max_value=10**12)

# (format item, parse_line key, strategy of values, render a value into the line, the value
# parse_line must give)
Render = Callable[[object], str]
Expect = Callable[[object], object]
Item = tuple[str, str, st.SearchStrategy[object], Render, Expect]
ITEMS: list[Item] = [
    # httpd escapes these too (log_remote_host, log_remote_user call ap_escape_logitem)
    ("%h", "h", _TOKEN, lambda v: _escape(str(v)), lambda v: v),
    ("%u", "u", _TOKEN, lambda v: _escape(str(v)), lambda v: v),
    ("%>s", ">s", st.integers(100, 599), str, lambda v: v),
    ("%b", "b", st.one_of(_INT, st.just("-")), str, lambda v: None if v == "-" else v),
    ("%D", "D", _INT, str, lambda v: v),
    ("%k", "k", st.integers(0, 1000), str, lambda v: v),
    ("%{us}T", "{us}T", _INT, str, lambda v: v),
    ("%X", "X", st.sampled_from(["+", "X"]), str, lambda v: v),
    ('"%r"', "r", _TEXT.filter(lambda s: s != "-"), lambda v: f'"{_escape(str(v))}"', lambda v: v),
    (
        '"%{Referer}i"',
        "{Referer}i",
        _TEXT.filter(lambda s: s != "-"),
        lambda v: f'"{_escape(str(v))}"',
        lambda v: v,
    ),
    (
        "%t",
        "t",
        st.sampled_from(["01/May/2024:10:00:01 +0000", "31/Dec/1999:23:59:59 -0130"]),
        lambda v: f"[{v}]",
        lambda v: v,
    ),
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(range(len(ITEMS))), min_size=1, max_size=8, unique=True), st.data())
def test_random_format_round_trip(picked: list[int], data: st.DataObject) -> None:
    items = [ITEMS[i] for i in picked]
    fmt = " ".join(item[0] for item in items)
    values = [data.draw(item[2]) for item in items]
    line = " ".join(item[3](v) for item, v in zip(items, values, strict=True))
    parsed = compile_format(fmt).parse_line(line.encode())
    assert parsed is not None, (fmt, line)
    for item, value in zip(items, values, strict=True):
        assert parsed[item[1]] == item[4](value), (fmt, line, item[1])
