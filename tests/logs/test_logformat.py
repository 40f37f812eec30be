"""LogFormat compiler: every supported % item parses a real-looking line into the right value."""

from __future__ import annotations

from pathlib import Path

import pytest

from capplan.config.evaluator import evaluate_config
from capplan.errors import CapplanError
from capplan.logs.logformat import (
    COMBINED_FORMAT,
    COMMON_FORMAT,
    compile_format,
    format_from_directives,
    unescape,
)

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent.parent / "data" / "logs"

# (id, format, line, key, expected value)
FIELDS: list[tuple[str, str, str, str, object]] = [
    ("h", "%h %>s", "192.0.2.7 200", "h", "192.0.2.7"),
    ("h-ipv6", "%h %>s", "2001:db8::1 200", "h", "2001:db8::1"),
    ("a", "%a %>s", "198.51.100.2 200", "a", "198.51.100.2"),
    ("a-peer", "%{c}a %>s", "10.0.0.1 404", "{c}a", "10.0.0.1"),
    ("l-dash", "%l %u", "- -", "l", None),
    ("u", "%l %u", "- alice", "u", "alice"),
    ("t", "%t", "[10/Oct/2000:13:55:36 -0700]", "t", "10/Oct/2000:13:55:36 -0700"),
    (
        "t-strftime",
        "%{%Y-%m-%dT%H:%M:%S%z}t",
        "2024-05-01T12:00:01+0200",
        "{%Y-%m-%dT%H:%M:%S%z}t",
        "2024-05-01T12:00:01+0200",
    ),
    ("t-sec", "%{sec}t", "1714557601", "{sec}t", 1714557601),
    ("t-msec", "%{msec}t", "1714557601123", "{msec}t", 1714557601123),
    ("t-usec", "%{usec}t", "1714557601123456", "{usec}t", 1714557601123456),
    ("t-msec_frac", "%t.%{msec_frac}t", "[01/May/2024:10:00:01 +0000].042", "{msec_frac}t", 42),
    ("t-usec_frac", "%t %{usec_frac}t", "[01/May/2024:10:00:01 +0000] 000042", "{usec_frac}t", 42),
    ("t-begin", "%{begin:msec}t", "1714557601123", "{begin:msec}t", 1714557601123),
    ("t-end", "%{end:usec}t", "1714557601123456", "{end:usec}t", 1714557601123456),
    (
        "t-end-strftime",
        "[%{end:%d/%b/%Y:%H:%M:%S %z}t]",
        "[01/May/2024:10:00:01 +0000]",
        "{end:%d/%b/%Y:%H:%M:%S %z}t",
        "01/May/2024:10:00:01 +0000",
    ),
    ("r", '"%r"', '"GET /a?b=1 HTTP/1.1"', "r", "GET /a?b=1 HTTP/1.1"),
    ("r-escaped-quote", '"%r" %>s', '"GET /\\"x\\" HTTP/1.1" 400', "r", 'GET /"x" HTTP/1.1'),
    ("r-hex-escape", '"%r"', '"GET /\\x01 HTTP/1.1"', "r", "GET /\x01 HTTP/1.1"),
    ("r-backslash", '"%r"', '"GET /a\\\\b HTTP/1.1"', "r", "GET /a\\b HTTP/1.1"),
    ("final-status", "%>s", "302", ">s", 302),
    ("original-status", "%<s %>s", "302 200", "<s", 302),
    ("status", "%s", "500", "s", 500),
    ("b", "%b", "2326", "b", 2326),
    ("b-dash", "%b", "-", "b", None),
    ("B", "%B", "0", "B", 0),
    ("D", "%D", "1234567", "D", 1234567),
    ("T", "%T", "3", "T", 3),
    ("T-ms", "%{ms}T", "1234", "{ms}T", 1234),
    ("T-us", "%{us}T", "1234567", "{us}T", 1234567),
    ("T-s", "%{s}T", "1", "{s}T", 1),
    ("k", "%k", "7", "k", 7),
    ("X-aborted", "%X", "X", "X", "X"),
    ("X-kept", "%X", "+", "X", "+"),
    ("X-closed", "%X", "-", "X", None),
    ("I", "%I %O", "512 4096", "I", 512),
    ("O", "%I %O", "512 4096", "O", 4096),
    ("S", "%S", "4608", "S", 4608),
    ("ttfb", "%^FB", "1500", "^FB", 1500),
    ("P", "%P", "4242", "P", 4242),
    ("P-tid", "%{tid}P", "140251327289088", "{tid}P", 140251327289088),
    ("P-pid", "%{pid}P", "4242", "{pid}P", 4242),
    ("v", "%v %V", "www.example.org example.org", "v", "www.example.org"),
    ("V", "%v %V", "www.example.org example.org", "V", "example.org"),
    ("p", "%p", "443", "p", 443),
    ("vhost-port", "%v:%p %h", "www.example.org:443 192.0.2.1", "v", "www.example.org"),
    ("port-after-vhost", "%v:%p %h", "www.example.org:443 192.0.2.1", "p", 443),
    ("adjacent-fields", "%{sec}t%{msec_frac}t", "1714557601042", "{msec_frac}t", 42),
    ("p-remote", "%{remote}p", "51234", "{remote}p", 51234),
    ("p-local", "%{local}p", "8080", "{local}p", 8080),
    (
        "i-referer",
        '"%{Referer}i"',
        '"https://example.org/a b"',
        "{Referer}i",
        "https://example.org/a b",
    ),
    ("i-dash", '"%{Referer}i"', '"-"', "{Referer}i", None),
    (
        "i-agent-escapes",
        '"%{User-Agent}i"',
        '"Mozilla/5.0 \\"x\\" (X11)"',
        "{User-Agent}i",
        'Mozilla/5.0 "x" (X11)',
    ),
    ("i-unquoted", "%{Host}i %>s", "example.org 200", "{Host}i", "example.org"),
    (
        "o",
        '"%{Content-Type}o"',
        '"text/html; charset=utf-8"',
        "{Content-Type}o",
        "text/html; charset=utf-8",
    ),
    ("e", "%{UNIQUE_ID}e", "ZjE3Mzg", "{UNIQUE_ID}e", "ZjE3Mzg"),
    ("n", "%{ratio}n", "87", "{ratio}n", "87"),
    ("f", "%f", "/var/www/html/index.html", "f", "/var/www/html/index.html"),
    ("U", "%U%q", "/search?q=1", "U", "/search"),
    ("q", "%U%q", "/search?q=1", "q", "?q=1"),
    ("q-empty", "%U%q %>s", "/search 200", "q", ""),
    ("m", "%m %H", "POST HTTP/2.0", "m", "POST"),
    ("H", "%m %H", "POST HTTP/2.0", "H", "HTTP/2.0"),
    ("R", "%R", "proxy-server", "R", "proxy-server"),
    ("L", "%L", "ZjE3MzgAAAE", "L", "ZjE3MzgAAAE"),
    ("A", "%A", "10.1.1.1", "A", "10.1.1.1"),
    ("percent", "%% %>s", "% 200", ">s", 200),
    ("condition-match", '"%400,501{User-agent}i"', '"curl/8"', "{User-agent}i", "curl/8"),
    ("condition-dash", '"%400,501{User-agent}i"', '"-"', "{User-agent}i", None),
    ("condition-negated-int", "%!200D", "-", "D", None),
    ("C", '"%{session}C"', '"abc123"', "{session}C", "abc123"),
]


@pytest.mark.parametrize(
    ("fmt", "line", "key", "expected"),
    [case[1:] for case in FIELDS],
    ids=[case[0] for case in FIELDS],
)
def test_field_parses(fmt: str, line: str, key: str, expected: object) -> None:
    compiled = compile_format(fmt)
    values = compiled.parse_line(line.encode())
    assert values is not None, f"{line!r} did not match {compiled.regex.pattern!r}"
    assert values[key] == expected


COMBINED_LINES: list[tuple[str, str, dict[str, object]]] = [
    (
        "plain",
        '203.0.113.9 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 '
        '2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"',
        {
            "h": "203.0.113.9",
            "u": "frank",
            ">s": 200,
            "b": 2326,
            "{User-Agent}i": "Mozilla/4.08 [en] (Win98; I ;Nav)",
        },
    ),
    (
        "placeholders",
        '203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "-" 408 - "-" "-"',
        {"u": None, "r": None, ">s": 408, "b": None, "{Referer}i": None},
    ),
    (
        "escaped-quotes-everywhere",
        '203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /\\"q\\" HTTP/1.1" 404 12 '
        '"http://x/\\"r\\"" "UA \\\\ \\"z\\""',
        {"r": 'GET /"q" HTTP/1.1', "{Referer}i": 'http://x/"r"', "{User-Agent}i": 'UA \\ "z"'},
    ),
]


@pytest.mark.parametrize(
    ("line", "expected"), [c[1:] for c in COMBINED_LINES], ids=[c[0] for c in COMBINED_LINES]
)
def test_combined_lines(line: str, expected: dict[str, object]) -> None:
    values = compile_format(COMBINED_FORMAT).parse_line(line.encode())
    assert values is not None
    for key, value in expected.items():
        assert values[key] == value, key


@pytest.mark.parametrize(
    "line",
    [
        '203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200',
        '203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" abc 5',
        "garbage",
        "",
    ],
    ids=["truncated", "status-not-a-number", "garbage", "empty"],
)
def test_non_matching_lines(line: str) -> None:
    assert compile_format(COMMON_FORMAT).parse_line(line.encode()) is None


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("%h %Y", "Unrecognized LogFormat directive %Y"),
        ("%h %", "ends inside a % item"),
        ("%{%Q}t", "strftime conversion %Q is not supported"),
    ],
    ids=["unknown-letter", "dangling-percent", "bad-strftime"],
)
def test_bad_formats(fmt: str, message: str) -> None:
    with pytest.raises(CapplanError, match=message):
        compile_format(fmt)


def test_unescape_matches_ap_escape_logitem() -> None:
    assert unescape(b'a\\"b\\\\c\\x41\\n') == 'a"b\\cA\n'


@pytest.mark.parametrize(
    ("config", "nickname", "expected"),
    [
        (
            "examples/debian/apache2/apache2.conf",
            "combined",
            '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
        ),
        (
            "examples/debian/apache2/apache2.conf",
            "vhost_combined",
            '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
        ),
        (
            "examples/debian/apache2/apache2.conf",
            None,
            '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
        ),
        (
            "tests/data/logs/httpd.conf",
            None,
            '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D %k %X',
        ),
        ("tests/data/logs/httpd.conf", "timing", "%a %{usec}t %{us}T %k %X %>s"),
    ],
    ids=[
        "debian-combined",
        "debian-vhost-combined",
        "debian-first-customlog",
        "own-customlog",
        "own-nickname",
    ],
)
def test_nickname_from_config(config: str, nickname: str | None, expected: str) -> None:
    evaluated = evaluate_config(REPO / config)
    fmt, _, _ = format_from_directives(evaluated.directives, nickname)
    assert fmt == expected
    compile_format(fmt)


def test_unknown_nickname_lists_the_defined_ones() -> None:
    evaluated = evaluate_config(DATA / "httpd.conf")
    with pytest.raises(CapplanError, match=r"no LogFormat named 'nope' \(defined: .*timing"):
        format_from_directives(evaluated.directives, "nope")


def _config(tmp_path: Path, body: str) -> Path:
    """A minimal config under `tmp_path` that loads an MPM (httpd refuses to start without)."""
    (tmp_path / "modules").mkdir(exist_ok=True)
    (tmp_path / "modules" / "mod_mpm_event.so").write_bytes(b"")
    conf = tmp_path / "httpd.conf"
    conf.write_text(
        f'ServerRoot "{tmp_path}"\nLoadModule mpm_event_module modules/mod_mpm_event.so\n' + body
    )
    return conf


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ('LogFormat "%h %t %D" \nTransferLog logs/access.log\n', "%h %t %D"),
        ("TransferLog logs/access.log\n", COMMON_FORMAT),
        ('CustomLog logs/a.log "%h %t %{us}T"\n', "%h %t %{us}T"),
    ],
    ids=["transferlog-plain-logformat", "transferlog-default", "customlog-inline-format"],
)
def test_format_without_nickname(tmp_path: Path, config: str, expected: str) -> None:
    conf = _config(tmp_path, config)
    fmt, _, _ = format_from_directives(evaluate_config(conf, check_mpm=False).directives, None)
    assert fmt == expected


def test_customlog_naming_an_undefined_format(tmp_path: Path) -> None:
    conf = _config(tmp_path, "CustomLog logs/a.log missing\n")
    with pytest.raises(CapplanError, match="names the format 'missing', which no LogFormat"):
        format_from_directives(evaluate_config(conf, check_mpm=False).directives, None)


def test_stock_formats_match_the_upstream_example() -> None:
    """The upstream example (ServerRoot /usr/local/apache2) read through an in-memory tree at
    that root: its CustomLog and nicknames are httpd's stock strings, which capplan ships."""
    from capplan.config.fs import MemoryFileSystem
    from capplan.logs.logformat import BUILTIN_FORMATS

    root = REPO / "examples" / "upstream"
    files: dict[str, bytes | str] = {
        f"/usr/local/apache2/{p.relative_to(root)}": p.read_bytes()
        for p in root.rglob("*")
        if p.is_file()
    }
    main_conf = "/usr/local/apache2/conf/httpd.conf"
    for line in (root / "conf" / "httpd.conf").read_text().splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "LoadModule":
            files[f"/usr/local/apache2/{words[2]}"] = b""  # the module files need only exist
    directives = evaluate_config(main_conf, fs=MemoryFileSystem(files)).directives
    assert format_from_directives(directives, None)[0] == BUILTIN_FORMATS["common"]
    for nickname in ("common", "combined"):
        assert format_from_directives(directives, nickname)[0] == BUILTIN_FORMATS[nickname]


@pytest.mark.parametrize(
    ("log", "nickname"),
    [
        ("/var/log/apache2/access.log", "combined"),
        ("access.log.2.gz", "combined"),
        ("shop-access.log-20240501", "combined"),
        ("other_vhosts_access.log.1", "vhost_combined"),
        ("unrelated.log", "vhost_combined"),  # no match: the first CustomLog httpd reads
    ],
    ids=["access", "rotated-gz", "dateext", "other-vhosts", "no-match"],
)
def test_customlog_chosen_by_log_file_name(log: str, nickname: str) -> None:
    evaluated = evaluate_config(REPO / "examples/debian/apache2/apache2.conf")
    want, _, _ = format_from_directives(evaluated.directives, nickname)
    assert format_from_directives(evaluated.directives, None, log)[0] == want


@pytest.mark.parametrize(
    ("fmt", "index", "possessive"),
    [
        ("%h %l", 0, True),  # a space follows: \S++ never needs to give back
        ("%v:%p", 0, False),  # ":" is \S: %v must be able to give back ":443"
        ("%D %k", 1, True),  # the line ends after %k
        ("%{sec}t%D", 0, False),  # another field follows directly
    ],
    ids=["token-before-space", "token-before-colon", "last-field", "field-follows"],
)
def test_possessive_only_where_safe(fmt: str, index: int, possessive: bool) -> None:
    pattern = compile_format(fmt).fields[index].pattern
    assert pattern.endswith(b"++") == possessive
