"""Traffic profiles (format version 1): YAML text to a validated, frozen TrafficProfile.

Stage: profile loading. Input: a profile file or its text. Output: `TrafficProfile` with every
default filled in, values in seconds and bytes, and the `file:line` of every value the user wrote.
All validation happens here, once; errors are `CapplanError`s with `path:line: message`, the
offending line and a caret. This module is the one home of yaml. The field table `PROFILE_FIELDS`
drives the validator, the JSON Schema and the report's profile object
(`capplan.render.profile`), so they cannot drift apart.
"""

from __future__ import annotations

import errno
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from capplan.errors import CapplanError
from capplan.files import read_regular_file
from capplan.location import Location
from capplan.units import parse_duration_s, parse_size_bytes, size_literal

PROFILE_VERSION = 1
MAX_PROFILE_BYTES = 1 << 20  # a profile is a few hundred bytes; anything above 1 MiB is a mistake
MAX_YAML_NODES = 10_000  # nodes after expanding aliases (a "billion laughs" file has 1e9)
MAX_YAML_ALIASES = 100
MAX_YAML_DEPTH = 20
MAX_FIXED_REQUESTS = 100

Distribution = Literal["geometric", "fixed"]

# z such that Phi(z) = 0.95: the lognormal fit of service_time_p50/p95
# (statistics.NormalDist().inv_cdf(0.95), written out: statistics costs the CLI's start-up).
_Z95 = 1.6448536269514715


# --------------------------------------------------------------------------------------------
# The profile types


@dataclass(frozen=True, slots=True)
class Traffic:
    """What the server must carry. `service_time_s` is the mean worker time per request."""

    requests_per_second: float
    service_time_s: float
    service_time_scv: float = 1.0
    worker_share: float = 1.0
    service_time_p50_s: float | None = None
    service_time_p95_s: float | None = None

    @property
    def worker_time_s(self) -> float:
        """S_w: the part of the service time that holds an event worker (derivations §4.1)."""
        return self.service_time_s * self.worker_share


@dataclass(frozen=True, slots=True)
class Visits:
    """How clients use connections: requests per visit, think gaps, idle holding, lingering."""

    requests_per_visit: float = 10.0
    distribution: Distribution = "geometric"
    think_time_s: float = 5.0
    idle_hold_probability: float = 1.0
    linger_s: float = 0.0
    connect_attempts: int = 7
    http2_share: float = 0.0
    http2_streams: float = 6.0

    @property
    def uses_http2(self) -> bool:
        return self.http2_share > 0.0


@dataclass(frozen=True, slots=True)
class Memory:
    """Measured memory (PSS/USS, not RSS). `ram_bytes` None: unknown, memory is not bounded."""

    ram_bytes: int | None = None
    parent_bytes: int = 20 << 20
    shared_bytes: int = 100 << 20
    prefork_process_bytes: int = 60 << 20
    threaded_process_bytes: int = 25 << 20
    thread_bytes: int = 1 << 20
    connection_bytes: int = 32 << 10
    process_spread_bytes: int = 0


@dataclass(frozen=True, slots=True)
class MaxWait:
    """P(a new connection waits longer than `time_s`) must be at most `probability`."""

    time_s: float = 0.2
    probability: float = 0.01


@dataclass(frozen=True, slots=True)
class Targets:
    """Service targets; None disables one."""

    max_wait_probability: float | None = 0.01
    max_wait: MaxWait | None = field(default_factory=MaxWait)
    max_block_probability: float | None = 0.001
    max_connection_limit_probability: float | None = 0.001
    max_memory_fraction: float | None = 0.9
    # None: the command's own default (RECOMMEND_HEADROOM for recommend, 0 for check).
    headroom: float | None = None


@dataclass(frozen=True, slots=True)
class Php:
    """The PHP-FPM side: which requests reach PHP, how long they spend there, and FPM's memory.

    `service_time_s`/`service_time_scv` None: the traffic's own (every request's worker time is
    time in PHP). `process_bytes`: private memory (PSS less the shared part) of one FPM child;
    `shared_bytes`: the FPM master and the memory its children share (opcache), counted once.
    """

    share: float = 1.0
    service_time_s: float | None = None
    service_time_scv: float | None = None
    process_bytes: int = 64 << 20
    shared_bytes: int = 128 << 20

    def service_s(self, traffic: Traffic) -> float:
        """S_php: mean time a PHP request spends in an FPM child."""
        return traffic.service_time_s if self.service_time_s is None else self.service_time_s

    def scv(self, traffic: Traffic) -> float:
        return traffic.service_time_scv if self.service_time_scv is None else self.service_time_scv


@dataclass(frozen=True, slots=True)
class TrafficProfile:
    """A validated profile. `locations` maps dotted keys (`traffic.service_time`) to file:line."""

    name: str
    traffic: Traffic
    visits: Visits = field(default_factory=Visits)
    memory: Memory = field(default_factory=Memory)
    targets: Targets = field(default_factory=Targets)
    source: str = ""
    locations: tuple[tuple[str, Location], ...] = ()
    # None: the profile has no `php:` section (PHP-FPM is not modelled).
    php: Php | None = None

    def location_of(self, key: str) -> Location | None:
        """Where the user wrote `key` (dotted, e.g. `visits.think_time`), or None (a default)."""
        for name, location in self.locations:
            if name == key:
                return location
        return None


# --------------------------------------------------------------------------------------------
# The field table: one row per key of the format


Kind = Literal["number", "integer", "probability", "duration", "size", "choice", "text", "object"]
REQUIRED: Any = object()  # sentinel default: the key must be given


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One key of the profile format: its kind, unit, bounds, default and documentation."""

    key: str
    kind: Kind
    default: Any
    help: str
    minimum: float | None = 0.0
    exclusive_minimum: bool = False
    maximum: float | None = None
    choices: tuple[str | int, ...] = ()
    nullable: bool = False
    fields: tuple[FieldSpec, ...] = ()

    @property
    def attr(self) -> str:
        """The dataclass attribute: durations end in `_s`, sizes in `_bytes` (house style)."""
        if self.kind == "duration":
            return f"{self.key}_s"
        if self.kind == "size":
            return f"{self.key}_bytes"
        return self.key


def _p(key: str, default: float | None, help_text: str, *, nullable: bool = True) -> FieldSpec:
    return FieldSpec(key, "probability", default, help_text, maximum=1.0, nullable=nullable)


def _size(key: str, default: int | None, help_text: str, *, nullable: bool = False) -> FieldSpec:
    return FieldSpec(key, "size", default, help_text, nullable=nullable)


# Upper bounds far beyond any real httpd; they keep the numerics in binary64's exact-integer range.
_MAX_RATE_PER_S = 1e8
_DAY_S = 86_400.0
_MAX_REQUESTS_PER_VISIT = 1e7
_MAX_SCV = 1e4
_MIN_SERVICE_S = 1e-9  # a mean worker time below a nanosecond is no web request
_MAX_LINGER_S = 30.0  # MAX_SECS_TO_LINGER in server/connection.c
_MAX_CONNECT_ATTEMPTS = 128  # 1 + MAX_TCP_SYNCNT (127), the largest tcp_syn_retries
# targets.headroom: at most ten times the profile's rate on top (beyond that, write the rate).
MAX_HEADROOM = 10.0
# The headroom `capplan recommend` sizes for when neither the profile nor --headroom gives one.
RECOMMEND_HEADROOM = 0.25

TRAFFIC_FIELDS = (
    FieldSpec(
        "requests_per_second",
        "number",
        REQUIRED,
        "peak request rate the server must carry (1/s)",
        exclusive_minimum=True,
        maximum=_MAX_RATE_PER_S,
    ),
    FieldSpec(
        "service_time",
        "duration",
        None,
        "mean worker time per request; required unless service_time_p50 and "
        "service_time_p95 are given",
        exclusive_minimum=True,
        maximum=_DAY_S,
    ),
    FieldSpec(
        "service_time_scv",
        "number",
        None,
        "squared coefficient of variation of the service time (default 1.0; not with p50/p95)",
        maximum=_MAX_SCV,
    ),
    FieldSpec(
        "service_time_p50",
        "duration",
        None,
        "median service time; with service_time_p95 a lognormal is fitted",
        exclusive_minimum=True,
        maximum=_DAY_S,
    ),
    FieldSpec(
        "service_time_p95",
        "duration",
        None,
        "95th percentile of the service time (must exceed service_time_p50)",
        exclusive_minimum=True,
        maximum=_DAY_S,
    ),
    FieldSpec(
        "worker_share",
        "number",
        1.0,
        "event: share of the service time that holds a worker thread (the rest is "
        "asynchronous write completion)",
        exclusive_minimum=True,
        maximum=1.0,
    ),
)

VISITS_FIELDS = (
    FieldSpec(
        "requests_per_visit",
        "number",
        10.0,
        "mean number of requests a client sends one after another over keep-alive",
        minimum=1.0,
        maximum=_MAX_REQUESTS_PER_VISIT,
    ),
    FieldSpec(
        "distribution",
        "choice",
        "geometric",
        "distribution of the requests per visit",
        choices=("geometric", "fixed"),
    ),
    FieldSpec(
        "think_time",
        "duration",
        5.0,
        "mean gap between a response and the visit's next request (client think time "
        "plus round trip)",
        exclusive_minimum=True,
        maximum=_DAY_S,
    ),
    _p(
        "idle_hold_probability",
        1.0,
        "probability that the client keeps its socket open after its last request, so the "
        "server idles a full KeepAliveTimeout",
        nullable=False,
    ),
    FieldSpec(
        "linger",
        "duration",
        0.0,
        "prefork/worker: extra worker time per closed connection (lingering close, about "
        "one round trip, at most 2 s)",
        maximum=_MAX_LINGER_S,
    ),
    FieldSpec(
        "connect_attempts",
        "integer",
        7,
        "how many times a client sends its SYN before giving up when the accept queue is full "
        "(1 + the kernel's SYN retransmissions: 7 on Linux before 6.5, 11 from 6.5, 3 on Windows)",
        minimum=1,
        maximum=_MAX_CONNECT_ATTEMPTS,
    ),
    _p(
        "http2_share",
        0.0,
        "share of visits that use HTTP/2 (one connection, its requests sent as concurrent "
        "streams); 0 models HTTP/1.1 only",
        nullable=False,
    ),
    FieldSpec(
        "http2_streams",
        "number",
        6.0,
        "HTTP/2 visits: mean requests sent at once (one page and its resources, each on its own "
        "stream); the think time separates these bursts instead of single requests",
        minimum=1.0,
        maximum=_MAX_REQUESTS_PER_VISIT,
    ),
)
# Keys that exist only for HTTP/2: left out of reports while visits.http2_share is 0, so that
# HTTP/1.1-only reports stay exactly as they were.
HTTP2_KEYS = ("visits.http2_share", "visits.http2_streams")

MEMORY_FIELDS = (
    FieldSpec(
        "ram",
        "size",
        None,
        "memory available to httpd; null (the default) leaves memory unbounded "
        "and the memory target unchecked",
        exclusive_minimum=True,
        nullable=True,
    ),
    _size("parent", 20 << 20, "private memory of the parent process"),
    _size(
        "shared", 100 << 20, "shared memory counted once: code, opcode caches, copy-on-write pages"
    ),
    _size("prefork_process", 60 << 20, "private memory (USS) of one prefork child"),
    _size(
        "threaded_process", 25 << 20, "private memory of one worker/event child, threads excluded"
    ),
    _size("thread", 1 << 20, "private memory per worker thread (touched stack, allocator)"),
    _size(
        "connection",
        32 << 10,
        "event: memory per open connection (connection pool, buffers; more with TLS)",
    ),
    _size(
        "process_spread",
        0,
        "standard deviation of the children's private memory (capplan measure fills it); the "
        "worst case adds 1.645 x spread x sqrt(processes) for children that differ",
    ),
)

MAX_WAIT_FIELDS = (
    FieldSpec("time", "duration", 0.2, "the wait that should rarely be exceeded"),
    _p("probability", 0.01, "largest acceptable P(wait > time)", nullable=False),
)

TARGETS_FIELDS = (
    _p("max_wait_probability", 0.01, "largest acceptable P(a new connection waits for a worker)"),
    FieldSpec(
        "max_wait",
        "object",
        {},
        "P(wait > time) at most probability",
        nullable=True,
        fields=MAX_WAIT_FIELDS,
    ),
    _p(
        "max_block_probability",
        0.001,
        "largest acceptable P(accept queue full: the SYN is dropped, about 1 s retry)",
    ),
    _p(
        "max_connection_limit_probability",
        0.001,
        "event: largest acceptable P(no process can accept a new connection)",
    ),
    FieldSpec(
        "max_memory_fraction",
        "number",
        0.9,
        "largest acceptable worst-case memory as a fraction of memory.ram",
        exclusive_minimum=True,
        maximum=1.0,
        nullable=True,
    ),
    FieldSpec(
        "headroom",
        "number",
        None,
        "traffic growth the targets must absorb: 0.25 means they hold at 1.25 times "
        "traffic.requests_per_second (default: 0.25 for recommend, 0 for check)",
        maximum=MAX_HEADROOM,
        nullable=True,
    ),
)

PHP_FIELDS = (
    _p(
        "share",
        1.0,
        "share of requests that reach PHP-FPM (the rest are static files or other handlers); "
        "1 means every request",
        nullable=False,
    ),
    FieldSpec(
        "service_time",
        "duration",
        None,
        "mean time a PHP request spends in an FPM child (default: traffic.service_time); "
        "share × service_time is part of traffic.service_time, which it cannot exceed",
        exclusive_minimum=True,
        maximum=_DAY_S,
        nullable=True,
    ),
    FieldSpec(
        "service_time_scv",
        "number",
        None,
        "squared coefficient of variation of the time in PHP (default: traffic.service_time_scv)",
        maximum=_MAX_SCV,
        nullable=True,
    ),
    _size("process", 64 << 20, "private memory (PSS) of one PHP-FPM child, shared pages excluded"),
    _size(
        "shared",
        128 << 20,
        "memory of the PHP-FPM master and the pages its children share (opcache), counted once",
    ),
)

PROFILE_FIELDS = (
    FieldSpec("version", "integer", PROFILE_VERSION, "profile format version", choices=(1,)),
    FieldSpec(
        "name",
        "text",
        None,
        "profile name in reports (default: the file name without its extension)",
    ),
    FieldSpec("traffic", "object", REQUIRED, "the load", fields=TRAFFIC_FIELDS),
    FieldSpec("visits", "object", {}, "how clients use connections", fields=VISITS_FIELDS),
    FieldSpec(
        "memory", "object", {}, "measured memory per process and thread", fields=MEMORY_FIELDS
    ),
    FieldSpec(
        "targets",
        "object",
        {},
        "service targets checked by `check` and met by `recommend`",
        fields=TARGETS_FIELDS,
    ),
    FieldSpec(
        "php",
        "object",
        None,
        "PHP-FPM behind httpd (mod_proxy_fcgi): sized with httpd when present (an empty "
        "section takes every default)",
        fields=PHP_FIELDS,
    ),
)


# --------------------------------------------------------------------------------------------
# Safe YAML: no tags, bounded size, depth and alias expansion


class _Mark(Protocol):
    """A YAML position (both the pure-Python and the libyaml mark types have these)."""

    @property
    def line(self) -> int: ...  # 0-based

    @property
    def column(self) -> int: ...  # 0-based


class _Rejected(Exception):
    """A YAML construct refused by the profile loader (converted to a CapplanError)."""

    def __init__(self, message: str, mark: _Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _ProfileLoader(yaml.SafeLoader):
    """SafeLoader that composes nodes only, refusing every explicit tag and bounding aliases.

    Plain scalars are still resolved by YAML's implicit rules (int, float, bool, null, str).
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.alias_count = 0
        self.depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_YAML_ALIASES:
                raise _Rejected(f"more than {MAX_YAML_ALIASES} YAML aliases", event.start_mark)
        elif isinstance(event, ScalarEvent | CollectionStartEvent) and event.tag is not None:
            shown = event.tag.replace("tag:yaml.org,2002:", "!!")
            raise _Rejected(
                f"YAML tags are not allowed in a profile (found {shown})", event.start_mark
            )
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise _Rejected(f"nested more than {MAX_YAML_DEPTH} levels deep", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _expanded_size(root: Node) -> int:
    """Number of nodes after alias expansion (memoised, so a YAML bomb is measured, not built)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _Rejected(
                "a YAML alias refers to its own anchor (recursive structure)", node.start_mark
            )
        active.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        sizes[key] = min(total, MAX_YAML_NODES + 1)
        if total > MAX_YAML_NODES:
            raise _Rejected(
                f"the YAML expands to more than {MAX_YAML_NODES} nodes through aliases "
                "(an alias bomb?)",
                node.start_mark,
            )
        return sizes[key]

    size(root)
    return sizes[id(root)]


def _compose(text: str, source: str) -> Node | None:
    loader = _ProfileLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _expanded_size(node)
    except _Rejected as exc:
        raise _error(source, text, exc.message, exc.mark) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = str(exc.problem or exc.context or "invalid YAML")
        if exc.context and problem.startswith("but "):
            problem = f"{exc.context}, {problem}"  # "expected a single document ..., but found"
        problem = " ".join(problem.split())
        raise _error(source, text, f"invalid YAML: {problem}", mark) from None
    except yaml.YAMLError as exc:
        raise CapplanError(f"{source}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return node


# --------------------------------------------------------------------------------------------
# Validation over the node tree (line numbers come from the node marks)


def _error(source: str, text: str, message: str, mark: _Mark | None) -> CapplanError:
    if mark is None:
        return CapplanError(f"{source}: {message}")
    lines = text.splitlines()
    line = lines[mark.line] if 0 <= mark.line < len(lines) else None
    return CapplanError(
        message, Location(source, mark.line + 1), source_line=line, column=mark.column
    )


_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


@dataclass(slots=True)
class _Validator:
    source: str
    text: str
    locations: list[tuple[str, Location]] = field(default_factory=list)

    def fail(self, node: Node, message: str) -> CapplanError:
        return _error(self.source, self.text, message, node.start_mark)

    def scalar(self, node: Node, dotted: str) -> Any:
        if not isinstance(node, ScalarNode):
            kind = "a list" if isinstance(node, SequenceNode) else "a mapping"
            raise self.fail(node, f"{dotted}: expected a single value, got {kind}")
        # Explicit tags were refused while composing; these are YAML's implicit types.
        if node.tag in _NUMBER_TAGS and ":" in node.value:
            # YAML 1.1 sexagesimal (`1:30` is 90): nobody means that in a profile; a time of
            # day or a ratio is no number either.
            return node.value
        try:
            return self._implicit(node)
        except (ValueError, OverflowError):
            raise self.fail(
                node, f"{dotted}: {node.value[:40]!r}… is not a number capplan can use"
            ) from None

    def _implicit(self, node: ScalarNode) -> Any:
        match node.tag:
            case "tag:yaml.org,2002:int":
                return _CONSTRUCTOR.construct_yaml_int(node)
            case "tag:yaml.org,2002:float":
                return _CONSTRUCTOR.construct_yaml_float(node)
            case "tag:yaml.org,2002:bool":
                return _CONSTRUCTOR.construct_yaml_bool(node)
            case "tag:yaml.org,2002:null":
                return None
        return node.value  # str, and timestamps or other implicit types read as text

    def number(self, node: Node, dotted: str) -> float:
        value = self.scalar(node, dotted)
        # NOTE: YAML 1.1 reads a plain `1e-3` (no dot) as a string; accept it as the number it is.
        plain = isinstance(node, ScalarNode) and node.style is None
        if isinstance(value, str) and plain and _NUMBER.match(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(node, f"{dotted}: expected a number, got {_describe(value)}")
        try:
            number = float(value)  # an int of hundreds of digits overflows here
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise self.fail(node, f"{dotted}: must be a finite number")
        return number

    def quantity(self, node: Node, dotted: str, parse: Callable[[str], float]) -> float:
        value = self.scalar(node, dotted)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(
                node, f"{dotted}: expected a number with a unit, got {_describe(value)}"
            )
        try:
            return parse(str(value))
        except CapplanError as exc:
            raise self.fail(node, f"{dotted}: {exc.message}") from None

    def value(self, spec: FieldSpec, node: Node, dotted: str) -> Any:
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            if spec.nullable:
                return None
            if spec.kind == "object":
                return self.mapping(spec.fields, None, dotted)
            raise self.fail(node, f"{dotted}: needs a value (null is not allowed here)")
        result: Any
        match spec.kind:
            case "object":
                return self.mapping(spec.fields, node, dotted)
            case "text":
                result = self.scalar(node, dotted)
                if not isinstance(result, str) or not result.strip():
                    raise self.fail(node, f"{dotted}: expected a non-empty text")
                return result
            case "integer" if not spec.choices:
                result = self.scalar(node, dotted)
                if not isinstance(result, int) or isinstance(result, bool):
                    raise self.fail(node, f"{dotted}: expected a whole number, got {result!r}")
            case "choice" | "integer":
                result = self.scalar(node, dotted)
                if result not in spec.choices or isinstance(result, bool):
                    allowed = ", ".join(str(c) for c in spec.choices)
                    suggestion = _did_you_mean(str(result), [str(c) for c in spec.choices])
                    raise self.fail(
                        node, f"{dotted}: {result!r} is not one of: {allowed}{suggestion}"
                    )
                return result
            case "duration":
                result = self.quantity(node, dotted, parse_duration_s)
            case "size":
                result = int(self.quantity(node, dotted, parse_size_bytes))
            case "number" | "probability":
                result = self.number(node, dotted)
        self.check_bounds(spec, node, dotted, result)
        return result

    def check_bounds(self, spec: FieldSpec, node: Node, dotted: str, value: float) -> None:
        if spec.minimum is not None:
            if spec.exclusive_minimum and value <= spec.minimum:
                raise self.fail(
                    node, f"{dotted}: must be greater than {spec.minimum:g}, got {value:g}"
                )
            if value < spec.minimum:
                raise self.fail(node, f"{dotted}: must be at least {spec.minimum:g}, got {value:g}")
        if spec.maximum is not None and value > spec.maximum:
            if spec.kind == "probability":
                raise self.fail(
                    node, f"{dotted}: a probability in [0, 1] is expected, got {value:g}"
                )
            unit = " s" if spec.kind == "duration" else ""
            raise self.fail(
                node, f"{dotted}: must be at most {spec.maximum:g}{unit}, got {value:g}{unit}"
            )

    def mapping(
        self, specs: tuple[FieldSpec, ...], node: Node | None, prefix: str
    ) -> dict[str, Any]:
        given: dict[str, tuple[Node, Node]] = {}
        if node is not None:
            if not isinstance(node, MappingNode):
                where = prefix or "the profile"
                raise self.fail(node, f"{where}: expected a mapping of keys to values")
            known = {spec.key for spec in specs}
            for key_node, value_node in node.value:
                key = self.scalar(key_node, prefix or "key")
                dotted = f"{prefix}.{key}" if prefix else str(key)
                if key not in known:
                    hint = _did_you_mean(str(key), sorted(known))
                    raise self.fail(key_node, f"unknown key {dotted!r}{hint}")
                if key in given:
                    first = given[key][0].start_mark.line + 1
                    raise self.fail(
                        key_node, f"duplicate key {dotted!r} (first given on line {first})"
                    )
                given[key] = (key_node, value_node)
        values: dict[str, Any] = {}
        for spec in specs:
            dotted = f"{prefix}.{spec.key}" if prefix else spec.key
            if spec.key in given:
                key_node, value_node = given[spec.key]
                self.locations.append((dotted, Location(self.source, key_node.start_mark.line + 1)))
                values[spec.key] = self.value(spec, value_node, dotted)
            elif spec.default is REQUIRED:
                anchor = node if node is not None else None
                message = f"missing required key {dotted!r}"
                if anchor is None:
                    raise CapplanError(f"{self.source}: {message}")
                raise self.fail(anchor, message)
            elif spec.kind == "object" and spec.default is not None:
                values[spec.key] = self.mapping(spec.fields, None, dotted)
            else:
                values[spec.key] = spec.default
        return values

    def node_of(self, root: Node, dotted: str) -> Node:
        """The value node at a dotted key (for cross-field errors); the root if absent."""
        node = root
        for part in dotted.split("."):
            if not isinstance(node, MappingNode):
                return node
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode) and key_node.value == part:
                    node = value_node
                    break
            else:
                return node
        return node


_CONSTRUCTOR = yaml.SafeLoader("")


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{type(value).__name__} {value!r}"


def _did_you_mean(word: str, candidates: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# --------------------------------------------------------------------------------------------
# Building the profile


def _lognormal_fit(p50_s: float, p95_s: float) -> tuple[float, float]:
    """Mean and SCV of the lognormal with these median and 95th percentile.

    mu = ln p50, sigma = ln(p95/p50)/z_0.95; mean = exp(mu + sigma²/2), SCV = exp(sigma²) - 1.
    Overflow (p95/p50 beyond 1e30 or so) gives inf, for the caller's range check.
    """
    sigma = math.log(p95_s / p50_s) / _Z95
    try:
        return p50_s * math.exp(sigma * sigma / 2), math.expm1(sigma * sigma)
    except OverflowError:
        return math.inf, math.inf


# The largest p95/p50 whose lognormal has an SCV within _MAX_SCV: exp(z95 √ln(1 + SCV)).
_MAX_P95_RATIO = math.exp(_Z95 * math.sqrt(math.log1p(_MAX_SCV)))


def _build(values: dict[str, Any], v: _Validator, root: Node, default_name: str) -> TrafficProfile:
    traffic = values["traffic"]
    mean_s, scv = traffic["service_time"], traffic["service_time_scv"]
    p50_s, p95_s = traffic["service_time_p50"], traffic["service_time_p95"]
    if p50_s is not None or p95_s is not None:
        if mean_s is not None or scv is not None:
            other = "service_time" if mean_s is not None else "service_time_scv"
            raise v.fail(
                v.node_of(root, f"traffic.{other}"),
                f"traffic.{other}: give either service_time (with service_time_scv) "
                "or service_time_p50 and service_time_p95, not both",
            )
        if p50_s is None or p95_s is None:
            missing = "service_time_p50" if p50_s is None else "service_time_p95"
            raise v.fail(
                v.node_of(root, "traffic"),
                f"traffic.{missing} is missing: the "
                "lognormal fit needs both service_time_p50 and service_time_p95",
            )
        if p95_s <= p50_s:
            raise v.fail(
                v.node_of(root, "traffic.service_time_p95"),
                f"traffic.service_time_p95 ({p95_s:g} s) must be greater than "
                f"service_time_p50 ({p50_s:g} s)",
            )
        mean_s, scv = _lognormal_fit(p50_s, p95_s)
        # The fit is a derived quantity: held to the bounds service_time and
        # service_time_scv have when given directly.
        if not (_MIN_SERVICE_S <= mean_s <= _DAY_S and scv <= _MAX_SCV):
            raise v.fail(
                v.node_of(root, "traffic.service_time_p95"),
                f"traffic.service_time_p95: the lognormal through p50 {p50_s:g} s and p95 "
                f"{p95_s:g} s has mean {mean_s:.3g} s and SCV {scv:.3g} (the mean must lie "
                f"in [{_MIN_SERVICE_S:g}, {_DAY_S:g}] s, the SCV at most {_MAX_SCV:g}: "
                f"p95/p50 at most {_MAX_P95_RATIO:.0f})",
            )
    elif mean_s is not None and mean_s < _MIN_SERVICE_S:
        raise v.fail(
            v.node_of(root, "traffic.service_time"),
            f"traffic.service_time: {mean_s:g} s is below {_MIN_SERVICE_S:g} s; no request is "
            "served that fast, and the model squares it (which underflows)",
        )
    elif mean_s is None:
        raise v.fail(
            v.node_of(root, "traffic"),
            "missing required key 'traffic.service_time' "
            "(or service_time_p50 and service_time_p95)",
        )
    worker_s = mean_s * traffic["worker_share"]
    if worker_s < _MIN_SERVICE_S:
        raise v.fail(
            v.node_of(root, "traffic.worker_share"),
            f"traffic.worker_share: the worker time per request, service time × worker_share "
            f"= {worker_s:.3g} s, is below {_MIN_SERVICE_S:g} s",
        )
    visits = values["visits"]
    if visits["distribution"] == "fixed" and not float(visits["requests_per_visit"]).is_integer():
        raise v.fail(
            v.node_of(root, "visits.requests_per_visit"),
            "visits.requests_per_visit: a fixed distribution needs a whole number, got "
            f"{visits['requests_per_visit']:g}",
        )
    if visits["distribution"] == "fixed" and visits["requests_per_visit"] > MAX_FIXED_REQUESTS:
        raise v.fail(
            v.node_of(root, "visits.requests_per_visit"),
            f"visits.requests_per_visit: a fixed distribution allows at most "
            f"{MAX_FIXED_REQUESTS} requests per visit (its exact holding time costs "
            "visits x MaxKeepAliveRequests steps); use geometric for longer visits",
        )
    targets = values["targets"]
    max_wait = targets["max_wait"]
    memory = values["memory"]
    php = None
    if values["php"] is not None:
        php = Php(**{spec.attr: values["php"][spec.key] for spec in PHP_FIELDS})
        php_s = php.service_s(Traffic(traffic["requests_per_second"], mean_s))
        if php.share * php_s > mean_s * (1 + 1e-9):
            raise v.fail(
                v.node_of(root, "php.service_time" if php.service_time_s else "php.share"),
                f"php: share × service_time = {php.share * php_s:.3g} s exceeds "
                f"traffic.service_time ({mean_s:.3g} s), the mean worker time of every request, "
                "which includes the time in PHP",
            )
    return TrafficProfile(
        name=values["name"] if values["name"] is not None else default_name,
        traffic=Traffic(
            requests_per_second=traffic["requests_per_second"],
            service_time_s=mean_s,
            service_time_scv=1.0 if scv is None else scv,
            worker_share=traffic["worker_share"],
            service_time_p50_s=p50_s,
            service_time_p95_s=p95_s,
        ),
        visits=Visits(**{spec.attr: visits[spec.key] for spec in VISITS_FIELDS}),
        memory=Memory(**{spec.attr: memory[spec.key] for spec in MEMORY_FIELDS}),
        targets=Targets(
            max_wait_probability=targets["max_wait_probability"],
            max_wait=None
            if max_wait is None
            else MaxWait(max_wait["time"], max_wait["probability"]),
            max_block_probability=targets["max_block_probability"],
            max_connection_limit_probability=targets["max_connection_limit_probability"],
            max_memory_fraction=targets["max_memory_fraction"],
            headroom=targets["headroom"],
        ),
        source=v.source,
        locations=tuple(v.locations),
        php=php,
    )


def profile_from_text(text: str, source_name: str) -> TrafficProfile:
    """Validate profile text; `source_name` is the path shown in errors and the default name."""
    if len(text) > MAX_PROFILE_BYTES:
        raise CapplanError(
            f"{source_name}: the profile is too large ({len(text)} characters; "
            f"at most {MAX_PROFILE_BYTES >> 20} MiB)"
        )
    root = _compose(text, source_name)
    if root is None:
        raise CapplanError(
            f"{source_name}: the profile is empty (it needs at least traffic."
            "requests_per_second and traffic.service_time)"
        )
    validator = _Validator(source_name, text)
    values = validator.mapping(PROFILE_FIELDS, root, "")
    stem = Path(source_name).stem or source_name
    return _build(values, validator, root, stem)


def load_profile(path: str | Path) -> TrafficProfile:
    """Read and validate a profile file (at most 1 MiB, UTF-8)."""
    source = str(path)
    try:
        # A regular file only: a FIFO without a writer would block, /dev/zero never end.
        data = read_regular_file(path, MAX_PROFILE_BYTES)
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            raise CapplanError(
                f"{source}: the profile is larger than {MAX_PROFILE_BYTES >> 20} MiB; "
                "is this the right file?"
            ) from None
        raise CapplanError(f"{source}: cannot read the profile: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CapplanError(
            f"the profile is not UTF-8 text (byte {exc.start})", Location(source, line)
        ) from None
    return profile_from_text(text, source)


# --------------------------------------------------------------------------------------------
# Output: the profile as data (JSON report) and the JSON Schema of the format


_DURATION_PATTERN = r"^\s*(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*(ms|s|min|h)?\s*$"
_SIZE_PATTERN = r"^\s*(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*(B|K|KiB|M|MiB|G|GiB|T|TiB)?\s*$"


def _schema_of(spec: FieldSpec) -> dict[str, Any]:
    schema: dict[str, Any]
    bounds: dict[str, Any] = {}
    if spec.minimum is not None:
        bounds["exclusiveMinimum" if spec.exclusive_minimum else "minimum"] = spec.minimum
    if spec.maximum is not None:
        bounds["maximum"] = spec.maximum
    match spec.kind:
        case "object":
            schema = _object_schema(spec.fields)
        case "text":
            schema = {"type": "string", "minLength": 1}
        case "integer" if not spec.choices:
            schema = {"type": "integer", **bounds}
        case "choice" | "integer":
            schema = {"enum": list(spec.choices)}
        case "duration":
            schema = {
                "oneOf": [
                    {"type": "number", **bounds},
                    {"type": "string", "pattern": _DURATION_PATTERN},
                ]
            }
        case "size":
            schema = {
                "oneOf": [
                    {"type": "integer", **bounds},
                    {"type": "string", "pattern": _SIZE_PATTERN},
                ]
            }
        case "number" | "probability":
            schema = {"type": "number", **bounds}
    units = {
        "duration": " Seconds, or a number with ms, s, min or h.",
        "size": " Bytes, or a number with KiB, MiB, GiB, K, M or G (binary).",
    }
    unit = units.get(spec.kind, "")
    description = spec.help[0].upper() + spec.help[1:] + "." + unit
    if (
        spec.default is not REQUIRED
        and spec.kind != "object"
        and (spec.default is not None or spec.nullable)
    ):
        description += f" Default: {_default_text(spec)}."
    schema = {"description": description, **schema}
    if spec.nullable:
        schema = {
            "description": description,
            "anyOf": [
                {k: val for k, val in schema.items() if k != "description"},
                {"type": "null"},
            ],
        }
    if spec.default is not REQUIRED and spec.default is not None and spec.kind != "object":
        schema["default"] = spec.default
    return schema


def _default_text(spec: FieldSpec) -> str:
    if spec.default is None:
        return "null"
    if spec.kind == "duration":
        return f"{spec.default:g} s"
    if spec.kind == "size":
        return size_literal(int(spec.default))
    return str(spec.default)


def _object_schema(specs: tuple[FieldSpec, ...]) -> dict[str, Any]:
    required = [spec.key for spec in specs if spec.default is REQUIRED]
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {spec.key: _schema_of(spec) for spec in specs},
    }
    if required:
        schema["required"] = required
    return schema


def profile_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of profile format version 1, built from `PROFILE_FIELDS`."""
    schema = _object_schema(PROFILE_FIELDS)
    traffic = schema["properties"]["traffic"]
    traffic["anyOf"] = [
        {"required": ["service_time"]},
        {"required": ["service_time_p50", "service_time_p95"]},
    ]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "capplan traffic profile, version 1",
        "description": "Traffic, visit shape, memory and targets for capplan. Durations: seconds "
        "or ms/s/min/h; sizes: bytes or KiB/MiB/GiB/K/M/G.",
        **schema,
    }


def profile_json_schema_text() -> str:
    """The JSON Schema as indented JSON text, ending in a newline."""
    import json

    return json.dumps(profile_json_schema(), indent=2) + "\n"


def iter_fields(
    specs: tuple[FieldSpec, ...] = PROFILE_FIELDS, prefix: str = ""
) -> list[tuple[str, FieldSpec]]:
    """Every key of the format as (dotted key, spec), depth first (for docs and tests)."""
    out: list[tuple[str, FieldSpec]] = []
    for spec in specs:
        dotted = f"{prefix}.{spec.key}" if prefix else spec.key
        out.append((dotted, spec))
        if spec.fields:
            out.extend(iter_fields(spec.fields, dotted))
    return out


__all__ = [
    "HTTP2_KEYS",
    "MAX_PROFILE_BYTES",
    "PROFILE_FIELDS",
    "PROFILE_VERSION",
    "FieldSpec",
    "MaxWait",
    "Memory",
    "Php",
    "Targets",
    "Traffic",
    "TrafficProfile",
    "Visits",
    "iter_fields",
    "load_profile",
    "profile_from_text",
    "profile_json_schema",
    "profile_json_schema_text",
]
