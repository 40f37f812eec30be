"""Directive tables: the generated table and the GLOBAL_ONLY list hold what httpd registers."""

from __future__ import annotations

import pytest

from capplan.config.directives import (
    DEBIAN_STATIC_MODULES,
    GLOBAL_ONLY,
    Arity,
    Command,
    Context,
    shared_module,
    static_identifier,
    static_module,
)


@pytest.mark.parametrize(
    ("identifier", "so", "source", "directive"),
    [
        ("mpm_event_module", "mod_mpm_event.so", "event.c", "asyncrequestworkerfactor"),
        ("mpm_worker_module", "mod_mpm_worker.so", "worker.c", "threadsperchild"),
        ("mpm_prefork_module", "mod_mpm_prefork.so", "prefork.c", "maxspareservers"),
        ("status_module", "mod_status.so", "mod_status.c", None),
        ("ssl_module", "mod_ssl.so", "mod_ssl.c", "sslengine"),
        ("ldap_module", "mod_ldap.so", "util_ldap.c", "ldapcacheentries"),
    ],
)
def test_shared_modules(identifier: str, so: str, source: str, directive: str | None) -> None:
    info = shared_module(identifier, f"/usr/lib/apache2/modules/{so}")
    assert info.source == source
    assert info.directives is not None
    if directive is not None:
        assert directive in info.directives


def test_unknown_module_derives_its_source_name() -> None:
    info = shared_module("php_module", "/usr/lib/apache2/modules/libphp8.2.so")
    assert (info.source, info.directives) == ("libphp8.2.c", None)
    assert shared_module("x_module", "modules/mod_mpm_itk.so").source == "itk.c"


def test_static_modules() -> None:
    assert [static_identifier(s) for s in DEBIAN_STATIC_MODULES[:4]] == [
        "core_module",
        "so_module",
        "watchdog_module",
        "http_module",
    ]
    core = static_module("core.c").directives
    assert core is not None
    assert core["<virtualhost"] == Command(
        "<VirtualHost", Context.SERVER, None, core["<virtualhost"].usage
    )
    assert core["include"].context is Context.ANY
    assert core["timeout"] == Command(
        "Timeout", Context.SERVER, Arity.TAKE1, "Timeout duration (sec)"
    )
    version = static_module("mod_version.c").directives
    assert version is not None
    assert list(version) == ["<ifversion"]


@pytest.mark.parametrize(
    ("arity", "args", "ok"),
    [
        (Arity.TAKE1, ("a",), True),
        (Arity.TAKE1, (), False),
        (Arity.TAKE1, ("",), False),
        (Arity.TAKE1, ("a", "b"), False),
        (Arity.TAKE2, ("a", "b"), True),
        (Arity.TAKE2, ("a", ""), False),
        (Arity.TAKE12, ("a", ""), True),
        (Arity.TAKE12, ("a", "b", "c"), False),
        (Arity.TAKE123, ("a", "b", "c"), True),
        (Arity.ITERATE, ("",), True),
        (Arity.ITERATE, (), False),
        (Arity.ITERATE2, ("a",), False),
        (Arity.FLAG, ("ON", "extra"), True),
        (Arity.FLAG, ("yes",), False),
        (Arity.NO_ARGS, ("x",), False),
    ],
    ids=repr,
)
def test_argument_counts(arity: Arity, args: tuple[str, ...], ok: bool) -> None:
    command = Command("X", Context.ANY, arity, "usage")
    assert (command.arity_error(args) is None) is ok


def test_argument_count_messages() -> None:
    assert Command("Timeout", Context.SERVER, Arity.TAKE1, "Timeout duration (sec)").arity_error(
        ()
    ) == ("Timeout takes one argument, Timeout duration (sec)")
    assert Command("KeepAlive", Context.SERVER, Arity.FLAG, "x").arity_error(("maybe",)) == (
        "KeepAlive must be On or Off"
    )


def test_static_mpm_is_known_by_source_and_symbol() -> None:
    info = static_module("event.c")
    assert info.identifier == "mpm_event_module"
    assert info.directives is not None
    assert "asyncrequestworkerfactor" in info.directives
    assert static_module("mod_foo.c").directives is None


def test_global_only_holds_the_mpm_sizing_directives() -> None:
    for name in (
        "maxrequestworkers",
        "serverlimit",
        "threadlimit",
        "threadsperchild",
        "startservers",
        "minsparethreads",
        "maxsparethreads",
        "minspareservers",
        "maxspareservers",
        "listen",
        "listenbacklog",
        "asyncrequestworkerfactor",
        "maxconnectionsperchild",
        "pidfile",
    ):
        assert name in GLOBAL_ONLY
    assert "keepalivetimeout" not in GLOBAL_ONLY  # allowed in <VirtualHost>
    assert "timeout" not in GLOBAL_ONLY
