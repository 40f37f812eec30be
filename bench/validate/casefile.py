"""Validation cases: one YAML file per case under `bench/validate/cases/`.

Input: the YAML text of a case (server settings that are pinned in the generated httpd config, and
the traffic the generator sends). Output: a frozen `Case`. Unknown keys, wrong types and values out
of range are errors naming the file and line (`CaseError`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import yaml

Mpm = Literal["prefork", "worker", "event"]
CASE_DIR = Path(__file__).parent / "cases"


class CaseError(ValueError):
    """A case file that cannot be run; the message starts with `path:line:`."""


@dataclass(frozen=True, slots=True)
class ServerCase:
    """What the generated httpd config pins (every worker pre-spawned, no child recycling)."""

    mpm: Mpm
    processes: int  # prefork: processes = workers; worker/event: children
    threads_per_child: int  # 1 for prefork
    keep_alive: bool
    keep_alive_timeout_s: float
    max_keep_alive_requests: int
    listen_backlog: int
    async_request_worker_factor: float
    # AcceptFilter http: "none" (a plain accept queue, the model's) or "data" (httpd's default on
    # Linux, TCP_DEFER_ACCEPT: a connection is queued only once its request has arrived).
    accept_filter: str = "none"

    @property
    def workers(self) -> int:
        return self.processes * self.threads_per_child


@dataclass(frozen=True, slots=True)
class TrafficCase:
    """What the open-loop generator sends (the model's H1 to H8 inputs)."""

    requests_per_second: float
    service_time_s: float
    requests_per_visit: float
    think_time_s: float
    idle_hold_probability: float
    # The clients' network round trip: a client answers the server's close (its FIN), and its
    # own close of an idle connection reaches the server, this long after (0: at once, as over
    # loopback). The generator emulates it; the validation profile's linger is the same.
    round_trip_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    description: str
    quick: bool
    duration_s: float
    warmup_s: float
    seed: int
    server: ServerCase
    traffic: TrafficCase
    measure_block: bool  # the accept queue is small enough for P(block) to be measured
    # Capture the handshakes on lo (tcpdump): P(block) from the SYNs and SYN-ACKs sent again.
    capture: bool = False

    def with_round_trip(self, round_trip_s: float) -> Case:
        """This case with its clients `round_trip_s` away (`TrafficCase.round_trip_s`)."""
        return replace(self, traffic=replace(self.traffic, round_trip_s=round_trip_s))


# The longest round trip a case may put its clients at, in seconds.
MAX_ROUND_TRIP_S = 1.0


_SERVER_KEYS: dict[str, type] = {
    "mpm": str,
    "workers": int,
    "processes": int,
    "threads_per_child": int,
    "keep_alive": bool,
    "keep_alive_timeout_s": float,
    "max_keep_alive_requests": int,
    "listen_backlog": int,
    "async_request_worker_factor": float,
    "accept_filter": str,
}
_TRAFFIC_KEYS: dict[str, type] = {
    "requests_per_second": float,
    "service_time_s": float,
    "requests_per_visit": float,
    "think_time_s": float,
    "idle_hold_probability": float,
    "round_trip_s": float,
}
_TOP_KEYS: dict[str, type] = {
    "description": str,
    "quick": bool,
    "duration_s": float,
    "warmup_s": float,
    "seed": int,
    "server": dict,
    "traffic": dict,
    "measure_block": bool,
    "capture": bool,
}


def _mapping(node: yaml.Node, path: Path, where: str) -> dict[str, tuple[yaml.Node, int]]:
    if not isinstance(node, yaml.MappingNode):
        raise CaseError(f"{path}:{node.start_mark.line + 1}: {where} must be a mapping")
    out: dict[str, tuple[yaml.Node, int]] = {}
    for key_node, value_node in node.value:
        out[str(key_node.value)] = (value_node, key_node.start_mark.line + 1)
    return out


def _typed(
    items: dict[str, tuple[yaml.Node, int]],
    schema: dict[str, type],
    path: Path,
    where: str,
) -> dict[str, object]:
    values: dict[str, object] = {}
    for key, (node, line) in items.items():
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise CaseError(f"{path}:{line}: unknown key {key!r} in {where} (known: {known})")
        want = schema[key]
        if want is dict:
            values[key] = node
            continue
        value = yaml.safe_load(yaml.serialize(node))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise CaseError(f"{path}:{line}: {where}.{key} must be {want.__name__}, got {value!r}")
        values[key] = value
    return values


def _require(values: dict[str, object], key: str, path: Path, line: int, where: str) -> object:
    if key not in values:
        raise CaseError(f"{path}:{line}: {where} needs {key!r}")
    return values[key]


def _check(ok: bool, path: Path, line: int, message: str) -> None:
    if not ok:
        raise CaseError(f"{path}:{line}: {message}")


def parse_case(text: str, path: Path) -> Case:
    """Parse and validate one case file's text; `path` names it in errors and gives the name."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise CaseError(f"{path}:{line}: not valid YAML") from None
    if root is None:
        raise CaseError(f"{path}:1: empty case file")
    top = _typed(_mapping(root, path, "case"), _TOP_KEYS, path, "case")
    line = root.start_mark.line + 1
    server_node = _require(top, "server", path, line, "case")
    traffic_node = _require(top, "traffic", path, line, "case")
    assert isinstance(server_node, yaml.Node)
    assert isinstance(traffic_node, yaml.Node)
    server_line = server_node.start_mark.line + 1
    traffic_line = traffic_node.start_mark.line + 1
    srv = _typed(_mapping(server_node, path, "server"), _SERVER_KEYS, path, "server")
    trf = _typed(_mapping(traffic_node, path, "traffic"), _TRAFFIC_KEYS, path, "traffic")

    mpm = _require(srv, "mpm", path, server_line, "server")
    _check(mpm in ("prefork", "worker", "event"), path, server_line, f"unknown mpm {mpm!r}")
    if mpm == "prefork":
        processes = int(str(_require(srv, "workers", path, server_line, "server")))
        threads = 1
    else:
        processes = int(str(_require(srv, "processes", path, server_line, "server")))
        threads = int(str(_require(srv, "threads_per_child", path, server_line, "server")))
    server = ServerCase(
        mpm=mpm,  # type: ignore[arg-type]
        processes=processes,
        threads_per_child=threads,
        keep_alive=bool(srv.get("keep_alive", True)),
        keep_alive_timeout_s=float(str(srv.get("keep_alive_timeout_s", 1.0))),
        max_keep_alive_requests=int(str(srv.get("max_keep_alive_requests", 100))),
        listen_backlog=int(str(srv.get("listen_backlog", 511))),
        async_request_worker_factor=float(str(srv.get("async_request_worker_factor", 2.0))),
        accept_filter=str(srv.get("accept_filter", "none")),
    )
    _check(
        server.accept_filter in ("none", "data"),
        path,
        server_line,
        "accept_filter must be none or data",
    )
    _check(1 <= server.workers <= 64, path, server_line, "workers must be 1..64 on this harness")
    _check(server.listen_backlog >= 1, path, server_line, "listen_backlog must be >= 1")
    _check(server.keep_alive_timeout_s > 0, path, server_line, "keep_alive_timeout_s must be > 0")

    def number(key: str) -> float:
        return float(str(_require(trf, key, path, traffic_line, "traffic")))

    traffic = TrafficCase(
        requests_per_second=number("requests_per_second"),
        service_time_s=number("service_time_s"),
        requests_per_visit=number("requests_per_visit"),
        think_time_s=number("think_time_s"),
        idle_hold_probability=number("idle_hold_probability"),
        round_trip_s=float(str(trf.get("round_trip_s", 0.0))),
    )
    _check(0 < traffic.requests_per_second <= 1000, path, traffic_line, "rate must be 0..1000/s")
    _check(0.001 <= traffic.service_time_s <= 1, path, traffic_line, "service time 1 ms..1 s")
    _check(traffic.requests_per_visit >= 1, path, traffic_line, "requests_per_visit must be >= 1")
    _check(traffic.think_time_s > 0, path, traffic_line, "think_time_s must be > 0")
    _check(
        0 <= traffic.idle_hold_probability <= 1,
        path,
        traffic_line,
        "idle_hold_probability must be in [0, 1]",
    )
    _check(
        0 <= traffic.round_trip_s <= MAX_ROUND_TRIP_S,
        path,
        traffic_line,
        f"round_trip_s must be 0..{MAX_ROUND_TRIP_S:g} s",
    )
    duration_s = float(str(top.get("duration_s", 60.0)))
    warmup_s = float(str(top.get("warmup_s", 5.0)))
    _check(10 <= duration_s <= 600, path, line, "duration_s must be 10..600")
    _check(0 <= warmup_s < duration_s / 2, path, line, "warmup_s must be below duration_s/2")
    return Case(
        name=path.stem,
        description=str(top.get("description", "")),
        quick=bool(top.get("quick", False)),
        duration_s=duration_s,
        warmup_s=warmup_s,
        seed=int(str(top.get("seed", 1))),
        server=server,
        traffic=traffic,
        measure_block=bool(top.get("measure_block", False)),
        capture=bool(top.get("capture", False)),
    )


def load_case(path: Path) -> Case:
    try:
        text = path.read_text()
    except OSError as exc:
        raise CaseError(f"{path}:1: cannot read case file ({exc.strerror})") from None
    return parse_case(text, path)


def all_cases(directory: Path = CASE_DIR) -> tuple[Case, ...]:
    """Every case under `directory`, sorted by name."""
    return tuple(load_case(path) for path in sorted(directory.glob("*.yaml")))
