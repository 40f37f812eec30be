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
from capplan.errors import CapplanError

# NOTE: Debian's envvars computes SUFFIX from APACHE_CONFDIR inside an `if` block
# ("/etc/apache2-NAME" → "-NAME"); that block is evaluated here instead of interpreted.
_MULTI_INSTANCE_PREFIX = "/etc/apache2-"
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


# The longest value an expansion may produce: httpd's own line limit (VARBUF_MAX_LEN). Doubling
# a variable on each of 30 lines would otherwise build gigabytes from a few hundred bytes.
MAX_EXPANSION_CHARS = 16 * 1024 * 1024


def _expand(text: str, values: Mapping[str, str]) -> str:
    if "$" not in text:
        return text
    size = len(text) + sum(
        len(values.get(m.group(1) or m.group(2), "")) for m in _REFERENCE.finditer(text)
    )
    if size > MAX_EXPANSION_CHARS:
        raise CapplanError(
            f"a variable expands to more than {MAX_EXPANSION_CHARS >> 20} MiB; "
            "capplan stops here rather than build it"
        )
    return _REFERENCE.sub(lambda m: values.get(m.group(1) or m.group(2), ""), text)


def _shell_words(line: str, values: Mapping[str, str]) -> list[str]:
    """Split one shell line into words, expanding `$VAR`/`${VAR}` outside single quotes.

    Covers what envvars files use: blanks between words, 'single' and "double" quotes (either
    may be glued to bare text, as in `A="x"y`), backslash escapes, and a `#` comment that starts a
    word. Every word is expanded with the values from before the line, as a shell does.
    """
    words: list[str] = []
    current: list[str] = []
    in_word = False
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in " \t":
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
            i += 1
            continue
        if ch == "#" and not in_word:
            break
        in_word = True
        if ch == "'":
            close = line.find("'", i + 1)
            close = n if close < 0 else close
            current.append(line[i + 1 : close])
            i = close + 1
        elif ch == '"':
            j, part = i + 1, []
            while j < n and line[j] != '"':
                if line[j] == "\\" and j + 1 < n and line[j + 1] in '"\\$`':
                    part.append(line[j + 1])
                    j += 2
                    continue
                part.append(line[j])
                j += 1
            current.append(_expand("".join(part), values))
            i = j + 1
        elif ch == "\\" and i + 1 < n:
            current.append(line[i + 1])
            i += 2
        else:
            j = i
            while j < n and line[j] not in " \t'\"\\":
                j += 1
            current.append(_expand(line[i:j], values))
            i = j
    if in_word:
        words.append("".join(current))
    return words


def read_envvars(text: str, confdir: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Apply an envvars script's simple lines to a copy of `environ` and return it.

    Understood: `export NAME=value [NAME2=value …]`, `NAME=value` (shell variables, several per
    line), `export NAME`, `unset NAME`, comments. `if … fi` blocks are skipped (SUFFIX is
    computed as Debian's block does); any other command (`. file`, `ulimit`) is ignored.
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
        words = _shell_words(line, shell)
        if not words:
            continue
        command, rest = words[0], words[1:]
        if command == "unset":
            for name in rest:
                shell.pop(name, None)
                exported.pop(name, None)
            continue
        export = command == "export"
        assignments = rest if export else words
        if not export and not all(_ASSIGN.fullmatch(word) for word in words):
            continue  # another command (`ulimit`, `. file`): not part of httpd's environment
        for index, as_read in enumerate(assignments):
            # `A=1 B=$A`: plain assignments take effect one by one, left to right, while
            # `export`'s arguments are all expanded before it runs.
            word = _shell_words(line, shell)[index] if not export and index else as_read
            if found := _ASSIGN.fullmatch(word):
                name, value = found.group(1), found.group(2)
                shell[name] = value
                if export or name in exported:
                    exported[name] = value
            elif export and _NAME.fullmatch(word) and word in shell:
                exported[word] = shell[word]
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
    try:
        return read_envvars(data.decode("utf-8", "surrogateescape"), confdir, environ)
    except CapplanError as exc:
        raise CapplanError(f"{path}: {exc.message}") from None
