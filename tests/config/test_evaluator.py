# ruff: noqa: E501  (each table row holds a whole small config file inline)
"""Evaluator rules on in-memory trees: one case per httpd reading rule, plus the error cases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from capplan.config.evaluator import evaluate_config
from capplan.config.fs import MemoryFileSystem
from capplan.errors import CapplanError

ROOT = "/srv/httpd"
MODULES = "/usr/lib/apache2/modules"
EVENT = f"LoadModule mpm_event_module {MODULES}/mod_mpm_event.so\n"


def _fs(files: Mapping[str, str | bytes], *, unreadable: tuple[str, ...] = ()) -> MemoryFileSystem:
    tree: dict[str, str | bytes] = {f"{ROOT}/{name}": text for name, text in files.items()}
    for so in ("mpm_event", "mpm_worker", "mpm_prefork", "status", "info", "authz_core", "ssl"):
        tree[f"{MODULES}/mod_{so}.so"] = b"\x7fELF"
    return MemoryFileSystem(tree, unreadable=[f"{ROOT}/{p}" for p in unreadable])


def _stream(files: dict[str, str | bytes], **kwargs: object) -> list[str]:
    """`name arg…` per directive, sections prefixed (`VirtualHost/ServerName x`)."""
    result = evaluate_config(f"{ROOT}/httpd.conf", fs=_fs(files), environ={}, **kwargs)  # type: ignore[arg-type]
    return ["/".join((*d.sections, " ".join((d.name, *d.args)))) for d in result.directives]


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str | bytes]
    expected: list[str]
    defines: dict[str, str] | None = None


CASES = [
    Case(
        "continuation-joins-without-space",
        {"httpd.conf": EVENT + "MaxRequest\\\nWorkers 130\n"},
        ["MaxRequestWorkers 130"],
    ),
    Case(
        "continuation-keeps-leading-space",
        {"httpd.conf": EVENT + "Timeout\\\n   30\n"},
        ["Timeout 30"],
    ),
    Case(
        "comment-continues",
        {"httpd.conf": EVENT + "# note \\\nTimeout 30\nKeepAlive On\n"},
        ["KeepAlive On"],
    ),
    Case(
        "crlf",
        {"httpd.conf": EVENT + "Timeout 30\r\nKeepAlive\\\r\n On\r\n"},
        ["Timeout 30", "KeepAlive On"],
    ),
    Case(
        "backslash-space-is-not-continuation",
        {"httpd.conf": EVENT + "ServerAdmin a\\ \nTimeout 3\n"},
        ["ServerAdmin a\\", "Timeout 3"],
    ),
    Case(
        "quotes",
        {"httpd.conf": EVENT + 'Protocols "a b" \'c d\' "e\\"f" x\\\\y\n'},
        ['Protocols a b c d e"f x\\y'],
    ),
    Case(
        "define-substitutes-before-split",
        {"httpd.conf": EVENT + 'Define X "1 2"\nProtocols ${x}\n'},
        ["Protocols 1 2"],
    ),
    Case(
        "undefined-variable-stays",
        {"httpd.conf": EVENT + "ServerAdmin ${NOPE}\n"},
        ["ServerAdmin ${NOPE}"],
    ),
    Case(
        "ifmodule-before-loadmodule-is-false",
        {
            "httpd.conf": "<IfModule mpm_event_module>\nTimeout 1\n</IfModule>\n"
            + EVENT
            + "<IfModule event.c>\nTimeout 2\n</IfModule>\n"
        },
        ["Timeout 2"],
    ),
    Case(
        "ifmodule-static-and-negation",
        {
            "httpd.conf": EVENT
            + "<IfModule mod_version.c>\nTimeout 1\n</IfModule>\n<IfModule !version_module>\nTimeout 2\n</IfModule>\n<IfModule ! mod_ssl.c>\nTimeout 3\n</IfModule>\n"
        },
        ["Timeout 1", "Timeout 3"],
    ),
    Case(
        "ifdefine-case-sensitive",
        {
            "httpd.conf": EVENT
            + "Define FOO\n<IfDefine foo>\nTimeout 1\n</IfDefine>\n<IfDefine FOO>\nTimeout 2\n</IfDefine>\n"
        },
        ["Timeout 2"],
    ),
    Case(
        "command-line-define",
        {"httpd.conf": EVENT + "<IfDefine X>\nTimeout ${X}\n</IfDefine>\n"},
        ["Timeout 7"],
        {"X": "7"},
    ),
    Case(
        "ifversion",
        {
            "httpd.conf": EVENT
            + "<IfVersion 2.4>\nTimeout 1\n</IfVersion>\n<IfVersion >= 2.4>\nTimeout 2\n</IfVersion>\n<IfVersion ~ ^2\\.4\\.7>\nTimeout 3\n</IfVersion>\n<IfVersion !< 3>\nTimeout 4\n</IfVersion>\n<IfVersion /^2\\.4/>\nTimeout 5\n</IfVersion>\n"
        },
        ["Timeout 2", "Timeout 3", "Timeout 5"],
    ),
    Case(
        "ifdirective-and-ifsection",
        {
            "httpd.conf": "<IfDirective MaxRequestWorkers>\nTimeout 1\n</IfDirective>\n"
            + EVENT
            + "<IfDirective asyncrequestworkerfactor>\nTimeout 2\n</IfDirective>\n<IfSection VirtualHost>\nTimeout 3\n</IfSection>\n<IfSection Proxy>\nTimeout 4\n</IfSection>\n"
        },
        ["Timeout 2", "Timeout 3"],
    ),
    Case(
        "iffile-relative-to-serverroot",
        {
            "httpd.conf": EVENT
            + "<IfFile httpd.conf>\nTimeout 1\n</IfFile>\n<IfFile nope>\nTimeout 2\n</IfFile>\n"
        },
        ["Timeout 1"],
    ),
    Case(
        "true-conditional-unclosed-at-eof",
        {"httpd.conf": EVENT + "<IfModule event.c>\nTimeout 1\n"},
        ["Timeout 1"],
    ),
    Case(
        "false-conditional-body-not-validated",
        {"httpd.conf": EVENT + "<IfModule nope.c>\nBogus directive\n<Foo>\n</Foo>\n</IfModule>\n"},
        [],
    ),
    Case(
        "sections",
        {
            "httpd.conf": EVENT
            + f"LoadModule authz_core_module {MODULES}/mod_authz_core.so\n<VirtualHost *:80>\n<Directory /x>\nRequire all granted\n</Directory>\n</VirtualHost>\n"
        },
        [
            "<VirtualHost *:80",
            "VirtualHost/<Directory /x",
            "VirtualHost/Directory/Require all granted",
        ],
    ),
    Case(
        "directory-include-strcmp-and-dotfiles",
        {
            "httpd.conf": EVENT + "Include d\n",
            "d/b.conf": "Timeout 2\n",
            "d/B.conf": "Timeout 1\n",
            "d/.h": "Timeout 0\n",
            "d/10.conf": "Timeout 10\n",
            "d/9.conf": "Timeout 9\n",
            "d/s/x.txt": "Timeout 11\n",
        },
        ["Timeout 0", "Timeout 10", "Timeout 9", "Timeout 1", "Timeout 2", "Timeout 11"],
    ),
    Case(
        "wildcard-skips-dotfiles",
        {
            "httpd.conf": EVENT + "Include d/*\n",
            "d/.h.conf": "Timeout 0\n",
            "d/a.conf": "Timeout 1\n",
        },
        ["Timeout 1"],
    ),
    Case(
        "wildcard-directory-component",
        {
            "httpd.conf": EVENT + "Include */x.conf\n",
            "a/x.conf": "Timeout 1\n",
            "b/x.conf": "Timeout 2\n",
        },
        ["Timeout 1", "Timeout 2"],
    ),
    Case(
        "include-optional-missing",
        {
            "httpd.conf": EVENT
            + "IncludeOptional nope.conf\nIncludeOptional nope/*.conf\nIncludeOptional *.nope\n"
        },
        [],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_directive_stream(case: Case) -> None:
    assert _stream(case.files, defines=case.defines) == case.expected


@dataclass(frozen=True)
class Bad:
    id: str
    files: dict[str, str | bytes]
    first_line: str
    unreadable: tuple[str, ...] = ()


BAD = [
    Bad(
        "unclosed-vhost",
        {"httpd.conf": EVENT + "<VirtualHost *:80>\n"},
        f"{ROOT}/httpd.conf:2: <VirtualHost> was not closed.",
    ),
    Bad(
        "stray-close",
        {"httpd.conf": EVENT + "</IfModule>\n"},
        f"{ROOT}/httpd.conf:2: </IfModule> without matching <IfModule> section",
    ),
    Bad(
        "mismatched-close",
        {"httpd.conf": EVENT + "<VirtualHost *:80>\n</Directory>\n"},
        f"{ROOT}/httpd.conf:3: Expected </VirtualHost> but saw </Directory>",
    ),
    Bad(
        "false-conditional-unclosed",
        {"httpd.conf": EVENT + "<IfModule nope.c>\nTimeout 1\n"},
        f"{ROOT}/httpd.conf:2: Expected </IfModule> before end of configuration",
    ),
    Bad(
        "missing-include",
        {"httpd.conf": EVENT + "Include nope.conf\n"},
        f"{ROOT}/httpd.conf:2: Could not open configuration file {ROOT}/nope.conf: No such file or directory",
    ),
    Bad(
        "no-match",
        {"httpd.conf": EVENT + "Include *.nope\n"},
        f"{ROOT}/httpd.conf:2: Include/IncludeOptional: No matches for the wildcard '*.nope' in '{ROOT}', failing",
    ),
    Bad(
        "unreadable",
        {"httpd.conf": EVENT + "Include a.conf\n", "a.conf": "Timeout 1\n"},
        f"{ROOT}/httpd.conf:2: Could not open configuration file {ROOT}/a.conf: Permission denied",
        ("a.conf",),
    ),
    Bad(
        "cycle",
        {"httpd.conf": EVENT + "Include a.conf\n", "a.conf": "Include httpd.conf\n"},
        f"{ROOT}/httpd.conf:2: Exceeded maximum include depth of 128, There appears to be a recursion.",
    ),
    Bad(
        "bom",
        {"httpd.conf": "\ufeffServerRoot /\n" + EVENT},
        f"{ROOT}/httpd.conf:1: Invalid command '\\xef\\xbb\\xbfServerRoot', perhaps misspelled or defined by a module not included in the server configuration",
    ),
    Bad(
        "define-colon",
        {"httpd.conf": EVENT + "Define a:b\n"},
        f"{ROOT}/httpd.conf:2: Variable name must not contain ':'",
    ),
    Bad(
        "mpm-in-vhost",
        {
            "httpd.conf": EVENT
            + "<VirtualHost *:80>\n<IfModule event.c>\nMaxRequestWorkers 5\n</IfModule>\n</VirtualHost>\n"
        },
        f"{ROOT}/httpd.conf:4: MaxRequestWorkers cannot occur within <VirtualHost> section",
    ),
    Bad(
        "mpm-in-directory",
        {"httpd.conf": EVENT + "<Directory />\nThreadsPerChild 5\n</Directory>\n"},
        f"{ROOT}/httpd.conf:3: ThreadsPerChild not allowed in <Directory> context",
    ),
    Bad(
        "missing-gt",
        {"httpd.conf": EVENT + "<IfModule event.c\n</IfModule>\n"},
        f"{ROOT}/httpd.conf:2: <IfModule> directive missing closing '>'",
    ),
]


@pytest.mark.parametrize("case", BAD, ids=lambda c: c.id)
def test_bad_input_first_line(case: Bad) -> None:
    with pytest.raises(CapplanError) as caught:
        evaluate_config(
            f"{ROOT}/httpd.conf", fs=_fs(case.files, unreadable=case.unreadable), environ={}
        )
    assert caught.value.render().splitlines()[0] == case.first_line


def test_undefined_variable_is_a_warning() -> None:
    result = evaluate_config(
        f"{ROOT}/httpd.conf", fs=_fs({"httpd.conf": EVENT + "ServerAdmin ${NOPE}\n"}), environ={}
    )
    assert [(w.code, w.message, str(w.location)) for w in result.warnings] == [
        ("AH00111", "Config variable ${NOPE} is not defined", f"{ROOT}/httpd.conf:2")
    ]


def test_loadmodule_twice_warns() -> None:
    result = evaluate_config(
        f"{ROOT}/httpd.conf", fs=_fs({"httpd.conf": EVENT + EVENT}), environ={}
    )
    assert [w.code for w in result.warnings] == ["AH01574"]
    assert [m.identifier for m in result.modules] == ["mpm_event_module"]


def test_error_shows_the_line_a_caret_and_the_include_chain() -> None:
    files = {"httpd.conf": EVENT + "Include a.conf\n", "a.conf": "Timeout 1\n  Include nope.conf\n"}
    with pytest.raises(CapplanError) as caught:
        evaluate_config(f"{ROOT}/httpd.conf", fs=_fs(files), environ={})
    assert caught.value.render().splitlines() == [
        f"{ROOT}/a.conf:2: Could not open configuration file {ROOT}/nope.conf: "
        "No such file or directory",
        "    Include nope.conf",
        "    ^",
        f"(included from {ROOT}/httpd.conf:2)",
    ]


def test_compiled_in_mpm() -> None:
    """A static build (`apache2 -l` lists event.c): both names work and nothing is loaded."""
    conf = (
        "<IfModule event.c>\nTimeout 1\n</IfModule>\n"
        "<IfModule mpm_event_module>\nTimeout 2\n</IfModule>\n"
        "<IfDirective AsyncRequestWorkerFactor>\nTimeout 3\n</IfDirective>\n"
    )
    result = evaluate_config(
        f"{ROOT}/httpd.conf",
        fs=_fs({"httpd.conf": conf}),
        environ={},
        static_modules=("core.c", "mod_so.c", "http_core.c", "event.c"),
    )
    assert [d.args[0] for d in result.directives] == ["1", "2", "3"]
    assert result.modules == ()


@pytest.mark.parametrize(
    "line",
    [
        "IncludeOptional ${NOPE}/x.conf",
        "Define FROM ${NOPE}",
        "<IfDefine ${NOPE}>\n</IfDefine>",
        'ServerAdmin "${NOPE}"',
        "Protocols> ${NOPE}",
    ],
    ids=["include", "define", "conditional", "quoted", "odd-name"],
)
def test_each_undefined_variable_warns_once(line: str) -> None:
    result = evaluate_config(
        f"{ROOT}/httpd.conf", fs=_fs({"httpd.conf": EVENT + line + "\n"}), environ={}
    )
    assert [w.message for w in result.warnings] == ["Config variable ${NOPE} is not defined"]


def test_same_line_follows_redefinitions() -> None:
    conf = (
        "Define V one\nServerAdmin ${V}\nDefine V two\nServerAdmin ${V}\n"
        "UnDefine V\nServerAdmin ${V}\nDefine V three\nServerAdmin ${V}\n"
    )
    result = evaluate_config(f"{ROOT}/httpd.conf", fs=_fs({"httpd.conf": EVENT + conf}), environ={})
    assert [d.args[0] for d in result.directives] == ["one", "two", "${V}", "three"]
    assert [w.code for w in result.warnings] == ["AH00111"]
