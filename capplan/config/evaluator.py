"""Evaluator stage: a main httpd config file → the directive stream httpd would walk.

Input: the main file's path plus what httpd gets from outside (`-D` defines, `-d` server root,
the environment, the compiled-in modules); output: an `EvaluatedConfig` with every directive that
survives Include, Define/`${VAR}` and the If* sections, each with `file:line`, include chain and
enclosing sections, the loaded modules and httpd's warnings. Everything httpd refuses to start
with raises `CapplanError` in httpd's words.

The structure mirrors httpd's own reader (server/config.c): `_build_config` is ap_build_config(),
`_build_cont_config` is ap_build_cont_config() (the body of a true conditional), both reading
with `_read`, whose per-line step (inline for common lines, else `_build_line`) is
ap_build_config_sub(); `_soak` is ap_soak_end_container() (the body of a false conditional).
Directives flagged EXEC_ON_READ in httpd (Define, Include, LoadModule, If*, ServerRoot…) act
while reading; everything else is checked afterwards in the order httpd's walk would run it.
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache

from capplan.config import envvars as envvars_mod
from capplan.config.directives import (
    DEBIAN_STATIC_MODULES,
    GLOBAL_ONLY,
    Arity,
    Command,
    Context,
    ModuleInfo,
    shared_module,
    static_module,
)
from capplan.config.fs import FileSystem, Kind, RealFileSystem
from capplan.config.lexer import APR_SPACE, MAX_LINE_BYTES, LexedFile, lex
from capplan.config.parser import LineKind, container_args, first_word, parse_line, split_words
from capplan.config.types import Directive, EvaluatedConfig, HttpdWarning, LoadedModule
from capplan.errors import CapplanError
from capplan.location import Location

# NOTE: include/http_config.h AP_MAX_INCLUDE_DEPTH and server/util.c AP_MAX_FNMATCH_DIR_DEPTH.
MAX_INCLUDE_DEPTH = 128
MAX_INCLUDE_DIR_DEPTH = 128
# NOTE: server/core.c start_cond_section() reads a true conditional's body through
# config.c ap_build_cont_config(), one C stack frame chain per level: with the default 8 MiB
# stack, `apache2 -t` (2.4, Debian amd64) passes 8446 nested true <IfModule>/<IfDefine> and
# dies of SIGSEGV at 8447. capplan reads as deep and refuses deeper with a line number.
MAX_CONDITIONAL_DEPTH = 8446
# All config files of one evaluation together (each file is also held for error context).
MAX_CONFIG_TOTAL_BYTES = 256 * 1024 * 1024

DEFAULT_HTTPD_VERSION = (2, 4, 71)

# Containers that switch httpd to per-directory context (cmd->override = ACCESS_CONF).
_DIR_CONTAINERS = frozenset(
    {
        "<directory",
        "<directorymatch",
        "<location",
        "<locationmatch",
        "<files",
        "<filesmatch",
        "<if",
        "<elseif",
        "<else",
        "<proxy",
        "<proxymatch",
    }
)
_INVALID = "perhaps misspelled or defined by a module not included in the server configuration"
# mod_version registers <IfVersion> as TAKE123; its usage text from `apache2 -L`.
_IFVERSION_USAGE = (
    "<IfVersion takes one, two or three arguments, a comparison operator, a version "
    "(and a delimiter)"
)
_VERSION_ERROR = (
    "Version appears to be invalid. It must have the format major[.minor[.patch]] where major, "
    "minor and patch are numbers."
)
_VAR = re.compile(r"\$\{([^}]*)\}")
Sections = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Cmd:
    """One EXEC_ON_READ directive as its handler sees it (httpd's cmd_parms, reduced)."""

    key: str  # lower-cased name
    name: str  # as written
    args: str  # raw argument text after `${VAR}` substitution
    where: Location
    sections: Sections


@dataclass(slots=True)
class _File:
    """A config file being read: its logical lines and a cursor (httpd's ap_configfile_t)."""

    path: str
    texts: tuple[str, ...]
    numbers: tuple[int, ...]
    too_long_at: int | None
    chain: tuple[Location, ...]
    plain_split: bool  # str.split() is safe for lines without quotes and backslashes
    pos: int = 0

    def at_end(self) -> None:
        """Called when the lines run out: httpd's read error, if it stopped at one."""
        if self.too_long_at is not None:
            # NOTE: server/util.c ap_pcfg_strerror() for APR_ENOSPC.
            raise CapplanError(
                f"Error reading {self.path} at line {self.too_long_at}: Line too long",
                Location(self.path, self.too_long_at, self.chain),
            )


@dataclass(slots=True)
class _Open:
    """An open non-conditional container (ap_build_config_sub()'s curr_parent chain)."""

    name: str  # `<VirtualHost` as written
    inner: tuple[str, ...]  # Directive.sections of what it contains, itself included
    where: Location
    close: str  # `</virtualhost>`: the close tag, lower-cased


@dataclass(slots=True)
class _State:
    fs: FileSystem
    environ: Mapping[str, str]
    version: tuple[int, int, int]
    server_root: str
    define_names: list[str]
    variables: dict[str, str]  # lower-cased name → value (apr_table: case-insensitive)
    static_sources: tuple[str, ...]
    module_names: set[str] = field(default_factory=set)  # what <IfModule> can find
    loaded: list[LoadedModule] = field(default_factory=list)
    known: dict[str, Command] = field(default_factory=dict)
    all_known: bool = True  # every module's directive table is known
    directives: list[Directive] = field(default_factory=list)
    missing_gt: set[int] = field(default_factory=set)  # directive indices: opener lacks '>'
    warnings: list[HttpdWarning] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    lexed: dict[str, LexedFile] = field(default_factory=dict)  # for error context
    # `${VAR}` results by line text; emptied whenever Define or UnDefine changes a variable.
    substituted: dict[str, str] = field(default_factory=dict)
    include_depth: int = 0
    bytes_read: int = 0  # all config files together, each Include counted again
    conditional_depth: int = 0  # true conditional sections being read, one inside the other

    def add_module(self, info: ModuleInfo, symbol: str) -> None:
        self.module_names.add(info.source)
        self.module_names.add(symbol)
        if info.directives is None:
            self.all_known = False
        else:
            for key, entry in info.directives.items():
                self.known.setdefault(key, entry)


def evaluate_config(
    main_file: str | os.PathLike[str],
    *,
    defines: Mapping[str, str] | None = None,
    httpd_version: tuple[int, int, int] = DEFAULT_HTTPD_VERSION,
    server_root: str | None = None,
    environ: Mapping[str, str] | None = None,
    fs: FileSystem | None = None,
    static_modules: Iterable[str] | None = None,
    check_mpm: bool = True,
) -> EvaluatedConfig:
    """Read `main_file` the way httpd 2.4 does and return the directives its walk would run.

    `defines` are `-D NAME[=VALUE]` (an empty value is a plain `-D NAME`); `server_root` is
    `-d` (default: the main file's directory until a ServerRoot directive changes it);
    `environ` is the process environment for `${VAR}` (default `os.environ`), extended by a
    Debian `envvars` file next to the main file; `fs` reads files (default: the disk);
    `static_modules` are compiled-in source file names (default: Debian's `apache2 -l`).
    `check_mpm` applies httpd's "exactly one MPM" rule (AH00534) between reading and walking;
    callers that only want some directives of a partial config (LogFormat, PidFile) turn it off.
    """
    files = fs if fs is not None else RealFileSystem()
    main = os.fspath(main_file)
    root = server_root
    if root is not None and not posixpath.isabs(root):
        root = posixpath.abspath(root)
    if not posixpath.isabs(main):
        main = posixpath.normpath(posixpath.join(root, main)) if root else posixpath.abspath(main)
    if root is None:
        root = posixpath.dirname(main)
    env: Mapping[str, str] = os.environ if environ is None else environ
    env = envvars_mod.apply_envvars(posixpath.dirname(main), env, files)
    state = _State(
        fs=files,
        environ=env,
        version=httpd_version,
        server_root=posixpath.normpath(root),
        define_names=[],
        variables={},
        static_sources=tuple(DEBIAN_STATIC_MODULES if static_modules is None else static_modules),
    )
    for name, value in (defines or {}).items():
        if name not in state.define_names:
            state.define_names.append(name)
        if value:
            state.variables[name.lower()] = value
    for source in state.static_sources:
        info = static_module(source)
        state.add_module(info, info.identifier)
    # Sections and includes nest through recursion, as httpd's reader does, up to five frames
    # per level: reading as deep as httpd (128 includes, 8446 conditional sections) needs a
    # deeper stack than the interpreter's default 1000 frames. The limit is raised for this
    # call only and restored: the one interpreter setting the library changes, for correctness,
    # not speed (the collector pause that makes large configs fast is the CLI's,
    # capplan.runtime.command_runtime).
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 6 * MAX_CONDITIONAL_DEPTH + 2000))
    try:
        _process_file(state, main, (), ())
        if check_mpm:
            _check_mpm(state, main)
        _walk_checks(state)
    except RecursionError:
        raise CapplanError(f"{main}: sections nested too deeply to evaluate") from None
    except CapplanError as exc:
        _attach_source(state, exc)
        raise
    finally:
        sys.setrecursionlimit(limit)
    return EvaluatedConfig(
        main_file=main,
        server_root=state.server_root,
        directives=tuple(state.directives),
        modules=tuple(state.loaded),
        defines=tuple((name, state.variables.get(name.lower(), "")) for name in state.define_names),
        warnings=tuple(state.warnings),
        files_read=tuple(state.files_read),
    )


_MPM_IDENTIFIER = re.compile(r"mpm_(prefork|worker|event)_module")
_MPM_SOURCES = {"prefork.c": "prefork", "worker.c": "worker", "event.c": "event"}


def _check_mpm(state: _State, main: str) -> None:
    """httpd's `ap_check_mpm()`: exactly one MPM, compiled in or loaded (AH00534).

    NOTE: `ap_read_config()` runs it after the build pass and before the walk, so a config
    without an MPM fails here, not with "Invalid command 'Listen'" from the walk.
    """
    found: dict[str, LoadedModule | None] = {}
    for source in state.static_sources:
        if source in _MPM_SOURCES:
            found.setdefault(_MPM_SOURCES[source], None)
    for module in state.loaded:
        matched = _MPM_IDENTIFIER.fullmatch(module.identifier)
        if matched is not None:
            found.setdefault(matched.group(1), module)
    prefix = "AH00534: apache2: Configuration error:"
    if not found:
        raise CapplanError(f"{main}: {prefix} No MPM loaded.")
    if len(found) > 1:
        second = list(found.values())[1]
        where = second.location if second is not None else None
        raise CapplanError(f"{prefix} More than one MPM loaded.", where)


def _attach_source(state: _State, exc: CapplanError) -> None:
    """Give an error the logical line it is about, for the offending-line-and-caret display."""
    where = exc.location
    if where is None or exc.source_line is not None:
        return
    lexed = state.lexed.get(where.path)
    if lexed is None:
        return
    at = bisect_left(lexed.numbers, where.line)
    if at < len(lexed.numbers) and lexed.numbers[at] == where.line:
        exc.source_line = lexed.texts[at]
        exc.column = 0


# --- reading files -----------------------------------------------------------------------------


def _process_file(
    state: _State,
    path: str,
    chain: tuple[Location, ...],
    sections: tuple[str, ...],
) -> None:
    """ap_process_resource_config(): open, lex and build one file."""
    try:
        data = state.fs.read_bytes(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CapplanError(
            f"Could not open configuration file {path}: {reason}", chain[-1] if chain else None
        ) from None
    state.bytes_read += len(data)
    if state.bytes_read > MAX_CONFIG_TOTAL_BYTES:
        raise CapplanError(
            f"{path}: the configuration read so far exceeds {MAX_CONFIG_TOTAL_BYTES >> 20} MiB "
            "(counting every Include), the most capplan reads",
            chain[-1] if chain else None,
        )
    state.files_read.append(path)
    lexed = lex(data)
    state.lexed[path] = lexed
    handle = _File(path, lexed.texts, lexed.numbers, lexed.too_long_at, chain, lexed.plain_split)
    _build_config(state, handle, sections)


def _build_config(state: _State, handle: _File, sections: Sections) -> None:
    """ap_build_config(): read a whole file; its non-conditional sections must close in it."""
    stack = _read(state, handle, sections, None)
    if stack:
        # NOTE: server/config.c ap_build_config() lists every unclosed container, innermost
        # first, each with its own file:line.
        raise CapplanError(f"{stack[-1].name}> was not closed.", stack[-1].where)


def _build_cont_config(state: _State, handle: _File, opener: str, sections: Sections) -> None:
    """ap_build_cont_config(): the body of a true conditional, up to its close tag or EOF.

    NOTE: the close tag is compared with the raw line (before `${VAR}` substitution) and only
    when no container opened inside the body is still open; EOF simply ends the body.
    """
    _read(state, handle, sections, _close_tag(opener.lower()))


# Beyond this many enclosing sections only those the walk looks at are kept (see _nest).
_MAX_KEPT_SECTIONS = 16


def _nest(sections: Sections, name: str) -> Sections:
    """The sections of a container's contents: `sections` plus `name`, bounded in length.

    The walk checks (and mpm.py) ask only for the innermost section, whether a per-directory
    container or a <VirtualHost> encloses the directive, and the first <Location>. Deep nests
    keep just those, so 300,000 nested `<Directory />` (httpd reads them, then refuses the
    second) cost linear memory, not quadratic.
    """
    nested = (*sections, name)
    if len(nested) <= _MAX_KEPT_SECTIONS:
        return nested
    kept: list[str] = []
    seen_dir = seen_vhost = seen_location = False
    for section in nested[:-1]:
        low = section.lower()
        first_dir = not seen_dir and "<" + low in _DIR_CONTAINERS
        first_vhost = not seen_vhost and low == "virtualhost"
        first_location = not seen_location and low in _LOCATIONS
        if first_dir or first_vhost or first_location:
            kept.append(section)
        seen_dir = seen_dir or first_dir
        seen_vhost = seen_vhost or first_vhost
        seen_location = seen_location or first_location
    kept.append(name)
    return tuple(kept)


@cache
def _close_tag(key: str) -> str:
    """`<virtualhost` → `</virtualhost>`, the lower-cased tag that closes a section."""
    return "</" + key[1:] + ">"


# NOTE: the hot loop below builds Location and Directive through their slot descriptors, which
# costs half of the frozen dataclasses' __init__ (tens of thousands per large config). The result
# is the same frozen object; if the types ever gain a field, the plain constructors are used.
_FAST_OBJECTS = [f.name for f in fields(Location)] == ["path", "line", "included_from"] and [
    f.name for f in fields(Directive)
] == ["name", "args", "location", "sections"]
_LOCATION_SETTERS = (
    vars(Location)["path"].__set__,
    vars(Location)["line"].__set__,
    vars(Location)["included_from"].__set__,
)
_DIRECTIVE_SETTERS = (
    vars(Directive)["name"].__set__,
    vars(Directive)["args"].__set__,
    vars(Directive)["location"].__set__,
    vars(Directive)["sections"].__set__,
)


def _read(state: _State, handle: _File, outer: Sections, closer: str | None) -> list[_Open]:
    """The read loop shared by both: returns the containers still open when it stops.

    The common lines (plain directives, container openers and close tags) are handled inline
    because they are nearly all of a large config; the rest goes to `_build_line`.
    """
    stack: list[_Open] = []
    texts = handle.texts
    numbers = handle.numbers
    path = handle.path
    chain = handle.chain
    plain = handle.plain_split
    append = state.directives.append
    special = _EXEC_ON_READ
    known = state.known
    new = object.__new__
    set_path, set_line, set_chain = _LOCATION_SETTERS
    set_name, set_args, set_location, set_sections = _DIRECTIVE_SETTERS
    sections = outer
    expected_close = None  # the lower-cased close tag of the innermost open container
    count = len(texts)
    index = handle.pos - 1
    while True:
        # The cursor lives in a local; `handle.pos` is synchronised around every call out.
        index += 1
        if index >= count:
            handle.pos = index
            break
        text = texts[index]
        if text[0] == "<" and text[1:2] == "/":
            lowered = text.lower()
            if lowered == expected_close:
                stack.pop()
                sections = stack[-1].inner if stack else outer
                expected_close = stack[-1].close if stack else None
                continue
            handle.pos = index + 1
            if closer is not None and not stack and lowered == closer:
                return stack
            where = Location(path, numbers[index], chain)
            if "$" in text:
                text = _resolve_env(state, text, where)
            _build_line(state, handle, stack, _Line(text, where, outer))
            index = handle.pos - 1
            sections = stack[-1].inner if stack else outer
            expected_close = stack[-1].close if stack else None
            continue
        if _FAST_OBJECTS:
            where = new(Location)
            set_path(where, path)
            set_line(where, numbers[index])
            set_chain(where, chain)
        else:
            where = Location(path, numbers[index], chain)
        if "$" in text:
            text = _resolve_env(state, text, where)  # never moves the cursor
        if "\\" in text or not plain or '"' in text or "'" in text:
            words = split_words(text)
        else:
            words = text.split()
        if not words or not words[0]:
            continue  # NOTE: ap_build_config_sub() skips a line whose first word is empty
        name = words[0]
        if name[0] != "<":
            if name[-1] != ">" and name.lower() not in special:
                if _FAST_OBJECTS:
                    directive = new(Directive)
                    set_name(directive, name)
                    set_args(directive, tuple(words[1:]))
                    set_location(directive, where)
                    set_sections(directive, sections)
                    append(directive)
                else:
                    append(Directive(name, tuple(words[1:]), where, sections))
                continue
        elif name[1:2] != "/" and len(name) > 1:
            if text.startswith(name):  # the name was not quoted: the rest follows it directly
                rest = text[len(name) :].lstrip(APR_SPACE)
            else:
                name, rest = first_word(text)
            if name[-1] == ">":
                name = name[:-1]
            rest = rest or ">"  # NOTE: ap_build_config_sub() gives an opener without args ">"
            key = name.lower()
            if key in special and key in known:
                handle.pos = index + 1
                _EXEC_ON_READ[key](state, handle, _Cmd(key, name, rest, where, sections))
                index = handle.pos - 1
                continue
            # An ordinary container: its args end at the last '>' (checked at walk time).
            at = rest.rfind(">")
            if at < 0:
                state.missing_gt.add(len(state.directives))
                inside = rest
            else:
                inside = rest[:at]
            args = (
                split_words(inside)
                if '"' in inside or "'" in inside or "\\" in inside or not plain
                else inside.split()
            )
            if _FAST_OBJECTS:
                directive = new(Directive)
                set_name(directive, name)
                set_args(directive, tuple(args))
                set_location(directive, where)
                set_sections(directive, sections)
                append(directive)
            else:
                append(Directive(name, tuple(args), where, sections))
            sections = _nest(sections, name[1:])
            expected_close = _close_tag(key)
            stack.append(_Open(name, sections, where, expected_close))
            continue
        handle.pos = index + 1
        _build_line(state, handle, stack, _Line(text, where, outer))
        index = handle.pos - 1
        sections = stack[-1].inner if stack else outer
        expected_close = stack[-1].close if stack else None
    handle.at_end()
    return stack


def _soak(state: _State, handle: _File, opener: str, where: Location) -> None:
    """ap_soak_end_container(): skip a false conditional's body, tracking only nesting.

    httpd recurses once per nested opener; a stack of openers does the same here without
    Python recursion (`apache2 -t` passes 20,000 nested false conditionals).
    """
    texts = handle.texts
    count = len(texts)
    openers = [opener]
    while handle.pos < count:
        text = texts[handle.pos]
        handle.pos += 1
        if text[0] != "<" and not (text[0] in "\"'" and text[1:2] == "<"):
            continue
        name, rest = first_word(text)
        if name[:1] != "<":
            continue
        if name[1:2] == "/":
            tag = name[2:-1]
            innermost = openers.pop()
            if tag.lower() != innermost[1:].lower():
                # Reported at the conditional that started the skipping, as httpd does.
                raise CapplanError(f"Expected </{innermost[1:]}> but saw </{tag}>", where)
            if not openers:
                return
            continue
        if not rest and name[-1] == ">":
            name = name[:-1]
        openers.append(name)
    handle.at_end()
    raise CapplanError(f"Expected </{openers[-1][1:]}> before end of configuration", where)


@dataclass(frozen=True, slots=True)
class _Line:
    """A line `_read` leaves to `_build_line`: its text with `${VAR}` already substituted."""

    text: str
    where: Location
    outer: Sections  # the sections around the file or conditional body being read


def _build_line(state: _State, handle: _File, stack: list[_Open], line: _Line) -> None:
    """ap_build_config_sub() for the lines `_read` does not handle inline: EXEC_ON_READ
    directives, quoted or odd names, and close tags other than the expected one."""
    text, where = line.text, line.where
    sections = stack[-1].inner if stack else line.outer
    parsed = parse_line(text)
    if parsed is None:
        return
    if parsed.kind is LineKind.OPEN:
        _open_section(
            state,
            handle,
            stack,
            _Cmd(parsed.name.lower(), parsed.name, parsed.args, where, sections),
        )
        return
    key = parsed.name.lower()
    handler = _EXEC_ON_READ.get(key)
    if handler is not None and key in state.known:
        handler(state, handle, _Cmd(key, parsed.name, parsed.args, where, sections))
        return
    if parsed.kind is LineKind.CLOSE:
        name = parsed.name
        if not stack:
            raise CapplanError(f"{name} without matching <{name[2:]} section", where)
        if name[-1] != ">":
            raise CapplanError(f"{name}> directive missing closing '>'", where)
        if name[2:-1].lower() != stack[-1].name[1:].lower():
            raise CapplanError(f"Expected </{stack[-1].name[1:]}> but saw {name}", where)
        stack.pop()
        return
    state.directives.append(
        Directive(parsed.name, tuple(split_words(parsed.args)), where, sections)
    )


def _open_section(state: _State, handle: _File, stack: list[_Open], cmd: _Cmd) -> None:
    """A `<Name args>` line: an EXEC_ON_READ conditional runs now, any other container opens."""
    handler = _EXEC_ON_READ.get(cmd.key)
    if handler is not None and cmd.key in state.known:
        handler(state, handle, cmd)
        return
    name = cmd.name
    before, _after = container_args(cmd.args)
    if before is None:
        state.missing_gt.add(len(state.directives))
    words = split_words(cmd.args if before is None else before)
    state.directives.append(Directive(name, tuple(words), cmd.where, cmd.sections))
    inner = _nest(cmd.sections, name[1:])
    stack.append(_Open(name, inner, cmd.where, "</" + name[1:].lower() + ">"))


def _resolve_env(state: _State, text: str, where: Location) -> str:
    """ap_resolve_env(): `${NAME}` from Define'd variables (case-insensitive), then the
    environment (case-sensitive); undefined names stay literally, with warning AH00111."""

    def replace(found: re.Match[str]) -> str:
        name = found.group(1)
        value = state.variables.get(name.lower())
        if value is None:
            value = state.environ.get(name)
        if value is not None:
            return value
        if ":" not in name:
            state.warnings.append(
                HttpdWarning("AH00111", f"Config variable ${{{name}}} is not defined", where)
            )
        return found.group(0)

    cached = state.substituted.get(text)
    if cached is not None:
        return cached
    size = len(text)
    for found in _VAR.finditer(text):
        name = found.group(1)
        value = state.variables.get(name.lower())
        if value is None:
            value = state.environ.get(name, "")
        size += len(value)
    if size > MAX_LINE_BYTES:
        # NOTE: server/util.c ap_resolve_env() has no limit of its own (httpd allocates the
        # result: 2^22 copies of 100 bytes took 3.7 GB and 14 s in `apache2 -t`); capplan stops
        # at httpd's limit for a line as read (VARBUF_MAX_LEN) instead.
        raise CapplanError(
            f"this line is longer than {MAX_LINE_BYTES >> 20} MiB after ${{VAR}} substitution; "
            "capplan does not build it",
            where,
        )
    warned = len(state.warnings)
    result = _VAR.sub(replace, text)
    if len(state.warnings) == warned:  # a line that warns must warn each time it is read
        state.substituted[text] = result
    return result


# --- EXEC_ON_READ directives -------------------------------------------------------------------


def _take(state: _State, cmd: _Cmd) -> list[str]:
    """The words of an EXEC_ON_READ directive, or invoke_cmd()'s argument-count error."""
    words = split_words(cmd.args)
    message = state.known[cmd.key].arity_error(tuple(words))
    if message is not None:
        raise CapplanError(message, cmd.where)
    return words


def _define(state: _State, handle: _File, cmd: _Cmd) -> None:
    where = cmd.where
    words = _take(state, cmd)
    name = words[0]
    if ":" in name:
        raise CapplanError("Variable name must not contain ':'", where)
    if name not in state.define_names:
        state.define_names.append(name)
    if len(words) == 2 and words[1]:
        state.variables[name.lower()] = words[1]
        state.substituted.clear()


def _undefine(state: _State, handle: _File, cmd: _Cmd) -> None:
    where = cmd.where
    (name,) = _take(state, cmd)
    if ":" in name:
        raise CapplanError("Variable name must not contain ':'", where)
    names = state.define_names
    if name in names:
        # NOTE: server/core.c unset_define() moves the last define into the freed slot.
        index = names.index(name)
        last = names.pop()
        if index < len(names):
            names[index] = last
    if state.variables.pop(name.lower(), None) is not None:
        state.substituted.clear()


def _server_root(state: _State, handle: _File, cmd: _Cmd) -> None:
    where = cmd.where
    (arg,) = _take(state, cmd)
    path = _root_relative(state, arg)
    if state.fs.kind(path) is not Kind.DIRECTORY:
        raise CapplanError("ServerRoot must be a valid directory", where)
    state.server_root = path


def _runtime_dir(state: _State, handle: _File, cmd: _Cmd) -> None:
    # The directory is created by apache2ctl/systemd before start, so it is not checked here.
    _take(state, cmd)


def _load_module(state: _State, handle: _File, cmd: _Cmd) -> None:
    where = cmd.where
    identifier, file_name = _take(state, cmd)
    for loaded in state.loaded:
        if loaded.identifier == identifier:
            state.warnings.append(
                HttpdWarning("AH01574", f"module {identifier} is already loaded, skipping", where)
            )
            return
    # NOTE: modules/core/mod_so.c load_module(): FOO_module is refused when mod_FOO.c is static.
    for source in state.static_sources:
        if (
            source.startswith("mod_")
            and identifier.endswith("_module")
            and len(identifier) > len("_module")
            and identifier[: -len("_module")] == source[4:-2]
        ):
            raise CapplanError(f"module {identifier} is built-in and can't be loaded", where)
    path = _root_relative(state, file_name)
    _check_loadable(state, file_name, path, where)
    state.loaded.append(LoadedModule(identifier, path, where))
    state.add_module(shared_module(identifier, path), identifier)


def _load_file(state: _State, handle: _File, cmd: _Cmd) -> None:
    where = cmd.where
    for name in split_words(cmd.args):
        _check_loadable(state, name, _root_relative(state, name), where)


def _check_loadable(state: _State, name: str, path: str, where: Location) -> None:
    """mod_so.c: dlopen() of a missing file fails with the loader's own message."""
    if state.fs.kind(path) is None:
        raise CapplanError(
            f"Cannot load {name} into server: {path}: cannot open shared object file: "
            "No such file or directory",
            where,
        )


def _include(state: _State, handle: _File, cmd: _Cmd) -> None:
    """core.c include_config() → config.c ap_process_fnmatch_configs()."""
    where = cmd.where
    (name,) = _take(state, cmd)
    optional = cmd.key == "includeoptional"
    state.include_depth += 1
    if state.include_depth > MAX_INCLUDE_DEPTH:
        raise CapplanError(
            f"Exceeded maximum include depth of {MAX_INCLUDE_DEPTH}, "
            "There appears to be a recursion.",
            where,
        )
    path = _root_relative(state, name)
    walk = _IncludeWalk(state, where, (*handle.chain, where), cmd.sections, optional)
    if not _fnmatch_test(path):
        walk.nofnmatch(path)
    else:
        # The path is absolute after ServerRoot resolution; walk it from "/".
        walk.fnmatch("/", path.lstrip("/"))
    state.include_depth -= 1


_PREFIX = "Include/IncludeOptional: "


@dataclass(slots=True)
class _IncludeWalk:
    """server/util.c ap_dir_nofnmatch() / ap_dir_fnmatch() for one Include directive."""

    state: _State
    where: Location
    chain: tuple[Location, ...]
    sections: tuple[str, ...]
    optional: bool
    depth: int = 0

    def _list(self, path: str) -> list[str]:
        try:
            names = self.state.fs.list_dir(path)
        except OSError as exc:
            raise CapplanError(
                f"{_PREFIX}Could not open directory {path}: {exc.strerror or exc}", self.where
            ) from None
        return sorted(
            (n for n in names if n not in (".", "..")),
            key=lambda n: n.encode("utf-8", "surrogateescape"),
        )

    def nofnmatch(self, path: str) -> None:
        kind = self.state.fs.kind(path)
        if kind is Kind.DIRECTORY:
            # NOTE: a directory is included whole, recursively, dot files and all, in strcmp order.
            self.depth += 1
            if self.depth > MAX_INCLUDE_DIR_DEPTH:
                raise CapplanError(
                    f"{_PREFIX}Directory '{path}' exceeds the maximum include directory nesting "
                    f"level of {MAX_INCLUDE_DIR_DEPTH}. You have probably a recursion somewhere.",
                    self.where,
                )
            for name in self._list(path):
                self.nofnmatch(_join(path, name))
            self.depth -= 1
            return
        if self.optional and kind is None:
            return
        _process_file(self.state, path, self.chain, self.sections)

    def fnmatch(self, path: str, rest_pattern: str) -> None:
        component, slash, rest = rest_pattern.partition("/")
        if not _fnmatch_test(component):
            full = _join(path, component)
            if not slash:
                self.nofnmatch(full)
            else:
                self.fnmatch(full, rest)
            return
        try:
            names = self.state.fs.list_dir(path)
        except OSError as exc:
            if self.optional and exc.errno == 2:
                return
            raise CapplanError(
                f"{_PREFIX}Could not open directory {path}: {exc.strerror or exc}", self.where
            ) from None
        matcher = _fnmatch_regex(component)
        leading_dot = component.startswith(".") or component.startswith("\\.")
        candidates = []
        for name in names:
            if name in (".", "..") or matcher.fullmatch(name) is None:
                continue
            if name[0] == "." and not leading_dot:
                continue  # APR_FNM_PERIOD: wildcards never match a leading dot
            full = _join(path, name)
            # NOTE: ap_dir_fnmatch() looks at the directory entry's own type here, so a
            # symlink to a directory in a middle component does not match.
            if slash and self.state.fs.kind(full, follow_symlinks=False) is not Kind.DIRECTORY:
                continue
            candidates.append(full)
        if not candidates:
            if not self.optional:
                raise CapplanError(
                    f"{_PREFIX}No matches for the wildcard '{component}' in '{path}', failing",
                    self.where,
                )
            return
        candidates.sort(key=lambda n: n.encode("utf-8", "surrogateescape"))
        for full in candidates:
            if slash:
                self.fnmatch(full, rest)
            else:
                self.nofnmatch(full)


def _join(path: str, name: str) -> str:
    return path + name if path.endswith("/") else path + "/" + name


def _fnmatch_test(pattern: str) -> bool:
    """apr_fnmatch_test(): `*`, `?` or a `[` with a matching `]` (a `\\` escapes one char)."""
    nesting = 0
    index = 0
    end = len(pattern)
    while index < end:
        char = pattern[index]
        if char in "*?":
            return True
        if char == "\\":
            index += 1
            if index >= end:
                return False
        elif char == "[":
            nesting += 1
        elif char == "]" and nesting:
            return True
        index += 1
    return False


@cache
def _fnmatch_regex(pattern: str) -> re.Pattern[str]:
    """apr_fnmatch() (no flags but APR_FNM_PERIOD, handled by the caller) as a regex."""
    out: list[str] = []
    index = 0
    end = len(pattern)
    while index < end:
        char = pattern[index]
        index += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "\\" and index < end:
            out.append(re.escape(pattern[index]))
            index += 1
        elif char == "[":
            close = index
            if close < end and pattern[close] in "!^":
                close += 1
            if close < end and pattern[close] == "]":
                close += 1
            close = pattern.find("]", close)
            if close < 0:
                out.append(re.escape(char))
                continue
            body = pattern[index:close]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            parts = []
            pos = 0
            while pos < len(body):
                if body[pos] == "\\" and pos + 1 < len(body):
                    pos += 1
                low = body[pos]
                if pos + 2 < len(body) and body[pos + 1] == "-":
                    parts.append(f"{re.escape(low)}-{re.escape(body[pos + 2])}")
                    pos += 3
                else:
                    parts.append(re.escape(low))
                    pos += 1
            out.append(("[^" if negate else "[") + "".join(parts) + "]")
            index = close + 1
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL)


def _root_relative(state: _State, name: str) -> str:
    """ap_server_root_relative(): apr_filepath_merge() onto ServerRoot, `.`/`..` resolved."""
    if posixpath.isabs(name):
        return posixpath.normpath(name) if ("/." in name or "//" in name) else name
    return posixpath.normpath(posixpath.join(state.server_root, name))


# --- conditional sections ----------------------------------------------------------------------


def _conditional(state: _State, handle: _File, cmd: _Cmd) -> None:
    """core.c start_cond_section(): test, then read the body (true) or skip it (false)."""
    where = cmd.where
    key = cmd.key
    opener = state.known[key].name
    if key == "<ifversion":
        result = _if_version(state, cmd.args, where)
    else:
        before, _after = container_args(cmd.args)
        if before is None:
            raise CapplanError(f"{opener}> directive missing closing '>'", where)
        negate = before[:1] == "!"
        if negate:
            before = before[1:]
        if handle.plain_split and '"' not in before and "'" not in before and "\\" not in before:
            words = before.split(None, 1)
            word = words[0] if words else ""
        else:
            word, _rest = first_word(before)
        if not word:
            raise CapplanError(f"{opener}> directive requires additional arguments", where)
        result = _TESTS[key](state, word) != negate
    if result:
        if state.conditional_depth >= MAX_CONDITIONAL_DEPTH:
            raise CapplanError(
                f"{opener}> nested more than {MAX_CONDITIONAL_DEPTH} true conditional sections "
                "deep; httpd's reader recurses once per level and crashes (SIGSEGV) beyond this "
                "with an 8 MiB stack",
                where,
            )
        state.conditional_depth += 1
        try:
            _build_cont_config(state, handle, opener, cmd.sections)
        finally:
            state.conditional_depth -= 1
    else:
        _soak(state, handle, opener, where)


def _test_module(state: _State, name: str) -> bool:
    return name in state.module_names


def _test_define(state: _State, name: str) -> bool:
    return name in state.define_names


def _test_file(state: _State, name: str) -> bool:
    return state.fs.kind(_root_relative(state, name)) is not None


def _test_directive(state: _State, name: str) -> bool:
    return name.lower() in state.known


def _test_section(state: _State, name: str) -> bool:
    return "<" + name.lower() in state.known


_TESTS = {
    "<ifmodule": _test_module,
    "<ifdefine": _test_define,
    "<iffile": _test_file,
    "<ifdirective": _test_directive,
    "<ifsection": _test_section,
}


def _if_version(state: _State, args: str, where: Location) -> bool:
    """modules/metadata/mod_version.c start_ifversion()."""
    words = split_words(args)
    if not 1 <= len(words) <= 3:
        raise CapplanError(_IFVERSION_USAGE, where)
    arg1 = words[0]
    arg2 = words[1] if len(words) > 1 else None
    arg3 = words[2] if len(words) > 2 else None
    if arg2 is None:
        arg1, arg2 = "=", arg1
    if arg3 is None and arg2 == ">":
        arg1, arg2, arg3 = "=", arg1, ">"
    end = len(arg2)
    if end == 0 or (arg3 != ">" and arg2[-1] != ">"):
        raise CapplanError("<IfVersion> directive missing closing '>'", where)
    if arg3 != ">":
        end -= 1
    version = arg2[:end]
    op = arg1
    reverse = False
    if op[:1] == "!":
        reverse = True
        if len(op) > 1:
            op = op[1:]
    head, tail = op[:1], op[1:]
    if not (tail == "" or (tail == "=" and head != "~")):
        raise CapplanError(f"unrecognized operator '{arg1}'", where)
    if head == "=" and version[:1] == "/":
        if len(version) < 2 or version[-1] != "/":
            raise CapplanError("Missing delimiting / of regular expression.", where)
        head, version = "~", version[1:-1]
    if head == "~":
        text = ".".join(str(part) for part in state.version)
        match = _pcre_search(version, text, where)
    elif head in ("=", "<", ">"):
        compare = _compare_version(state.version, version, where)
        if head == "=":
            match = compare == 0
        elif head == "<":
            match = compare == -1 or (tail == "=" and compare == 0)
        else:
            match = compare == 1 or (tail == "=" and compare == 0)
    else:
        raise CapplanError(f"unrecognized operator '{arg1}'", where)
    return match != reverse


def _pcre_search(pattern: str, subject: str, where: Location) -> bool:
    """ap_regexec() of `pattern` on `subject` with PCRE2, as mod_version.c does (see pcre.py)."""
    from capplan.config import pcre  # ctypes, loaded only for a regex <IfVersion>

    try:
        return pcre.search(pattern.encode("utf-8", "surrogateescape"), subject.encode("ascii"))
    except pcre.PatternError:
        raise CapplanError("Unable to compile regular expression", where) from None


# Accepted by 2.4.71's compare_version() (probed): digits, then optional `.minor` and `.patch`
# whose digits may be empty (0), and one trailing dot after the patch.
_VERSION = re.compile(r"(\d+)(?:\.(\d*)(?:\.(\d*)\.?)?)?")


def _compare_version(current: tuple[int, int, int], text: str, where: Location) -> int:
    """mod_version.c compare_version(): -1, 0 or 1 for `current` against `text`."""
    found = _VERSION.fullmatch(text)
    if found is None or not text.isascii():
        raise CapplanError(_VERSION_ERROR, where)
    wanted = tuple(int(part) if part else 0 for part in found.groups())
    return (current > wanted) - (current < wanted)


def _unsupported(state: _State, handle: _File, cmd: _Cmd) -> None:
    raise CapplanError(
        f"{state.known[cmd.key].name} (mod_macro) is not supported: "
        "expand macros before evaluating",
        cmd.where,
    )


_EXEC_ON_READ: dict[str, Callable[[_State, _File, _Cmd], None]] = {
    "define": _define,
    "undefine": _undefine,
    "include": _include,
    "includeoptional": _include,
    "serverroot": _server_root,
    "defaultruntimedir": _runtime_dir,
    "loadmodule": _load_module,
    "loadfile": _load_file,
    "<ifmodule": _conditional,
    "<ifdefine": _conditional,
    "<iffile": _conditional,
    "<ifdirective": _conditional,
    "<ifsection": _conditional,
    "<ifversion": _conditional,
    "<macro": _unsupported,
    "use": _unsupported,
    "undefmacro": _unsupported,
}


# --- walk-time checks --------------------------------------------------------------------------


def _escape(name: str) -> str:
    """Bytes outside printable ASCII as `\\xNN`, so a BOM or binary junk shows in messages."""
    raw = name.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in raw)


@dataclass(frozen=True, slots=True)
class _Context:
    """What the walk needs to know about a directive's enclosing sections."""

    parent: str | None  # innermost section
    in_dir: bool  # inside a per-directory container (cmd->override has ACCESS_CONF)
    in_vhost: bool
    in_location: str | None  # the <Location>/<LocationMatch> it is in, if any


def _context(sections: Sections) -> _Context:
    lowered = [s.lower() for s in sections]
    location = next(
        (s for s, low in zip(sections, lowered, strict=True) if low in _LOCATIONS), None
    )
    return _Context(
        parent=sections[-1] if sections else None,
        in_dir=any("<" + low in _DIR_CONTAINERS for low in lowered),
        in_vhost="virtualhost" in lowered,
        in_location=location,
    )


_LOCATIONS = frozenset({"location", "locationmatch"})


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What the walk checks need for one (name, sections) pair, worked out once."""

    key: str
    command: Command
    found: _Context
    context_error: bool  # invoke_cmd() refuses the command where it stands
    handler_checks: bool  # a handler check (GLOBAL_ONLY, <Files> in <Location>, Error) applies


_UNKNOWN = "unknown"  # verdict of a name no loaded module registers


def _walk_checks(state: _State) -> None:
    """The errors httpd's walk pass (ap_walk_config() → invoke_cmd()) stops at, first one wins.

    NOTE: these run after every file is read, with all modules loaded: a directive before its
    LoadModule line is fine, while an unknown one fails even inside a true <IfModule>.
    invoke_cmd() checks the context, then the argument count; the handler checks the rest.
    """
    verdicts: dict[tuple[str, Sections], _Verdict | str] = {}
    contexts: dict[Sections, _Context] = {}
    missing_gt = state.missing_gt
    take1 = Arity.TAKE1
    for index, directive in enumerate(state.directives):
        pair = (directive.name, directive.sections)
        verdict = verdicts.get(pair)
        if verdict is None:
            verdict = verdicts[pair] = _verdict(state, pair, contexts)
        if isinstance(verdict, str):
            if state.all_known:
                raise CapplanError(
                    f"Invalid command '{_escape(directive.name)}', {_INVALID}", directive.location
                )
            continue
        if verdict.context_error:
            _check_one(directive, False, verdict)
        arity = verdict.command.arity
        args = directive.args
        if arity is not None and not (arity is take1 and len(args) == 1 and args[0]):
            message = verdict.command.arity_error(args)
            if message is not None:
                raise CapplanError(message, directive.location)
        if verdict.handler_checks or (missing_gt and index in missing_gt):
            _check_one(directive, index in missing_gt, verdict)


def _verdict(
    state: _State, pair: tuple[str, Sections], contexts: dict[Sections, _Context]
) -> _Verdict | str:
    name, sections = pair
    key = name.lower()
    command = state.known.get(key)
    if command is None:
        return _UNKNOWN
    found = contexts.get(sections)
    if found is None:
        found = contexts[sections] = _context(sections)
    context = command.context
    return _Verdict(
        key=key,
        command=command,
        found=found,
        context_error=context is Context.SERVER if found.in_dir else context is Context.DIRECTORY,
        handler_checks=(found.in_vhost and (key in GLOBAL_ONLY or key == "<virtualhost"))
        or key in _SPECIAL,
    )


def _check_one(directive: Directive, missing_gt: bool, verdict: _Verdict) -> None:
    key, found = verdict.key, verdict.found
    canonical, context = verdict.command.name, verdict.command.context
    where = directive.location
    if found.in_dir and context is Context.SERVER:
        raise CapplanError(f"{canonical} not allowed in <{found.parent}> context", where)
    if not found.in_dir and context is Context.DIRECTORY:
        if found.parent is None:
            raise CapplanError(f"{canonical} not allowed here", where)
        raise CapplanError(f"{canonical} not allowed in <{found.parent}> context", where)
    if found.in_vhost and (key == "<virtualhost" or key in GLOBAL_ONLY):
        gt = ">" if key[0] == "<" else ""
        raise CapplanError(f"{canonical}{gt} cannot occur within <VirtualHost> section", where)
    if found.in_location and key in ("<files", "<filesmatch"):
        raise CapplanError(f"{canonical}> cannot occur within <{found.in_location}> section", where)
    if missing_gt:
        raise CapplanError(f"{canonical}> directive missing closing '>'", where)
    if key == "serveralias" and not found.in_vhost:
        # NOTE: core.c set_server_alias(): only a virtual host has names to add to.
        raise CapplanError("ServerAlias only used in <VirtualHost>", where)
    if key == "error" and len(directive.args) == 1:
        # NOTE: core.c generate_error(): the Error directive stops startup with its text.
        raise CapplanError(directive.args[0], where)


# Directives with a check of their own even where their context allows them.
_SPECIAL = frozenset({"error", "<files", "<filesmatch", "serveralias"})
