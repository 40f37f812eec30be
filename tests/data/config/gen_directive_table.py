"""Regenerate `capplan/config/directive_table.json` from Debian's apache2 (`apache2 -L`).

Provenance: every module in /usr/lib/apache2/modules is loaded into one throw-away config (each
MPM in a run of its own) and `apache2 -L` lists each directive with the source file of the module
that registers it and its "Allowed in" context. `<IfModule mod_X.c>` probes confirm the source file
name of every module identifier, including modules that register no directive.

`--global-only` instead probes every server-context directive inside `<VirtualHost>` and prints
those httpd rejects there ("X cannot occur within <VirtualHost> section"): the GLOBAL_ONLY list
kept in `capplan/config/directives.py`.

Usage: python tests/data/config/gen_directive_table.py [OUTPUT.json | --global-only]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from capplan.config.directives import DEBIAN_STATIC_MODULES

MODULE_DIR = Path("/usr/lib/apache2/modules")
MPMS = ("event", "worker", "prefork")
STATIC_SOURCES = DEBIAN_STATIC_MODULES
# Dependencies first, so that every module finds the symbols it needs when it is loaded.
LOAD_FIRST = (
    "proxy",
    "ldap",
    "dav",
    "session",
    "http2",
    "ssl",
    "cache",
    "dbd",
    "proxy_balancer",
    "xml2enc",
    "authn_core",
    "authz_core",
    "slotmem_shm",
    "socache_shmcb",
)
# Modules whose source file is not named after the .so file.
SOURCE_EXCEPTIONS = {"ldap_module": "util_ldap.c"}
CONTEXTS = {
    "Allowed in *.conf only outside <Directory>, <Files>, <Location>, or <If>": "server",
    "Allowed in *.conf only inside <Directory>, <Files>, <Location>, or <If>": "directory",
    "Allowed in *.conf anywhere": "any",
}


def _identifier(so_name: str) -> str:
    return so_name.removeprefix("mod_").removesuffix(".so") + "_module"


def _load_order() -> list[str]:
    shared = sorted(
        p.name for p in MODULE_DIR.glob("mod_*.so") if not p.name.startswith("mod_mpm_")
    )
    order = [f"mod_{m}.so" for m in LOAD_FIRST if f"mod_{m}.so" in shared]
    return order + [m for m in shared if m not in order]


def _run(root: Path, lines: list[str], *args: str, check: bool = True) -> str:
    conf = root / "probe.conf"
    head = [
        f"ServerRoot {root}",
        f"DefaultRuntimeDir {root}",
        f"PidFile {root}/p.pid",
        f"ErrorLog {root}/e.log",
        "ServerName localhost",
    ]
    conf.write_text("\n".join(head + lines) + "\n")
    proc = subprocess.run(
        ["/usr/sbin/apache2", *args, "-f", str(conf)],
        capture_output=True,
        text=True,
        env={},
        check=False,
        timeout=60,
    )
    if check and proc.returncode != 0:
        raise SystemExit(f"apache2 failed: {proc.stderr}")
    return proc.stdout + proc.stderr


def _global_only(root: Path, loads: list[str]) -> list[str]:
    """Directives that fail inside <VirtualHost> with GLOBAL_ONLY's message, for some arity."""
    found: list[str] = []
    for mpm in MPMS:
        mpm_load = f"LoadModule mpm_{mpm}_module {MODULE_DIR}/mod_mpm_{mpm}.so"
        by_source = _parse_listing(_run(root, [mpm_load, *loads], "-L"))
        names = sorted(
            name
            for source, directives in by_source.items()
            for name, (context, _usage) in directives.items()
            if context != "directory" and not name.startswith("<")
        )
        for name in names:
            if name in found:
                continue
            # Argument or value errors come before the context check: try shapes until the
            # handler runs (Syntax OK: not GLOBAL_ONLY) or refuses the <VirtualHost> context.
            for args in ("On", "1", "1 1", "1 1 1", "x", "x x"):
                text = _run(
                    root,
                    [mpm_load, *loads, "<VirtualHost *:80>", f"{name} {args}", "</VirtualHost>"],
                    "-t",
                    check=False,
                )
                if f"{name} cannot occur within <VirtualHost> section" in text:
                    found.append(name)
                    break
                if "Syntax OK" in text:
                    break
    return sorted(found, key=str.lower)


def _parse_listing(text: str) -> dict[str, dict[str, list[str]]]:
    """`apache2 -L` → {source file: {directive: [context, usage]}} (usage: the command's errmsg)."""
    table: dict[str, dict[str, list[str]]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("\t"):
            name, _, source = line.rpartition(" (")
            current = ["any", ""]
            table.setdefault(source.rstrip(")"), {})[name] = current
        elif current is not None:
            body = line.strip()
            for prefix, context in CONTEXTS.items():
                if body.startswith(prefix):
                    current[0] = context
                    break
            else:
                if not body.startswith(("Allowed in", "when AllowOverride")) and not current[1]:
                    current[1] = body
    return table


# invoke_cmd()'s argument-count messages (server/config.c) → the command's args_how.
ARITY_PHRASES = {
    " takes no arguments": "no_args",
    " takes one argument": "take1",
    " takes two arguments": "take2",
    " takes three arguments": "take3",
    " takes 1-2 arguments": "take12",
    " takes 2-3 arguments": "take23",
    " takes one, two or three arguments": "take123",
    " takes one or three arguments": "take13",
    " requires at least one argument": "iterate",
    " requires at least two arguments": "iterate2",
    " must be On or Off": "flag",
}


def _arity(root: Path, loads: list[str], names: dict[str, str]) -> dict[str, str]:
    """The args_how of each directive, from httpd's error for zero (then one) arguments."""
    found: dict[str, str] = {}
    for name, context in sorted(names.items()):
        if name.startswith("<"):
            continue
        for args in ("", " x"):
            line = f"{name}{args}"
            body = ["<Directory /tmp>", line, "</Directory>"] if context == "directory" else [line]
            text = _run(root, [*loads, *body], "-t", check=False)
            kind = next((k for p, k in ARITY_PHRASES.items() if f"{name}{p}" in text), None)
            if kind is not None:
                found[name] = kind
                break
            if "Syntax OK" not in text:
                break  # a handler's own complaint: not an argument-count rule
    return found


def main() -> None:
    if sys.argv[1:] == ["--global-only"]:
        loads = [f"LoadModule {_identifier(m)} {MODULE_DIR / m}" for m in _load_order()]
        with tempfile.TemporaryDirectory() as tmp:
            for name in _global_only(Path(tmp), loads):
                print(f'    "{name}",')
        return
    out = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else (Path(__file__).resolve().parents[3] / "capplan" / "config" / "directive_table.json")
    )
    order = _load_order()
    modules: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        loads = [f"LoadModule {_identifier(m)} {MODULE_DIR / m}" for m in order]
        by_source: dict[str, dict[str, list[str]]] = {}
        for mpm in MPMS:
            mpm_load = f"LoadModule mpm_{mpm}_module {MODULE_DIR}/mod_mpm_{mpm}.so"
            listing = _parse_listing(_run(root, [mpm_load, *loads], "-L"))
            # MPM directives differ per MPM; the others are probed once, with event loaded.
            wanted = {
                name: entry[0]
                for source, directives in listing.items()
                if source == f"{mpm}.c" or (mpm == "event" and source not in by_source)
                for name, entry in directives.items()
            }
            arity = _arity(root, [mpm_load, *loads], wanted)
            for source, directives in listing.items():
                if source in by_source and source != f"{mpm}.c":
                    continue
                by_source[source] = {
                    name: [context, arity.get(name, ""), usage]
                    for name, (context, usage) in directives.items()
                }
        # Confirm identifier → source file with <IfModule> probes (DUMP_RUN_CFG prints defines).
        probes = ["LoadModule mpm_event_module " + str(MODULE_DIR / "mod_mpm_event.so"), *loads]
        candidates = {_identifier(m): m.removesuffix(".so") + ".c" for m in order}
        candidates |= {f"mpm_{mpm}_module": f"{mpm}.c" for mpm in MPMS}
        candidates |= SOURCE_EXCEPTIONS
        failures: list[str] = []
        for index, source in enumerate(candidates.values()):
            probes += [f"<IfModule {source}>", f"Define P{index}", "</IfModule>"]
        dump = _run(root, probes, "-t", "-D", "DUMP_RUN_CFG")
        for index, (ident, source) in enumerate(candidates.items()):
            if f"Define: P{index}\n" not in dump and not ident.startswith("mpm_"):
                failures.append(f"{ident}: source file is not {source}")
            modules[ident] = {"source": source, "directives": by_source.get(source, {})}
    if failures:
        raise SystemExit("\n".join(failures))
    static = {source: by_source.get(source, {}) for source in STATIC_SOURCES}
    document = {
        "provenance": "apache2 -L of Debian apache2 2.4.71 with every shipped module loaded; "
        "regenerate with tests/data/config/gen_directive_table.py",
        "format": "directive: [context, args_how probed from invoke_cmd()'s messages or '', "
        "usage text (the command's errmsg)]",
        "static": static,
        "modules": dict(sorted(modules.items())),
    }
    out.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")


if __name__ == "__main__":
    main()
