"""Property tests: whatever bytes a config holds, the evaluator answers or raises CapplanError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.config.evaluator import evaluate_config
from capplan.config.fs import MemoryFileSystem
from capplan.errors import CapplanError

ROOT = "/srv/p"
MODULES = "/usr/lib/apache2/modules"

WORDS = st.sampled_from(
    [
        "<IfModule",
        "</IfModule>",
        "<IfDefine",
        "</IfDefine>",
        "<IfVersion",
        "</IfVersion>",
        "<IfFile",
        "<IfDirective",
        "<IfSection",
        "<VirtualHost",
        "</VirtualHost>",
        "<Directory",
        "</Directory>",
        "<Location",
        "</Location>",
        "<Files",
        "</Files>",
        ">",
        "!",
        "Define",
        "UnDefine",
        "Include",
        "IncludeOptional",
        "ServerRoot",
        "LoadModule",
        "LoadFile",
        "MaxRequestWorkers",
        "ThreadsPerChild",
        "Timeout",
        "Require",
        "Error",
        "${X}",
        "${",
        "}",
        "X",
        "a.conf",
        "d",
        "d/*",
        "*.conf",
        "[a-",
        "event.c",
        "mpm_event_module",
        f"{MODULES}/mod_mpm_event.so",
        "2.4",
        ">=",
        "~",
        "/x/",
        "\\",
        '"',
        "'",
        "#",
        ":",
        "a:b",
        "\t",
        "\r",
        "\x00",
        "\ufeff",
        "Use",
        "<Macro",
    ]
)
LINES = st.lists(WORDS, max_size=6).map(" ".join)
SOUP = st.lists(LINES, max_size=40).map("\n".join)


def _evaluate(files: dict[str, bytes]) -> None:
    tree: dict[str, bytes | str] = {f"{ROOT}/{name}": data for name, data in files.items()}
    tree[f"{MODULES}/mod_mpm_event.so"] = b""
    try:
        evaluate_config(f"{ROOT}/httpd.conf", fs=MemoryFileSystem(tree), environ={"X": "x y"})
    except CapplanError as exc:
        line = exc.render().splitlines()[0]
        assert line
        assert "Traceback" not in line


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash(data: bytes) -> None:
    _evaluate({"httpd.conf": data})


@settings(max_examples=400, deadline=None)
@given(SOUP, SOUP, SOUP)
def test_directive_soup_never_crashes(main: str, included: str, nested: str) -> None:
    _evaluate(
        {
            "httpd.conf": main.encode("utf-8", "surrogateescape"),
            "a.conf": included.encode("utf-8", "surrogateescape"),
            "d/b.conf": nested.encode("utf-8", "surrogateescape"),
        }
    )


def _outcome(text: str) -> tuple[str, list[tuple[str, tuple[str, ...], int, tuple[str, ...]]]]:
    tree: dict[str, bytes | str] = {
        f"{ROOT}/httpd.conf": text.encode("utf-8", "surrogateescape"),
        f"{MODULES}/mod_mpm_event.so": b"",
    }
    try:
        result = evaluate_config(
            f"{ROOT}/httpd.conf",
            fs=MemoryFileSystem(tree),
            environ={"X": "x y"},
            check_mpm=False,  # compares the two readers; the MPM rule has no line to shift
        )
    except CapplanError as exc:
        return exc.render().splitlines()[0], []
    return "", [(d.name, d.args, d.location.line, d.sections) for d in result.directives]


@settings(max_examples=400, deadline=None)
@given(SOUP)
def test_fast_reader_agrees_with_general_reader(main: str) -> None:
    """A file holding a character str.split() treats as space (here in a first comment line)
    is read entirely by the general word splitter; the result must not change."""
    error, directives = _outcome(main)
    slow_error, slow_directives = _outcome("# \x1c\n" + main)
    shifted = [(n, a, line - 1, s) for n, a, line, s in slow_directives]
    assert shifted == directives
    if error:
        path, line, message = slow_error.split(":", 2)
        assert f"{path}:{int(line) - 1}:{message}" == error
