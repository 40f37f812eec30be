"""mod_status scoreboard: fetch `server-status?auto` twice and parse it.

Stage: optional part of `capplan measure`. Input: a status URL (and an injectable fetch for
tests). Output: `Scoreboard` (workers, slot states, event's connection counters, the request rate
from the `Total Accesses` delta), or a `StatusError` whose message becomes a warning.
Format: httpd-facts.md §6.6, `mod_status.c` `status_handler()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

# Scoreboard characters in mod_status's order (`status_handler()`).
SLOT_STATES = ("_", "S", "R", "W", "K", "D", "C", "L", "G", "I", ".")
MAX_STATUS_BYTES = 1 << 20

Fetch = Callable[[str, float], str]


class StatusError(Exception):
    """The status URL could not be read or did not return the `?auto` format."""


@dataclass(frozen=True, slots=True)
class Scoreboard:
    url: str
    server_mpm: str | None
    busy_workers: int
    idle_workers: int
    states: tuple[tuple[str, int], ...]  # (slot character, count) for every SLOT_STATES entry
    processes: int | None  # event only
    conns_total: int | None  # event only
    conns_async_wait_io: int | None  # event, 2.4.63+
    conns_async_writing: int | None
    conns_async_keep_alive: int | None
    conns_async_closing: int | None
    total_accesses: int | None  # ExtendedStatus On only
    requests_per_s: float | None  # from two samples; None with one sample or no ExtendedStatus
    interval_s: float | None


def auto_url(url: str) -> str:
    """Add `?auto` when the URL has no query: the HTML page has no stable format."""
    parts = urlsplit(url)
    return url if parts.query else urlunsplit(parts._replace(query="auto"))


def fetch_status(url: str, timeout_s: float) -> str:
    """GET `url` and return its text within `timeout_s` in all; StatusError otherwise.

    urllib's timeout bounds each receive, so a server sending a byte every half second would
    hold the fetch forever: it runs in a daemon thread, given up at the deadline.
    """
    outcome: list[str | BaseException] = []

    def run() -> None:
        try:
            outcome.append(_fetch_once(url, timeout_s))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=run, name="capplan-status-fetch", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        raise StatusError(f"{url}: no complete answer within {timeout_s:g} s")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _fetch_once(url: str, timeout_s: float) -> str:
    """One GET with urllib (each receive bounded by `timeout_s`)."""
    # urllib.request pulls in ssl and email (~40 ms): only load it when a status page is read.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body: bytes = response.read(MAX_STATUS_BYTES)
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        raise StatusError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise StatusError(f"{url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise StatusError(f"{url}: {exc}") from None
    text = body.decode("utf-8", "replace")
    if "html" in content_type.lower() or text.lstrip().startswith("<"):
        raise StatusError(
            f"{url}: returned HTML, not mod_status's machine-readable format "
            "(is it server-status with ?auto?)"
        )
    return text


def parse_status(text: str, url: str) -> dict[str, str]:
    """`Key: value` lines of the `?auto` output (the first line, the host name, has no colon)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if "Scoreboard" not in fields or "BusyWorkers" not in fields:
        raise StatusError(f"{url}: not a mod_status ?auto page (no Scoreboard/BusyWorkers line)")
    return fields


def _int(fields: dict[str, str], key: str, url: str) -> int | None:
    value = fields.get(key)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise StatusError(f"{url}: {key}: not a number: {value[:40]!r}") from None
    if number < 0:
        # mod_status prints counts; a negative one means this is not its page.
        raise StatusError(f"{url}: {key}: {number} is negative, not a count")
    return number


def scoreboard_from(
    fields: dict[str, str], url: str, requests_per_s: float | None, interval_s: float | None
) -> Scoreboard:
    board = fields["Scoreboard"]
    busy, idle = _int(fields, "BusyWorkers", url), _int(fields, "IdleWorkers", url)
    return Scoreboard(
        url=url,
        server_mpm=fields.get("ServerMPM"),
        busy_workers=busy or 0,
        idle_workers=idle or 0,
        states=tuple((state, board.count(state)) for state in SLOT_STATES),
        processes=_int(fields, "Processes", url),
        conns_total=_int(fields, "ConnsTotal", url),
        conns_async_wait_io=_int(fields, "ConnsAsyncWaitIO", url),
        conns_async_writing=_int(fields, "ConnsAsyncWriting", url),
        conns_async_keep_alive=_int(fields, "ConnsAsyncKeepAlive", url),
        conns_async_closing=_int(fields, "ConnsAsyncClosing", url),
        total_accesses=_int(fields, "Total Accesses", url),
        requests_per_s=requests_per_s,
        interval_s=interval_s,
    )


@dataclass(frozen=True, slots=True)
class FirstSample:
    url: str
    fields: dict[str, str]
    taken_at_s: float


def first_sample(
    url: str,
    *,
    timeout_s: float = 2.0,
    fetch: Fetch = fetch_status,
    clock: Callable[[], float] = time.monotonic,
) -> FirstSample:
    url = auto_url(url)
    return FirstSample(url, parse_status(fetch(url, timeout_s), url), clock())


def second_sample(
    first: FirstSample,
    interval_s: float,
    *,
    timeout_s: float = 2.0,
    fetch: Fetch = fetch_status,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Scoreboard, tuple[str, ...]]:
    """Wait until `interval_s` after the first sample, take the second, derive the request rate.

    The rate is (Total Accesses₂ − Total Accesses₁ − 1) / elapsed: the first status request is
    itself counted once it has been logged, before the second one is served.
    NOTE: httpd counts a request in `Total Accesses` only after `ap_process_request()` has
    returned (`ap_process_http_sync_connection()` / `ap_process_http_async_connection()` in
    modules/http/http_core.c call `ap_increment_counts()`), so the request reading the page is
    never in its own figure, and is in the next one.
    """
    notes: list[str] = []
    if interval_s <= 0:
        return scoreboard_from(first.fields, first.url, None, None), notes_one_sample(first)
    remaining = interval_s - (clock() - first.taken_at_s)
    if remaining > 0:
        sleep(remaining)
    fields = parse_status(fetch(first.url, timeout_s), first.url)
    elapsed_s = clock() - first.taken_at_s
    before = _int(first.fields, "Total Accesses", first.url)
    after = _int(fields, "Total Accesses", first.url)
    rate = None
    if before is None or after is None:
        notes.append(f"{first.url}: no Total Accesses (ExtendedStatus Off): request rate unknown")
    elif after < before:
        notes.append(f"{first.url}: Total Accesses went down (a restart?): request rate unknown")
    elif elapsed_s > 0:
        rate = max(0, after - before - 1) / elapsed_s
    return scoreboard_from(fields, first.url, rate, elapsed_s), tuple(notes)


def notes_one_sample(first: FirstSample) -> tuple[str, ...]:
    return (f"{first.url}: one sample only (--interval 0): request rate not measured",)


def read_scoreboard(
    url: str,
    interval_s: float = 1.0,
    *,
    timeout_s: float = 2.0,
    fetch: Fetch = fetch_status,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Scoreboard, tuple[str, ...]]:
    """Both samples back to back (the measurement pipeline interleaves them with /proc reads)."""
    first = first_sample(url, timeout_s=timeout_s, fetch=fetch, clock=clock)
    return second_sample(
        first, interval_s, timeout_s=timeout_s, fetch=fetch, clock=clock, sleep=sleep
    )
