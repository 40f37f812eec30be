"""Directive tables: which module registers which directive, in which context, and which
directives httpd accepts only in the main server.

Input: a module identifier or source file name; output: its commands (name, context, argument
rule, usage text). Source of the tables: `directive_table.json`, generated from Debian's apache2
2.4.71 by `tests/data/config/gen_directive_table.py` (`apache2 -L` with every shipped module
loaded, `<IfModule mod_X.c>` probes for the source file names, and httpd's own messages for zero
and one argument for the argument rules). `GLOBAL_ONLY` below was produced by the same script's
`--global-only` probe (each server-context directive tried inside `<VirtualHost>`).
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from enum import Enum
from functools import cache
from pathlib import Path
from typing import assert_never

# Debian's compiled-in modules (`apache2 -l`), in prelink order.
DEBIAN_STATIC_MODULES: tuple[str, ...] = (
    "core.c",
    "mod_so.c",
    "mod_watchdog.c",
    "http_core.c",
    "mod_log_config.c",
    "mod_logio.c",
    "mod_version.c",
    "mod_unixd.c",
)

# Static modules whose symbol is not derived from the source name as mod_X.c → X_module.
_STATIC_IDENTIFIERS = {"core.c": "core_module", "http_core.c": "http_module"}

# NOTE: each MPM's set_* handler and core.c handlers call ap_check_cmd_context(cmd, GLOBAL_ONLY):
# the directive is refused inside <VirtualHost> ("X cannot occur within <VirtualHost> section").
GLOBAL_ONLY: frozenset[str] = frozenset(
    name.lower()
    for name in (
        "AcceptFilter",
        "AsyncRequestWorkerFactor",
        "AuthnCacheEnable",
        "AuthnCacheSOCache",
        "AuthnzFcgiDefineProvider",
        "ChrootDir",
        "CoreDumpDirectory",
        "ExtendedStatus",
        "GlobalLog",
        "GracefulShutdownTimeout",
        "Group",
        "HeartbeatAddress",
        "HeartbeatListen",
        "HeartbeatMaxServers",
        "HeartbeatStorage",
        "LDAPCacheEntries",
        "LDAPCacheTTL",
        "LDAPConnectionTimeout",
        "LDAPLibraryDebug",
        "LDAPOpCacheEntries",
        "LDAPOpCacheTTL",
        "LDAPRetries",
        "LDAPRetryDelay",
        "LDAPSharedCacheFile",
        "LDAPSharedCacheSize",
        "LDAPTimeout",
        "LDAPTrustedGlobalCert",
        "LDAPVerifyServerCert",
        "Listen",
        "ListenBacklog",
        "ListenCoresBucketsRatio",
        "ListenTCPDeferAccept",
        "MaxClients",
        "MaxConnectionsPerChild",
        "MaxMemFree",
        "MaxRequestsPerChild",
        "MaxRequestWorkers",
        "MaxSpareServers",
        "MaxSpareThreads",
        "MinSpareServers",
        "MinSpareThreads",
        "Mutex",
        "PidFile",
        "ProxyHCTPsize",
        "ReceiveBufferSize",
        "RegexDefaultOptions",
        "RegisterHttpMethod",
        "ScoreBoardFile",
        "ScriptSock",
        "SeeRequestTail",
        "SendBufferSize",
        "ServerLimit",
        "ServerTokens",
        "SessionCryptoDriver",
        "SSLCryptoDevice",
        "SSLFIPS",
        "SSLPassPhraseDialog",
        "SSLRandomSeed",
        "SSLSessionCache",
        "SSLStaplingCache",
        "SSLVHostSNIPolicy",
        "StartServers",
        "Suexec",
        "ThreadLimit",
        "ThreadsPerChild",
        "ThreadStackSize",
        "User",
        "WatchdogInterval",
        "xml2EncAlias",
    )
)


class Context(Enum):
    """Where a directive may appear, from its `req_override` (apache2 -L "Allowed in")."""

    SERVER = "server"  # RSRC_CONF only: main server and <VirtualHost>, not <Directory> & co.
    DIRECTORY = "directory"  # ACCESS_CONF only: inside <Directory>, <Location>, <Files>, <If>.
    ANY = "any"


class Arity(Enum):
    """A command's `args_how` as far as server/config.c invoke_cmd() checks argument counts."""

    NO_ARGS = "no_args"
    TAKE1 = "take1"
    TAKE2 = "take2"
    TAKE3 = "take3"
    TAKE12 = "take12"
    TAKE23 = "take23"
    TAKE123 = "take123"
    TAKE13 = "take13"
    ITERATE = "iterate"
    ITERATE2 = "iterate2"
    FLAG = "flag"


# invoke_cmd()'s words for each; FLAG and NO_ARGS carry no usage text after them.
_PHRASES = {
    Arity.NO_ARGS: " takes no arguments",
    Arity.TAKE1: " takes one argument",
    Arity.TAKE2: " takes two arguments",
    Arity.TAKE3: " takes three arguments",
    Arity.TAKE12: " takes 1-2 arguments",
    Arity.TAKE23: " takes 2-3 arguments",
    Arity.TAKE123: " takes one, two or three arguments",
    Arity.TAKE13: " takes one or three arguments",
    Arity.ITERATE: " requires at least one argument",
    Arity.ITERATE2: " requires at least two arguments",
    Arity.FLAG: " must be On or Off",
}


def _arity_ok(arity: Arity, args: tuple[str, ...]) -> bool:
    """NOTE: server/config.c invoke_cmd(): an empty first word (`""`) counts as missing."""
    count = len(args)
    first = count > 0 and args[0] != ""
    match arity:
        case Arity.NO_ARGS:
            return count == 0
        case Arity.TAKE1:
            return count == 1 and first
        case Arity.TAKE2:
            return count == 2 and first and args[1] != ""
        case Arity.TAKE3:
            return count == 3 and first and args[1] != "" and args[2] != ""
        case Arity.TAKE12:
            return first and count <= 2
        case Arity.TAKE23:
            return 2 <= count <= 3 and first and args[1] != ""
        case Arity.TAKE123:
            return first and count <= 3
        case Arity.TAKE13:
            return first and (count in {1, 3} or (count == 2 and args[1] == ""))
        case Arity.ITERATE:
            return count >= 1
        case Arity.ITERATE2:
            return first and count >= 2
        case Arity.FLAG:
            return first and args[0].lower() in ("on", "off")
    assert_never(arity)


@dataclass(frozen=True, slots=True)
class Command:
    """One directive a module registers: its registered name, context, argument rule, usage."""

    name: str
    context: Context
    arity: Arity | None  # None: the handler parses its own arguments
    usage: str

    def arity_error(self, args: tuple[str, ...]) -> str | None:
        """httpd's message when `args` break the argument-count rule, else None."""
        if self.arity is None or _arity_ok(self.arity, args):
            return None
        phrase = self.name + _PHRASES[self.arity]
        if self.usage and self.arity not in (Arity.FLAG, Arity.NO_ARGS):
            return f"{phrase}, {self.usage}"
        return phrase


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """What one module brings: its source file name and its commands (lower-cased keys)."""

    identifier: str
    source: str
    directives: dict[str, Command] | None  # None: module not in the table


_Raw = dict[str, list[str]]  # directive → [context, args_how or "", usage]


@dataclass(frozen=True, slots=True)
class _Table:
    static: dict[str, _Raw]  # source file → its directives
    modules: dict[str, tuple[str, _Raw]]  # identifier → (source file, directives)


@cache
def _table() -> _Table:
    raw = json.loads(Path(__file__).with_name("directive_table.json").read_text("utf-8"))
    return _Table(
        static={source: dict(names) for source, names in raw["static"].items()},
        modules={
            ident: (str(entry["source"]), dict(entry["directives"]))
            for ident, entry in raw["modules"].items()
        },
    )


def _directives(raw: _Raw) -> dict[str, Command]:
    return {
        name.lower(): Command(name, Context(context), Arity(arity) if arity else None, usage)
        for name, (context, arity, usage) in raw.items()
    }


_MPM_SOURCES = frozenset({"event.c", "worker.c", "prefork.c"})


def static_identifier(source: str) -> str:
    """`mod_so.c` → `so_module`, `core.c` → `core_module`, `event.c` → `mpm_event_module`
    (the symbol `-M` prints for a compiled-in module)."""
    if source in _STATIC_IDENTIFIERS:
        return _STATIC_IDENTIFIERS[source]
    stem = source.removesuffix(".c")
    if source in _MPM_SOURCES:
        return f"mpm_{stem}_module"
    return stem.removeprefix("mod_") + "_module"


@cache
def static_module(source: str) -> ModuleInfo:
    """A compiled-in module by source file name; its directives come from the static table,
    or from the shared build of the same module (a static MPM registers what its DSO does)."""
    identifier = static_identifier(source)
    raw = _table().static.get(source)
    if raw is None:
        entry = _table().modules.get(identifier)
        if entry is not None and entry[0] == source:
            raw = entry[1]
    return ModuleInfo(identifier, source, None if raw is None else _directives(raw))


@cache
def shared_module(identifier: str, so_path: str) -> ModuleInfo:
    """A `LoadModule identifier path` module: table entry, else the source name derived from the
    shared object's file name (`mod_X.so` → `mod_X.c`, `mod_mpm_X.so` → `X.c`)."""
    entry = _table().modules.get(identifier)
    if entry is not None:
        return ModuleInfo(identifier, entry[0], _directives(entry[1]))
    base = posixpath.basename(so_path)
    stem = base.removesuffix(".so")
    mpm = stem.startswith("mod_mpm_")
    source = (stem.removeprefix("mod_mpm_") if mpm else stem) + ".c"
    return ModuleInfo(identifier, source, None)
