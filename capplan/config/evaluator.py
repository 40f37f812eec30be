"""Evaluator stage: a main httpd config file → the directive stream httpd would walk.

Input: the main file's path plus what httpd gets from outside (`-D` defines, `-d` server root,
the environment, the compiled-in modules); output: an `EvaluatedConfig` with every directive that
survives Include, Define/`${VAR}` and the If* sections, each with `file:line`, include chain and
enclosing sections, the loaded modules and httpd's warnings. Everything httpd refuses to start
with raises `CapplanError` in httpd's words.

The structure mirrors httpd's own reader (server/config.c): `_build_config` is ap_build_config(),
`_build_line` is ap_build_config_sub(), `_build_cont_config` is ap_build_cont_config() (the body
of a true conditional) and `_soak` is ap_soak_end_container() (the body of a false one).
Directives flagged EXEC_ON_READ in httpd (Define, Include, LoadModule, If*, ServerRoot…) act
while reading; everything else is checked afterwards in the order httpd's walk would run it.
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

from capplan.config import envvars as envvars_mod
from capplan.config.directives import (
    DEBIAN_STATIC_MODULES,
    GLOBAL_ONLY,
    Context,
    ModuleInfo,
    shared_module,
    static_module,
)
from capplan.config.fs import FileSystem, Kind, RealFileSystem
from capplan.config.lexer import LogicalLine, lex
from capplan.config.parser import LineKind, container_args, first_word, parse_line, split_words
from capplan.config.types import Directive, EvaluatedConfig, HttpdWarning, LoadedModule
from capplan.errors import CapplanError
from capplan.location import Location

# NOTE: include/http_config.h AP_MAX_INCLUDE_DEPTH and server/util.c AP_MAX_FNMATCH_DIR_DEPTH.
MAX_INCLUDE_DEPTH = 128
MAX_INCLUDE_DIR_DEPTH = 128

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
_CONDITIONALS = frozenset(
    {"<ifmodule", "<ifdefine", "<iffile", "<ifdirective", "<ifsection", "<ifversion"}
)
_INVALID = "perhaps misspelled or defined by a module not included in the server configuration"

# Argument errors of the EXEC_ON_READ directives, as server/config.c invoke_cmd() words them
# (`name takes …, errmsg`), with each command's errmsg from `apache2 -L`.
_USAGE = {
    "define": "Define takes 1-2 arguments, Define a variable, optionally to a value.  "
    "Same as passing -D to the command line.",
    "undefine": "UnDefine takes one argument, Undefine the existence of a variable. Undo a Define.",
    "include": "Include takes one argument, Name(s) of the config file(s) to be included; "
    "fails if the wildcard does not match at least one file",
    "includeoptional": "IncludeOptional takes one argument, Name or pattern of the config "
    "file(s) to be included; ignored if the file does not exist or the pattern does not match "
    "any files",
    "serverroot": "ServerRoot takes one argument, Common directory of server-related files "
    "(logs, confs, etc.)",
    "defaultruntimedir": "DefaultRuntimeDir takes one argument, Common directory for run-time "
    "files (shared memory, locks, etc.)",
    "loadmodule": "LoadModule takes two arguments, a module name and the name of a shared "
    "object file to load it from",
    "ifversion": "<IfVersion takes one, two or three arguments, a comparison operator, a "
    "version (and a delimiter)",
}
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
    args: str  # raw argument text after `${VAR}` substitution
    where: Location
    sections: Sections


@dataclass(slots=True)
class _File:
    """A config file being read: its logical lines and a cursor (httpd's ap_configfile_t)."""

    path: str
    lines: tuple[LogicalLine, ...]
    too_long_at: int | None
    chain: tuple[Location, ...]
    pos: int = 0

    def next(self) -> LogicalLine | None:
        if self.pos < len(self.lines):
            line = self.lines[self.pos]
            self.pos += 1
            return line
        if self.too_long_at is not None:
            # NOTE: server/util.c ap_pcfg_strerror() for APR_ENOSPC.
            raise CapplanError(
                f"Error reading {self.path} at line {self.too_long_at}: Line too long",
                Location(self.path, self.too_long_at, self.chain),
            )
        return None


@dataclass(slots=True)
class _Open:
    """An open non-conditional container (ap_build_config_sub()'s curr_parent chain)."""

    name: str  # `<VirtualHost` as written
    inner: tuple[str, ...]  # Directive.sections of what it contains, itself included


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
    infos: list[ModuleInfo] = field(default_factory=list)
    known: dict[str, tuple[str, Context]] = field(default_factory=dict)
    all_known: bool = True  # every module's directive table is known
    directives: list[Directive] = field(default_factory=list)
    missing_gt: set[int] = field(default_factory=set)  # directive indices: opener lacks '>'
    warnings: list[HttpdWarning] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    include_depth: int = 0

    def add_module(self, info: ModuleInfo, symbol: str) -> None:
        self.infos.append(info)
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
) -> EvaluatedConfig:
    """Read `main_file` the way httpd 2.4 does and return the directives its walk would run.

    `defines` are `-D NAME[=VALUE]` (an empty value is a plain `-D NAME`); `server_root` is
    `-d` (default: the main file's directory until a ServerRoot directive changes it);
    `environ` is the process environment for `${VAR}` (default `os.environ`), extended by a
    Debian `envvars` file next to the main file; `fs` reads files (default: the disk);
    `static_modules` are compiled-in source file names (default: Debian's `apache2 -l`).
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
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20000))
    try:
        _process_file(state, main, (), ())
    except RecursionError:
        raise CapplanError(f"{main}: sections nested too deeply to evaluate") from None
    finally:
        sys.setrecursionlimit(limit)
    _walk_checks(state)
    return EvaluatedConfig(
        main_file=main,
        server_root=state.server_root,
        directives=tuple(state.directives),
        modules=tuple(state.loaded),
        defines=tuple((name, state.variables.get(name.lower(), "")) for name in state.define_names),
        warnings=tuple(state.warnings),
        files_read=tuple(state.files_read),
    )


# --- reading files -----------------------------------------------------------------------------


def _process_file(
    state: _State,
    path: str,
    chain: tuple[Location, ...],
    sections: tuple[str, ...],
) -> None:
    """ap_process_resource_config(): open, lex and build one file."""
    where = chain[-1] if chain else None
    kind = state.fs.kind(path)
    try:
        data = state.fs.read_bytes(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CapplanError(f"Could not open configuration file {path}: {reason}", where) from None
    if kind is not Kind.FILE and path != "/dev/null":
        # NOTE: server/util.c ap_pcfg_openfile() refuses anything but a regular file (AH00554).
        raise CapplanError(f"Could not open configuration file {path}: Bad file descriptor", where)
    state.files_read.append(path)
    lexed = lex(data)
    handle = _File(path, lexed.lines, lexed.error.line if lexed.error else None, chain)
    _build_config(state, handle, sections)


def _build_config(state: _State, handle: _File, sections: tuple[str, ...]) -> None:
    """ap_build_config(): read a whole file; its non-conditional sections must close in it."""
    stack: list[_Open] = []
    while (line := handle.next()) is not None:
        _build_line(state, handle, line, stack, sections)
    if stack:
        # NOTE: server/config.c ap_build_config() reports every unclosed container.
        opener = _last_opener(state, handle, stack[-1])
        raise CapplanError(f"{stack[-1].name}> was not closed.", opener)


def _last_opener(state: _State, handle: _File, section: _Open) -> Location | None:
    for directive in reversed(state.directives):
        if directive.name == section.name and directive.location.path == handle.path:
            return directive.location
    return None


def _build_cont_config(
    state: _State, handle: _File, opener: str, sections: tuple[str, ...]
) -> None:
    """ap_build_cont_config(): the body of a true conditional, up to its close tag or EOF.

    NOTE: the close tag is compared with the raw line (before `${VAR}` substitution) and only
    when no container opened inside the body is still open; EOF simply ends the body.
    """
    closer = "</" + opener[1:].lower() + ">"
    stack: list[_Open] = []
    while (line := handle.next()) is not None:
        if not stack and line.text[:2] == "</" and line.text.lower() == closer:
            return
        _build_line(state, handle, line, stack, sections)


def _soak(state: _State, handle: _File, opener: str, where: Location) -> None:
    """ap_soak_end_container(): skip a false conditional's body, tracking only nesting."""
    while (line := handle.next()) is not None:
        name, rest = first_word(line.text)
        if name[:1] != "<":
            continue
        if name[1:2] == "/":
            tag = name[2:-1]
            if tag.lower() != opener[1:].lower():
                # Reported at the conditional that started the skipping, as httpd does.
                raise CapplanError(f"Expected </{opener[1:]}> but saw </{tag}>", where)
            return
        if not rest and name[-1] == ">":
            name = name[:-1]
        _soak(state, handle, name, where)
    raise CapplanError(f"Expected </{opener[1:]}> before end of configuration", where)


def _build_line(
    state: _State,
    handle: _File,
    line: LogicalLine,
    stack: list[_Open],
    outer: tuple[str, ...],
) -> None:
    """ap_build_config_sub(): one logical line."""
    text = line.text
    if not text or text[0] == "#":
        return
    where = Location(handle.path, line.line, handle.chain)
    if "$" in text:
        text = _resolve_env(state, text, where)
    parsed = parse_line(text)
    if parsed is None:
        return
    key = parsed.name.lower()
    sections = stack[-1].inner if stack else outer
    handler = _EXEC_ON_READ.get(key)
    if handler is not None and key in state.known:
        handler(state, handle, _Cmd(key, parsed.args, where, sections))
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
    if parsed.kind is LineKind.OPEN:
        before, _after = container_args(parsed.args)
        if before is None:
            state.missing_gt.add(len(state.directives))
        args = tuple(split_words(parsed.args if before is None else before))
        state.directives.append(Directive(parsed.name, args, where, sections))
        stack.append(_Open(parsed.name, (*sections, parsed.name[1:])))
        return
    state.directives.append(
        Directive(parsed.name, tuple(split_words(parsed.args)), where, sections)
    )


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

    return _VAR.sub(replace, text)


# --- EXEC_ON_READ directives -------------------------------------------------------------------


def _take(cmd: _Cmd, count: int) -> list[str]:
    """invoke_cmd()'s TAKE1/TAKE2/TAKE12: the words, or httpd's arity error."""
    words = split_words(cmd.args)
    if cmd.key == "define":
        ok = 1 <= len(words) <= 2 and words[0] != ""
    else:
        ok = len(words) == count and all(words)
    if not ok:
        raise CapplanError(_USAGE[cmd.key], cmd.where)
    return words


def _define(state: _State, handle: _File, cmd: _Cmd) -> None:
    where = cmd.where
    words = _take(cmd, 2)
    name = words[0]
    if ":" in name:
        raise CapplanError("Variable name must not contain ':'", where)
    if name not in state.define_names:
        state.define_names.append(name)
    if len(words) == 2 and words[1]:
        state.variables[name.lower()] = words[1]


def _undefine(state: _State, handle: _File, cmd: _Cmd) -> None:
    where = cmd.where
    (name,) = _take(cmd, 1)
    if ":" in name:
        raise CapplanError("Variable name must not contain ':'", where)
    names = state.define_names
    if name in names:
        # NOTE: server/core.c unset_define() moves the last define into the freed slot.
        index = names.index(name)
        last = names.pop()
        if index < len(names):
            names[index] = last
    state.variables.pop(name.lower(), None)


def _server_root(state: _State, handle: _File, cmd: _Cmd) -> None:
    where = cmd.where
    (arg,) = _take(cmd, 1)
    path = _root_relative(state, arg)
    if state.fs.kind(path) is not Kind.DIRECTORY:
        raise CapplanError("ServerRoot must be a valid directory", where)
    state.server_root = path


def _runtime_dir(state: _State, handle: _File, cmd: _Cmd) -> None:
    # The directory is created by apache2ctl/systemd before start, so it is not checked here.
    _take(cmd, 1)


def _load_module(state: _State, handle: _File, cmd: _Cmd) -> None:
    where = cmd.where
    identifier, file_name = _take(cmd, 2)
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
    (name,) = _take(cmd, 1)
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
            if slash and self.state.fs.kind(full) is not Kind.DIRECTORY:
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
    opener = state.known[key][0]
    if key == "<ifversion":
        result = _if_version(state, cmd.args, where)
    else:
        before, _after = container_args(cmd.args)
        if before is None:
            raise CapplanError(f"{opener}> directive missing closing '>'", where)
        negate = before[:1] == "!"
        if negate:
            before = before[1:]
        word, _rest = first_word(before)
        if not word:
            raise CapplanError(f"{opener}> directive requires additional arguments", where)
        result = _TESTS[key](state, word) != negate
    if result:
        _build_cont_config(state, handle, opener, cmd.sections)
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
        raise CapplanError(_USAGE["ifversion"], where)
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
        try:
            pattern = re.compile(version)
        except re.error:
            raise CapplanError("Unable to compile regular expression", where) from None
        text = ".".join(str(part) for part in state.version)
        match = pattern.search(text) is not None
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
        f"{state.known[cmd.key][0]} (mod_macro) is not supported: expand macros before evaluating",
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


def _walk_checks(state: _State) -> None:
    """The errors httpd's walk pass (ap_walk_config() → invoke_cmd()) stops at, first one wins.

    NOTE: these run after every file is read, with all modules loaded: a directive before its
    LoadModule line is fine, while an unknown one fails even inside a true <IfModule>.
    """
    known = state.known
    for index, directive in enumerate(state.directives):
        key = directive.key
        entry = known.get(key)
        where = directive.location
        if entry is None:
            if state.all_known:
                raise CapplanError(
                    f"Invalid command '{_escape(directive.name)}', {_INVALID}", where
                )
            continue
        canonical, context = entry
        sections = directive.sections
        parent = sections[-1] if sections else None
        in_dir = any("<" + s.lower() in _DIR_CONTAINERS for s in sections)
        if in_dir and context is Context.SERVER:
            raise CapplanError(f"{canonical} not allowed in <{parent}> context", where)
        if not in_dir and context is Context.DIRECTORY:
            if parent is None:
                raise CapplanError(f"{canonical} not allowed here", where)
            raise CapplanError(f"{canonical} not allowed in <{parent}> context", where)
        in_vhost = any(s.lower() == "virtualhost" for s in sections)
        if key == "<virtualhost" and in_vhost:
            raise CapplanError("<VirtualHost> cannot occur within <VirtualHost> section", where)
        if key in GLOBAL_ONLY and in_vhost:
            raise CapplanError(f"{canonical} cannot occur within <VirtualHost> section", where)
        if key in ("<files", "<filesmatch"):
            for section in sections:
                if section.lower() in ("location", "locationmatch"):
                    raise CapplanError(
                        f"{canonical}> cannot occur within <{section}> section", where
                    )
        if index in state.missing_gt:
            raise CapplanError(f"{canonical}> directive missing closing '>'", where)
        if key == "error" and len(directive.args) == 1:
            # NOTE: core.c generate_error(): the Error directive stops startup with its text.
            raise CapplanError(directive.args[0], where)
