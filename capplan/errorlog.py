"""Evidence from httpd's error log that the server hit its worker limits.

Stage: a reader beside `capplan measure`. Input: error log files (plain or gzip; rotated ones
too). Output: `ErrorLogEvidence`, for each saturation message of the parent (prefork AH00161,
worker AH00286/AH00287/AH00288, event AH00484/AH10159/AH03490) the number of lines carrying it,
the first and last time and the count per hour, plus what each means for the config's MPM and the
sentences a recommendation cites (`error_log_citations`).

A line counts once for each code it contains, the way `grep -c AH00161` counts lines. Lines are
read in bounded pieces: a line longer than `MAX_LINE_BYTES` is counted from its first piece and
the rest skipped, so memory stays bounded whatever the file holds.
"""

from __future__ import annotations

import gzip
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from io import BufferedReader
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from capplan.errors import CapplanError
from capplan.mpm_names import Mpm

if TYPE_CHECKING:
    from capplan.models.types import MpmMetrics

Kind = Literal["reached", "near", "scoreboard_full"]
MAX_LINE_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class Message:
    """One saturation message of httpd's parent process, as `perform_idle_server_maintenance()`
    of its MPM writes it."""

    code: str
    mpm: Mpm
    kind: Kind
    text: str


# NOTE: every one of these is logged by `perform_idle_server_maintenance()` in prefork.c,
# worker.c or event.c. "reached" and "near" are logged once, then muted by a flag the parent keeps
# across restarts (`retained->maxclients_reported`): a graceful restart does not log them again
# (seen with Debian's apache2 2.4.71), only a new parent process does. "scoreboard is full" is
# logged on every maintenance pass, once a second, for as long as it lasts.
MESSAGES: tuple[Message, ...] = (
    Message("AH00161", Mpm.prefork, "reached", "server reached MaxRequestWorkers setting"),
    Message("AH00286", Mpm.worker, "reached", "server reached MaxRequestWorkers setting"),
    Message("AH00484", Mpm.event, "reached", "server reached MaxRequestWorkers setting"),
    Message("AH00287", Mpm.worker, "near", "server is within MinSpareThreads of MaxRequestWorkers"),
    Message("AH10159", Mpm.event, "near", "server is within MinSpareThreads of MaxRequestWorkers"),
    Message(
        "AH00288", Mpm.worker, "scoreboard_full", "scoreboard is full, not at MaxRequestWorkers"
    ),
    Message(
        "AH03490", Mpm.event, "scoreboard_full", "scoreboard is full, not at MaxRequestWorkers"
    ),
)
_BY_CODE = {m.code: m for m in MESSAGES}
_CODES = re.compile(rb"AH(?:00161|00286|00484|00287|10159|00288|03490)")
# httpd's default ErrorLogFormat time `[Wed Dec 02 11:56:27.123456 2026]` (%t, %{u}t), and the
# compact `%{cu}t` form `[2026-12-02 11:56:27.123456]`.
_CTIME = re.compile(rb"\[\w{3} (\w{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? (\d{4})\]")
_COMPACT = re.compile(rb"\[(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?\]")
# A parent that starts, or restarts, says "… configured -- resuming normal operations" (prefork
# AH00163, worker AH00292, event AH00489); a restart first says so ("Graceful restart requested",
# "SIGUSR1 received.  Doing graceful restart", "SIGHUP received.  Attempting to restart").
_RESUMING = b"configured -- resuming normal operations"
_RESTART = re.compile(rb"Graceful restart requested|Doing graceful restart|Attempting to restart")
_MONTHS = {m: i for i, m in enumerate(
    (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
     b"Dec"), start=1)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class MessageCount:
    """How often one message appears: lines, first and last time, lines per hour (`YYYY-MM-DD
    HH:00`), and lines whose time could not be read."""

    message: Message
    count: int
    first: datetime | None
    last: datetime | None
    per_hour: tuple[tuple[str, int], ...]
    undated: int


@dataclass(frozen=True, slots=True)
class ErrorLogEvidence:
    """What the error logs say about the worker limits; `counts` holds every message, zeros too."""

    paths: tuple[str, ...]
    lines: int
    long_lines: int
    counts: tuple[MessageCount, ...]
    starts: int = 0  # "resuming normal operations": starts and restarts of the parent
    restarts: int = 0  # graceful or SIGHUP restarts among them

    @property
    def runs(self) -> int:
        """Parent processes started in the log (a restart keeps the same parent); 0: unknown."""
        return max(0, self.starts - self.restarts)

    def count_of(self, code: str) -> MessageCount:
        return next(c for c in self.counts if c.message.code == code)

    @property
    def found(self) -> tuple[MessageCount, ...]:
        return tuple(c for c in self.counts if c.count > 0)


def parse_time(line: bytes) -> datetime | None:
    """The time stamp of an error-log line (default or `%{cu}t` format), None when there is none."""
    match = _CTIME.search(line, 0, 80)
    try:
        if match is not None:
            month = _MONTHS.get(match.group(1))
            if month is None:
                return None
            day, hour, minute, second, year = (int(g) for g in match.group(2, 3, 4, 5, 6))
            return datetime(year, month, day, hour, minute, second)
        match = _COMPACT.search(line, 0, 80)
        if match is not None:
            year, month, day, hour, minute, second = (int(g) for g in match.groups())
            return datetime(year, month, day, hour, minute, second)
    except ValueError:  # 31 February and the like
        return None
    return None


def _lines(handle: BufferedReader | gzip.GzipFile) -> Iterator[tuple[bytes, bool]]:
    """(line, was_cut) pieces of at most MAX_LINE_BYTES; the rest of a long line is skipped."""
    while True:
        piece = handle.readline(MAX_LINE_BYTES)
        if not piece:
            return
        if len(piece) == MAX_LINE_BYTES and not piece.endswith(b"\n"):
            while True:  # skip to the end of this line, in bounded reads
                rest = handle.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            yield piece, True
        else:
            yield piece, False


def _open(path: str) -> BufferedReader:
    """The file opened for reading: a regular file or a pipe (`<(zcat …)`); a directory or a
    device (/dev/zero never ends) is refused."""
    target = Path(path)
    try:
        mode = target.stat().st_mode
        if stat.S_ISDIR(mode):
            raise CapplanError(f"{path}: is a directory, not an error log")
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise CapplanError(f"{path}: is not a regular file or a pipe, not an error log")
        return target.open("rb")
    except OSError as exc:
        raise CapplanError(f"{path}: cannot read the error log: {exc.strerror or exc}") from None


def _read_one(path: str, tallies: dict[str, _Tally], runs: list[int]) -> tuple[int, int]:
    """Tally one file (plain or gzip, told by its first bytes); (lines, long lines). `runs`
    accumulates [starts, restarts]."""
    lines = long_lines = 0
    with _open(path) as raw:
        try:
            handle: BufferedReader | gzip.GzipFile = raw
            if raw.peek(2)[:2] == _GZIP_MAGIC:
                handle = gzip.GzipFile(fileobj=raw)
            for line, cut in _lines(handle):
                lines += 1
                long_lines += cut
                codes = {m.decode() for m in _CODES.findall(line)}
                if not codes:
                    if _RESUMING in line:
                        runs[0] += 1
                    elif _RESTART.search(line):
                        runs[1] += 1
                    continue
                when = parse_time(line)
                for code in codes:
                    tallies[code].add(when)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise CapplanError(f"{path}:{lines + 1}: cannot read the error log: {exc}") from None
    return lines, long_lines


class _Tally:
    def __init__(self) -> None:
        self.count = 0
        self.undated = 0
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.hours: dict[str, int] = {}

    def add(self, when: datetime | None) -> None:
        self.count += 1
        if when is None:
            self.undated += 1
            return
        if self.first is None or when < self.first:
            self.first = when
        if self.last is None or when > self.last:
            self.last = when
        hour = when.strftime("%Y-%m-%d %H:00")
        self.hours[hour] = self.hours.get(hour, 0) + 1


def read_error_logs(paths: Iterable[str]) -> ErrorLogEvidence:
    """Count the saturation messages in every file (CapplanError: a file cannot be read)."""
    tallies = {m.code: _Tally() for m in MESSAGES}
    lines = long_lines = 0
    shown = tuple(paths)
    runs = [0, 0]
    for path in shown:
        read, cut = _read_one(path, tallies, runs)
        lines += read
        long_lines += cut
    counts = tuple(
        MessageCount(
            message=m,
            count=tallies[m.code].count,
            first=tallies[m.code].first,
            last=tallies[m.code].last,
            per_hour=tuple(sorted(tallies[m.code].hours.items())),
            undated=tallies[m.code].undated,
        )
        for m in MESSAGES
    )
    return ErrorLogEvidence(
        paths=shown,
        lines=lines,
        long_lines=long_lines,
        counts=counts,
        starts=runs[0],
        restarts=runs[1],
    )


# --- what the messages mean ---------------------------------------------------------------------


def meaning(message: Message, config_mpm: Mpm | None) -> str:
    """What one message says about the server, for the MPM the config runs."""
    if config_mpm is not None and message.mpm != config_mpm:
        return (
            f"written while the server ran {message.mpm}; the config now runs {config_mpm}, so "
            "it describes an earlier setup"
        )
    match message.kind, message.mpm:
        case "reached", Mpm.prefork:
            return (
                "every one of the MaxRequestWorkers children was busy, serving a request or "
                "holding an idle keep-alive connection; new connections waited in the accept queue"
            )
        case "reached", Mpm.worker:
            return (
                "every worker thread was busy, serving a request or holding an idle keep-alive "
                "connection; new connections waited in the accept queue"
            )
        case "reached", _:
            return (
                "no process had an idle worker thread: either every worker was busy (workers), or "
                "every process had stopped accepting at its connection limit (connection slots: "
                "event counts a process that stops accepting as having no idle worker, so this "
                "also appears while workers idle)"
            )
        case "near", _:
            return (
                "idle threads fell below MinSpareThreads and no process could be added within "
                "MaxRequestWorkers: the server ran at the edge of its limit"
            )
        case "scoreboard_full", _:
            return (
                "ServerLimit × ThreadsPerChild is below MaxRequestWorkers, so httpd could not "
                "start the processes MaxRequestWorkers allows: raise ServerLimit (logged every "
                "second while it lasts)"
            )
    return ""


def how_often(message: Message) -> str:
    """What a count of lines means for this message."""
    if message.kind == "scoreboard_full":
        return "one line per second while the scoreboard was full"
    return (
        "logged once per run of the parent process: a graceful restart does not log it again, so "
        "the count is of runs that reached the limit, not of episodes"
    )


def _when(count: MessageCount) -> str:
    if count.first is None or count.last is None:
        return ""
    first, last = count.first.strftime("%Y-%m-%d %H:%M"), count.last.strftime("%Y-%m-%d %H:%M")
    return f" on {first}" if first == last else f" between {first} and {last}"


def _how_many(count: MessageCount, evidence: ErrorLogEvidence) -> str:
    """`37 times` for the per-second message; `in 3 of the server's 7 runs` for the others."""
    if count.message.kind == "scoreboard_full":
        return f"{count.count} times (once a second while it lasted)"
    runs = evidence.runs
    if runs >= count.count:
        return f"in {count.count} of the server's {runs} runs in the log"
    return f"in {count.count} runs of the server"


def error_log_citations(
    evidence: ErrorLogEvidence,
    mpm: Mpm,
    metrics: MpmMetrics | None,
    rate_per_s: float | None,
    *,
    agree_at: float = 0.01,
) -> tuple[str, ...]:
    """Sentences a recommendation cites: what the log shows and whether the model agrees.

    `metrics` are the current config's (None when not evaluated); the model agrees with a
    "reached" message when P(wait) at the profile's rate (`rate_per_s`) is at least `agree_at`,
    or, for event, when P(connection limit) is.
    """
    sentences: list[str] = []
    at_rate = f" at the profile's {rate_per_s:g} req/s" if rate_per_s is not None else ""
    for count in evidence.found:
        message = count.message
        head = f"the error log shows {message.text!r} {_how_many(count, evidence)}{_when(count)} "
        head += f"({message.code}, {message.mpm})"
        if message.mpm != mpm:
            sentences.append(f"{head}; written under {message.mpm}, not this config's {mpm}")
            continue
        if message.kind == "scoreboard_full":
            sentences.append(f"{head}: ServerLimit keeps httpd below MaxRequestWorkers")
            continue
        if metrics is None:
            sentences.append(head)
            continue
        figures = f"P(wait) {metrics.p_wait:.2g}"
        agrees = metrics.p_wait >= agree_at
        if metrics.event is not None:
            figures += f", P(connection limit) {metrics.event.p_connection_limit:.2g}"
            agrees = agrees or metrics.event.p_connection_limit >= agree_at
        if agrees:
            sentences.append(f"{head}; the model agrees: {figures}{at_rate}")
        else:
            sentences.append(
                f"{head}; the model does not: {figures}{at_rate}, so the peak was higher than "
                "the profile says, or the messages predate a change of the config"
            )
    return tuple(sentences)
