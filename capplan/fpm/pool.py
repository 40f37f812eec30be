"""FPM config stage: php-fpm's INI files (main file, includes, pool files) → frozen pools.

Input: a php-fpm.conf or a single pool file, the `-p` prefix php-fpm would run with and the
environment (for `${VAR}`). Output: `FpmConfig` with one `FpmPool` per `[pool]` section: the
values php-fpm runs with after its defaults and its post-processing checks, each with `file:line`.
Errors are the ones php-fpm itself refuses to start with, as `CapplanError` naming file and line.

Grammar, as `fpm_conf_load_ini_file()` feeds it to the Zend INI scanner one line at a time:

    line    := blank | ';' comment | '[' name ']' | key ['[' sub ']'] '=' value
    value   := ( '"' text-with-${VAR} '"' | "'" raw "'" | bare-word-with-${VAR} )* [';' comment]
    include := 'include' '=' glob   (relative to the prefix; processed after its line)

A bare `yes/on/true` reads as "1" and `no/off/false/none/null` as "", as in php.ini.
"""

from __future__ import annotations

import glob as globmod
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from capplan.errors import CapplanError
from capplan.location import Location

PmStyle = Literal["static", "dynamic", "ondemand"]

# php-fpm's compiled-in prefix on Debian and RHEL (`PHP_PREFIX`): relative includes and relative
# unix socket paths are resolved against it when no `-p` prefix is given.
DEFAULT_PREFIX = "/usr"
# A pool file is small; this bounds memory for anything else given by mistake.
MAX_FILE_BYTES = 4 << 20
MAX_INCLUDE_DEPTH = 16

# Value kinds of the pool options (fpm_conf.c `ini_fpm_pool_options`): how php-fpm parses each.
_POOL_KINDS: dict[str, str] = {
    "prefix": "str",
    "user": "str",
    "group": "str",
    "listen": "str",
    "listen.owner": "str",
    "listen.group": "str",
    "listen.mode": "str",
    "listen.backlog": "int",
    "listen.allowed_clients": "str",
    "listen.acl_users": "str",
    "listen.acl_groups": "str",
    "listen.setfib": "int",
    "process.priority": "int",
    "process.dumpable": "bool",
    "pm": "pm",
    "pm.max_children": "int",
    "pm.start_servers": "int",
    "pm.min_spare_servers": "int",
    "pm.max_spare_servers": "int",
    "pm.max_spawn_rate": "int",
    "pm.process_idle_timeout": "time",
    "pm.max_requests": "int",
    "pm.status_path": "str",
    "pm.status_listen": "str",
    "ping.path": "str",
    "ping.response": "str",
    "access.log": "str",
    "access.format": "str",
    "access.suppress_path": "str",
    "slowlog": "str",
    "request_slowlog_timeout": "time",
    "request_slowlog_trace_depth": "int",
    "request_terminate_timeout": "time",
    "request_terminate_timeout_track_finished": "bool",
    "rlimit_files": "int",
    "rlimit_core": "rlimit",
    "chroot": "str",
    "chdir": "str",
    "catch_workers_output": "bool",
    "decorate_workers_output": "bool",
    "clear_env": "bool",
    "security.limit_extensions": "str",
    "apparmor_hat": "str",
}
_GLOBAL_KINDS: dict[str, str] = {
    "pid": "str",
    "error_log": "str",
    "syslog.ident": "str",
    "syslog.facility": "str",
    "log_buffering": "bool",
    "log_level": "str",
    "log_limit": "int",
    "emergency_restart_threshold": "int",
    "emergency_restart_interval": "time",
    "process_control_timeout": "time",
    "process.max": "int",
    "process.priority": "int",
    "daemonize": "bool",
    "rlimit_files": "int",
    "rlimit_core": "rlimit",
    "events.mechanism": "str",
    "systemd_interval": "time",
}
_ARRAYS = ("env", "php_value", "php_flag", "php_admin_value", "php_admin_flag")
_TRUE = {"true", "on", "yes"}
_FALSE = {"false", "off", "no", "none", "null"}
_VAR = re.compile(r"\$\{([^}]*)\}")
_ARRAY_KEY = re.compile(r"^([A-Za-z0-9_.]+)\[([^\]]*)\]$")


@dataclass(frozen=True, slots=True)
class FpmPool:
    """One php-fpm pool as php-fpm runs it (defaults filled in, `$pool` expanded).

    `listen_backlog` is as configured; -1 (php-fpm's default on Linux) means the kernel's
    somaxconn. `memory_limit_bytes`: the pool's `php_admin_value`/`php_value[memory_limit]`,
    None when the pool does not set it (-1 is php's "no limit").
    """

    name: str
    location: Location
    pm: PmStyle
    max_children: int
    start_servers: int
    min_spare_servers: int
    max_spare_servers: int
    max_requests: int
    process_idle_timeout_s: int
    listen: str
    listen_backlog: int
    request_terminate_timeout_s: int
    status_path: str | None
    memory_limit_bytes: int | None
    provenance: tuple[tuple[str, Location], ...] = ()

    def source_of(self, key: str) -> Location | None:
        for name, location in self.provenance:
            if name == key:
                return location
        return None

    def accept_queue_capacity(self, somaxconn: int) -> int:
        """Connections the FPM socket holds before refusing: min(backlog, somaxconn) + 1.

        NOTE: the kernel clamps listen()'s backlog to net.core.somaxconn (`__sys_listen`), and
        php-fpm passes -1 by default on Linux, which the unsigned comparison turns into somaxconn.
        """
        backlog = self.listen_backlog
        if backlog < 0 or backlog > somaxconn:
            backlog = somaxconn
        return backlog + 1

    @property
    def is_unix_socket(self) -> bool:
        return self.listen.startswith("/")


@dataclass(frozen=True, slots=True)
class FpmConfig:
    """Everything read from one php-fpm config: its pools in file order, the files read, and
    php-fpm's warnings (an include that matches nothing)."""

    path: str
    pools: tuple[FpmPool, ...]
    files_read: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    process_max: int = 0

    def pool_named(self, name: str) -> FpmPool | None:
        for pool in self.pools:
            if pool.name == name:
                return pool
        return None


@dataclass(slots=True)
class _Section:
    name: str
    location: Location
    values: dict[str, tuple[str, Location]] = field(default_factory=dict)
    arrays: dict[tuple[str, str], tuple[str, Location]] = field(default_factory=dict)


@dataclass(slots=True)
class _State:
    prefix: str
    env: Mapping[str, str]
    read_text: Callable[[str], str]
    glob: Callable[[str], list[str]]
    globals: _Section
    pools: list[_Section] = field(default_factory=list)
    current: _Section | None = None
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _default_read(path: str) -> str:
    from capplan.files import read_regular_file

    return read_regular_file(path, MAX_FILE_BYTES).decode("utf-8", "surrogateescape")


def _default_glob(pattern: str) -> list[str]:
    return sorted(globmod.glob(pattern))


def read_fpm_config(
    path: str,
    *,
    prefix: str | None = None,
    env: Mapping[str, str] | None = None,
    read_text: Callable[[str], str] | None = None,
    glob: Callable[[str], list[str]] | None = None,
) -> FpmConfig:
    """Read a php-fpm main config or a lone pool file the way `php-fpm -y PATH -p PREFIX` does.

    Raises CapplanError with php-fpm's own reason (and the file and line) for what php-fpm refuses.
    """
    state = _State(
        prefix=(prefix or DEFAULT_PREFIX).rstrip("/") or "/",
        env=os.environ if env is None else env,
        read_text=read_text or _default_read,
        glob=glob or _default_glob,
        globals=_Section("global", Location(path, 0)),
    )
    _load_file(state, path, ())
    if not state.pools:
        raise CapplanError(
            "at least one pool section must be specified in config file", Location(path, 0)
        )
    pools = tuple(_pool(state, section) for section in state.pools)
    process_max = 0
    if "process.max" in state.globals.values:
        process_max = _atoi(state.globals.values["process.max"][0])
    return FpmConfig(
        path=path,
        pools=pools,
        files_read=tuple(state.files),
        warnings=tuple(state.warnings),
        process_max=process_max,
    )


def _load_file(state: _State, path: str, chain: tuple[Location, ...]) -> None:
    if len(chain) > MAX_INCLUDE_DEPTH:
        raise CapplanError(
            f"includes nested deeper than {MAX_INCLUDE_DEPTH} levels", chain[-1] if chain else None
        )
    try:
        text = state.read_text(path)
    except OSError as exc:
        where = chain[-1] if chain else None
        raise CapplanError(f"{path}: cannot read: {exc.strerror}", where) from exc
    state.files.append(path)
    for number, raw in enumerate(text.splitlines(), start=1):
        where = Location(path, number, chain)
        try:
            include = _line(state, raw, where)
        except CapplanError as exc:
            if exc.location is None:
                exc.location = where
                exc.source_line = raw
            raise
        if include is not None:
            _include(state, include, where)


def _include(state: _State, pattern: str, where: Location) -> None:
    """`include=GLOB`: every matching file in sorted order, directories skipped.

    NOTE: php-fpm resolves a relative pattern against the prefix (`fpm_evaluate_full_path()`),
    not against the including file, and only warns when nothing matches
    (`fpm_conf_ini_parser_include()`).
    """
    if not pattern.startswith("/"):
        pattern = f"{state.prefix.rstrip('/')}/{pattern}"
    matches = state.glob(pattern)
    if not matches:
        state.warnings.append(f"{where}: Nothing matches the include pattern '{pattern}'")
        return
    chain = (*where.included_from, where)
    for match in matches:
        if match.endswith("/") or os.path.isdir(match):
            continue
        _load_file(state, match, chain)


def _line(state: _State, raw: str, where: Location) -> str | None:
    """One line into the state; the include pattern when the line is `include=…`."""
    text = raw.strip()
    if not text or text.startswith(";"):
        return None
    if text.startswith("["):
        end = text.find("]")
        rest = text[end + 1 :].strip() if end > 0 else ""
        if end < 0 or (rest and not rest.startswith(";")):
            raise CapplanError("syntax error in section header")
        name = text[1:end].strip()
        if name.lower() == "global":
            state.current = None
        else:
            section = next((p for p in state.pools if p.name == name), None)
            if section is None:
                section = _Section(name, where)
                state.pools.append(section)
            state.current = section
        return None
    key, equals, rest = text.partition("=")
    key = key.strip()
    if not equals:
        raise CapplanError("value is NULL for a ZEND_INI_PARSER_ENTRY")
    value = _value(state, rest)
    if key == "include":
        return value
    array = _ARRAY_KEY.match(key)
    if array is not None:
        name, sub = array.group(1), array.group(2)
        if name not in _ARRAYS:
            raise CapplanError(f"unknown entry '{name}'")
        if state.current is None:
            raise CapplanError("Array are not allowed in the global section")
        if not sub:
            raise CapplanError(f"You must provide a key for field '{name}'")
        state.current.arrays[(name, sub)] = (_expand_pool(state, value), where)
        return None
    section = state.current
    kinds = _POOL_KINDS if section is not None else _GLOBAL_KINDS
    if key not in kinds:
        raise CapplanError(f"unknown entry '{key}'")
    kind = kinds[key]
    if kind == "str":
        value = _expand_pool(state, value)
    target = section if section is not None else state.globals
    _check_kind(kind, key, value)
    target.values[key] = (value, where)
    return None


def _expand_pool(state: _State, value: str) -> str:
    """`$pool` → the pool's name (`fpm_conf_expand_pool_name()`)."""
    if "$pool" not in value:
        return value
    if state.current is None:
        raise CapplanError("Can't use '$pool' when the pool is not defined")
    return value.replace("$pool", state.current.name)


def _value(state: _State, text: str) -> str:
    """The INI value after `=`: quoted and bare parts concatenated, `${VAR}` expanded, a trailing
    `; comment` dropped, a lone bare boolean word turned into "1" or ""."""
    parts: list[str] = []
    bare_only = True
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == ";":
            break
        if ch == '"':
            j = i + 1
            buf = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n and text[j + 1] in '"\\$':
                    buf.append(text[j + 1])
                    j += 2
                    continue
                buf.append(text[j])
                j += 1
            if j >= n:
                raise CapplanError("syntax error, unexpected end of file, expecting '\"'")
            parts.append(_expand_vars(state, "".join(buf)))
            bare_only = False
            i = j + 1
        elif ch == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise CapplanError('syntax error, unexpected end of file, expecting "\'"')
            parts.append(text[i + 1 : j])
            bare_only = False
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in "\"';":
                j += 1
            parts.append(_expand_vars(state, text[i:j]))
            i = j
    if bare_only:
        word = "".join(parts).strip()
        if word.lower() in _TRUE:
            return "1"
        if word.lower() in _FALSE:
            return ""
        return word
    return "".join(parts).strip()


def _expand_vars(state: _State, text: str) -> str:
    """`${NAME}` → the environment's value (empty when unset), as the Zend INI scanner does."""
    return _VAR.sub(lambda found: state.env.get(found.group(1), ""), text)


def _atoi(text: str) -> int:
    """C `atoi()`: leading blanks, an optional sign, then the leading digits (none → 0)."""
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


def _check_kind(kind: str, key: str, value: str) -> None:
    """php-fpm's own value checks (`fpm_conf_set_integer()`, `_set_time()`, `_set_boolean()`)."""
    if kind == "int" or (kind == "rlimit" and value.lower() != "unlimited"):
        for index, ch in enumerate(value):
            if index == 0 and ch == "-":
                continue
            if not ch.isascii() or not ch.isdigit():
                raise CapplanError(
                    f"unable to parse value for entry '{key}': is not a valid number "
                    "(greater or equal than zero)"
                )
    elif kind == "time":
        if not value:
            raise CapplanError(f"unable to parse value for entry '{key}': invalid time value")
        if value[-1] not in "smhd" and not ("0" <= value[-1] <= "9"):
            raise CapplanError(
                f"unable to parse value for entry '{key}': unknown suffix used in time value"
            )
    elif kind == "bool":
        if value not in ("1", ""):
            raise CapplanError(f"unable to parse value for entry '{key}': invalid boolean value")
    elif kind == "pm" and value.lower() not in ("static", "dynamic", "ondemand"):
        raise CapplanError(
            f"unable to parse value for entry '{key}': invalid process manager "
            "(static, dynamic or ondemand)"
        )


def time_seconds(value: str) -> int:
    """A php-fpm time value in seconds: `30`, `30s`, `2m`, `1h`, `1d` (atoi of the number)."""
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(value[-1:], 1)
    number = value[:-1] if value[-1:] in "smhd" and value else value
    return scale * _atoi(number)


def php_size_bytes(text: str) -> int:
    """A php.ini size (`memory_limit = 128M`): K, M, G are 1024-based; -1 means no limit."""
    text = text.strip()
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(text[-1:].lower(), 1)
    number = text[:-1] if text[-1:].lower() in "kmg" and text else text
    return _atoi(number) * (scale if _atoi(number) > 0 else 1)


def _pool(state: _State, section: _Section) -> FpmPool:
    """The pool php-fpm runs: defaults, `start_servers`' default, and the checks of
    `fpm_conf_process_all_pools()` (same wording, naming the line that set the value)."""
    values = section.values
    name = section.name

    def where(key: str) -> Location:
        return values[key][1] if key in values else section.location

    def number(key: str, default: int) -> int:
        return _atoi(values[key][0]) if key in values else default

    def fail(message: str, key: str) -> CapplanError:
        return CapplanError(f"[pool {name}] {message}", where(key))

    listen = values.get("listen", ("", section.location))[0]
    if not listen:
        raise fail("no listen address have been defined!", "listen")
    if not listen.startswith("/") and ":" not in listen and not listen.isdigit():
        # A relative unix socket path lives under the pool's prefix (or php-fpm's).
        pool_prefix = values.get("prefix", (state.prefix, section.location))[0]
        listen = f"{pool_prefix.rstrip('/')}/{listen}"
    if "pm" not in values:
        raise fail("the process manager is missing (static, dynamic or ondemand)", "pm")
    pm_text = values["pm"][0].lower()
    pm: PmStyle = (
        "static" if pm_text == "static" else "dynamic" if pm_text == "dynamic" else ("ondemand")
    )
    max_children = number("pm.max_children", 0)
    if max_children < 1:
        raise fail("pm.max_children must be a positive value", "pm.max_children")
    min_spare = number("pm.min_spare_servers", 0)
    max_spare = number("pm.max_spare_servers", 0)
    start = number("pm.start_servers", 0)
    idle_timeout = (
        time_seconds(values["pm.process_idle_timeout"][0])
        if ("pm.process_idle_timeout" in values)
        else 10
    )
    if pm == "dynamic":
        if min_spare <= 0:
            raise fail(
                f"pm.min_spare_servers({min_spare}) must be a positive value",
                "pm.min_spare_servers",
            )
        if max_spare <= 0:
            raise fail(
                f"pm.max_spare_servers({max_spare}) must be a positive value",
                "pm.max_spare_servers",
            )
        if min_spare > max_children or max_spare > max_children:
            raise fail(
                f"pm.min_spare_servers({min_spare}) and pm.max_spare_servers({max_spare}) "
                f"cannot be greater than pm.max_children({max_children})",
                "pm.max_spare_servers",
            )
        if max_spare < min_spare:
            raise fail(
                f"pm.max_spare_servers({max_spare}) must not be less than "
                f"pm.min_spare_servers({min_spare})",
                "pm.max_spare_servers",
            )
        if start <= 0:
            start = min_spare + (max_spare - min_spare) // 2
        elif start < min_spare or start > max_spare:
            raise fail(
                f"pm.start_servers({start}) must not be less than pm.min_spare_servers"
                f"({min_spare}) and not greater than pm.max_spare_servers({max_spare})",
                "pm.start_servers",
            )
    elif pm == "ondemand" and idle_timeout < 1:
        raise fail(
            f"pm.process_idle_timeout({idle_timeout}s) must be greater than 0s",
            "pm.process_idle_timeout",
        )
    memory_limit = None
    for array in ("php_admin_value", "php_value"):
        entry = section.arrays.get((array, "memory_limit"))
        if entry is not None:
            memory_limit = php_size_bytes(entry[0])
            break
    provenance = [(key, loc) for key, (_, loc) in values.items()]
    provenance += [(f"{a}[{k}]", loc) for (a, k), (_, loc) in section.arrays.items()]
    status = values.get("pm.status_path", ("", section.location))[0]
    return FpmPool(
        name=name,
        location=section.location,
        pm=pm,
        max_children=max_children,
        start_servers=start,
        min_spare_servers=min_spare,
        max_spare_servers=max_spare,
        max_requests=number("pm.max_requests", 0),
        process_idle_timeout_s=idle_timeout,
        listen=listen,
        listen_backlog=number("listen.backlog", -1),
        request_terminate_timeout_s=(
            time_seconds(values["request_terminate_timeout"][0])
            if "request_terminate_timeout" in values
            else 0
        ),
        status_path=status or None,
        memory_limit_bytes=memory_limit,
        provenance=tuple(provenance),
    )
