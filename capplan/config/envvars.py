"""Debian's `envvars`: the environment `apache2ctl` gives httpd, read without running a shell.

Input: the config directory, the caller's environment and the file system; output: the
environment httpd would see — the caller's, plus the `export NAME=value` lines of an `envvars`
file in that directory (with `$VAR`/`${VAR}` expanded), minus its `unset` names.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping

from capplan.config.fs import FileSystem, Kind

# NOTE: Debian's envvars computes SUFFIX from APACHE_CONFDIR inside an `if` block
# ("/etc/apache2-NAME" → "-NAME"); that block is evaluated here instead of interpreted.
_MULTI_INSTANCE_PREFIX = "/etc/apache2-"
_ASSIGN = re.compile(r"(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)")
_EXPORT_ONLY = re.compile(r"export((?:[ \t]+[A-Za-z_][A-Za-z0-9_]*)+)[ \t]*")
_UNSET = re.compile(r"unset((?:[ \t]+[A-Za-z_][A-Za-z0-9_]*)+)[ \t]*")
_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _expand(text: str, values: Mapping[str, str]) -> str:
    return _REFERENCE.sub(lambda m: values.get(m.group(1) or m.group(2), ""), text)


def _value(raw: str, values: Mapping[str, str]) -> str:
    """A shell word: 'single quotes' literal, "double quotes" and bare text expanded."""
    raw = raw.strip()
    if " #" in raw and not raw.startswith(("'", '"')):
        raw = raw[: raw.index(" #")].rstrip()
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return _expand(raw[1:-1], values)
    return _expand(raw, values)


def read_envvars(text: str, confdir: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Apply an envvars script's simple lines to a copy of `environ` and return it.

    Understood: `export NAME=value`, `NAME=value` (shell variable), `export NAME`, `unset NAME`,
    comments. `if … fi` blocks are skipped (SUFFIX is computed as Debian's block does); any
    other command (`. file`, `ulimit`) is ignored.
    """
    exported = dict(environ)
    shell = dict(environ)
    shell.setdefault("APACHE_CONFDIR", confdir)
    confdir = shell["APACHE_CONFDIR"]
    suffix = ""
    if confdir.startswith(_MULTI_INSTANCE_PREFIX) and confdir != _MULTI_INSTANCE_PREFIX:
        suffix = "-" + confdir[len(_MULTI_INSTANCE_PREFIX) :]
    shell["SUFFIX"] = suffix
    depth = 0
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        first = line.split(None, 1)[0]
        if first == "if":
            depth += 1
            continue
        if first == "fi":
            depth = max(0, depth - 1)
            continue
        if depth:
            continue
        if found := _ASSIGN.fullmatch(line):
            name, value = found.group(1), _value(found.group(2), shell)
            shell[name] = value
            if line.startswith("export") or name in exported:
                exported[name] = value
        elif found := _EXPORT_ONLY.fullmatch(line):
            for name in found.group(1).split():
                if name in shell:
                    exported[name] = shell[name]
        elif found := _UNSET.fullmatch(line):
            for name in found.group(1).split():
                shell.pop(name, None)
                exported.pop(name, None)
    return exported


def apply_envvars(confdir: str, environ: Mapping[str, str], fs: FileSystem) -> Mapping[str, str]:
    """`environ` extended by `confdir/envvars` when that file exists, else `environ` itself."""
    path = posixpath.join(confdir, "envvars")
    if fs.kind(path) is not Kind.FILE:
        return environ
    try:
        data = fs.read_bytes(path)
    except OSError:
        return environ
    return read_envvars(data.decode("utf-8", "surrogateescape"), confdir, environ)
