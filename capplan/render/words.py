"""Words of reports: the sentences a sysadmin reads in `recommend` and `check`.

Input: the report data of `capplan.advice` (assessments, sizing options, the choice, the fixes).
Output: short plain-words strings, shared by the table, markdown, JSON (`reasons`), JUnit and
GitHub renderers; numbers are rounded for reading, the data keeps full precision. The core
decides what to say, this module only says it, with one label per quantity everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, assert_never

from capplan.models.targets import Target
from capplan.mpm_names import Mpm
from capplan.mpm_settings import EventSettings, MpmSettings, PreforkSettings, WorkerSettings
from capplan.recommend import Assessment, Change, MpmOption, client_changes
from capplan.render.format import (
    distinct_from,
    format_bytes,
    format_number,
    format_probability,
    format_seconds,
)

if TYPE_CHECKING:
    from capplan.advice import Fix, Report
    from capplan.models import MpmMetrics, TargetResult
    from capplan.profile import TrafficProfile


def human_percent(fraction: float) -> str:
    """`92 %`; `< 1 %` for a small non-zero share (never a misleading `0 %`)."""
    if 0 < fraction < 0.005:
        return "< 1 %"
    return f"{fraction * 100:.0f} %"


# One label per target, the same in every table, sentence and annotation.
TARGET_LABELS = {
    Target.max_wait_probability: "P(a new connection waits)",
    Target.max_wait: "P(a new connection waits longer than {wait})",
    Target.max_block_probability: "P(accept queue full)",
    Target.max_connection_limit_probability: "P(no process accepts a new connection)",
    Target.max_memory_fraction: "worst-case memory",
}
# event's wait target also counts keep-alive requests dropped on a process with no idle worker,
# with a safety factor of 2 on the time a process is saturated: a different number, so a
# different label.
EVENT_WAIT_LABEL = "P(a new connection waits, or 2 × P(a process has no idle worker))"


def target_label(target: Target, profile: TrafficProfile | None, *, event: bool = False) -> str:
    if target is Target.max_wait_probability and event:
        return EVENT_WAIT_LABEL
    max_wait = profile.targets.max_wait if profile is not None else None
    wait = format_seconds(max_wait.time_s) if max_wait is not None else "the target time"
    return TARGET_LABELS[target].format(wait=wait)


def target_value_words(
    target: Target, value: float, profile: TrafficProfile | None, digits: int | None = None
) -> str:
    """A target's value or limit in its unit: bytes for memory (when memory.ram is known);
    `digits` significant digits when given."""
    ram = profile.memory.ram_bytes if profile is not None else None
    if target.is_memory:
        if ram:
            return format_bytes(value * ram, digits)
        if digits is not None:
            return f"{format_number(value * 100, digits)} % of RAM"
        return f"{human_percent(value)} of RAM"
    return format_probability(value, digits)


def target_value_against(
    target: Target, value: float, limit: float, profile: TrafficProfile | None
) -> str:
    """A target's value in its unit, with the digits that tell it from its limit where the two
    would read the same (`distinct_from`): `0.0101` against `0.01`."""

    def shown(v: float, digits: int | None) -> str:
        return target_value_words(target, v, profile, digits)

    return distinct_from(value, limit, shown)


def describe_target(
    target: TargetResult, profile: TrafficProfile | None = None, *, event: bool = False
) -> str:
    """`P(a new connection waits) 0.31 > 0.01` or `worst-case memory 44 GiB > 7.2 GiB`."""
    words = target_label(target.target, profile, event=event)
    value = target_value_against(target.target, target.value, target.limit, profile)
    limit = target_value_words(target.target, target.limit, profile)
    relation = "≤" if target.value <= target.limit else ">"
    return f"{words} {value} {relation} {limit}"


def worker_words(settings: MpmSettings) -> str:
    """`743 processes` for prefork, `100 threads in 4 processes of 25` for worker and event."""
    match settings:
        case PreforkSettings():
            return "1 process" if settings.workers == 1 else f"{settings.workers} processes"
        case WorkerSettings() | EventSettings():
            count = settings.processes
            processes = "1 process" if count == 1 else f"{count} processes"
            return f"{settings.workers} threads in {processes} of {settings.threads_per_child}"
        case _:
            assert_never(settings)


def rate_words(rate_per_s: float) -> str:
    return "any rate" if math.isinf(rate_per_s) else f"{format_number(rate_per_s)} req/s"


def headroom_words(profile_rate_per_s: float, headroom: float) -> str:
    """`75 req/s (60 req/s + 25 % headroom)`, or `60 req/s` without headroom."""
    if headroom <= 0:
        return rate_words(profile_rate_per_s)
    return (
        f"{rate_words(profile_rate_per_s * (1 + headroom))} "
        f"({rate_words(profile_rate_per_s)} + {human_percent(headroom)} headroom)"
    )


def stability_words(metrics: MpmMetrics) -> str:
    """`yes`, or the limit that binds: `connection slots are full (150 of 150) …`, `workers are
    the limit: 168 asked for on average, 120 exist`; for event, what the server carries."""
    if metrics.stable:
        return "yes"
    event = metrics.event
    if event is not None and metrics.utilization < 1.0:
        limit = (
            f"connection slots are full ({format_number(metrics.max_connections)} of "
            f"{format_number(metrics.max_connections)}) before the workers are (the load asked "
            f"for would keep {human_percent(metrics.utilization)} of them busy)"
        )
    else:
        limit = (
            f"workers are the limit: {format_number(metrics.offered_load_erlangs)} asked for "
            f"on average, {metrics.workers} exist"
        )
    if event is None:
        return limit
    return (
        f"{limit}; it carries about {rate_words(event.carried_requests_per_s)} of the "
        f"{rate_words(metrics.profile.traffic.requests_per_second)} asked for, and its busy "
        "workers, connections and memory are those of that load"
    )


def change_words(change: Change) -> str:
    return f"{change.directive} {change.old} → {change.new}"


# --- reasons -------------------------------------------------------------------------------------


def keepalive_share(metrics: MpmMetrics) -> float:
    """The share of the worker time asked for that is idle keep-alive (prefork/worker): the
    offered load minus the requests' own service and lingering, over the offered load (offered,
    not carried, so that an overloaded size still tells the truth); 0 when unknown."""
    load = metrics.offered_load_erlangs
    if load <= 0 or not math.isfinite(load):
        return 0.0
    traffic, visits = metrics.profile.traffic, metrics.profile.visits
    serving = traffic.requests_per_second * traffic.service_time_s
    closing = metrics.connections_per_s * visits.linger_s
    return max(0.0, 1.0 - (serving + closing) / load)


def lever_reason(option: MpmOption) -> str | None:
    """Which lever did the work, and what it costs clients.

    `KeepAlive Off frees 92 % of worker time (prefork needs 23 processes instead of 743); the
    cost: a new TCP (and TLS) handshake per request, about 53 connections/s more (7.4 → 60/s)`.
    """
    best = option.best
    if best is None:
        return None
    keepalive = client_changes(option)
    if not keepalive:
        return None
    change = keepalive[0]
    baseline = option.baseline
    if baseline is None:
        before = worker_words(best.settings)
    elif option.baseline_feasible:
        before = f"{worker_words(best.settings)} instead of {worker_words(baseline.settings)}"
    else:
        before = (
            f"{worker_words(best.settings)}; with the current keep-alive the "
            f"{worker_words(baseline.settings)} that fit in memory miss the targets"
        )
    more = ""
    if baseline is not None:
        extra = best.metrics.connections_per_s - baseline.metrics.connections_per_s
        more = (
            f", about {format_number(extra)} connections/s more "
            f"({format_number(baseline.metrics.connections_per_s)} → "
            f"{format_number(best.metrics.connections_per_s)}/s)"
        )
    if change.directive == "KeepAlive":
        share = keepalive_share(baseline.metrics) if baseline is not None else 0.0
        freed = f" frees {human_percent(share)} of worker time" if share > 0 else ""
        return (
            f"KeepAlive Off{freed} for {option.mpm} ({before}); the cost: a new TCP (and TLS) "
            f"handshake per request{more}"
        )
    return (
        f"KeepAliveTimeout {change.old} → {change.new} s for {option.mpm} ({before}); the cost: "
        f"clients that pause longer than {change.new} s between requests reconnect{more}"
    )


def max_requests_reason(option: MpmOption, profile: TrafficProfile) -> str | None:
    """`MaxKeepAliveRequests 100 → 2500: visits send 500 requests on average, and httpd closes a
    connection after 101 (event's new connections: 1.61/s)`."""
    change = next((c for c in option.changes if c.directive == "MaxKeepAliveRequests"), None)
    if change is None or option.best is None:
        return None
    visit = format_number(profile.visits.requests_per_visit)
    return (
        f"{change_words(change)}: visits send {visit} requests on average, and httpd closes a "
        f"connection after {int(change.old) + 1} ({option.mpm}'s new connections: "
        f"{format_number(option.best.metrics.connections_per_s)}/s)"
    )


def other_lever_reasons(option: MpmOption) -> list[str]:
    """ListenBacklog and AsyncRequestWorkerFactor changes, each with its why."""
    out = []
    for change in option.changes:
        if change.directive == "ListenBacklog":
            out.append(
                f"{change_words(change)}: a short accept queue drops new connections (clients "
                "retry after 1 s, 3 s, 7 s) whenever every worker is busy for a moment, and a "
                "server run close to its worker count with one can fall into sustained overload"
            )
        elif change.directive == "AsyncRequestWorkerFactor":
            out.append(
                f"{change_words(change)}: each idle worker then vouches for more idle "
                "keep-alive connections, so event's processes stop accepting less often"
            )
    return out


def limit_reason(option: MpmOption, profile: TrafficProfile, headroom_rate: str) -> str:
    """Why an MPM cannot meet the targets, with the largest rate it sustains."""
    if option.limit is None:
        ram = profile.memory.ram_bytes
        if ram:
            return f"{option.mpm} cannot run even one process within {format_bytes(ram)}"
        return (
            f"{option.mpm} cannot meet the targets at {headroom_rate} even at httpd's largest "
            "ServerLimit"
        )
    missed = [t for t in option.limit.targets if not t.met]
    what = "; ".join(describe_target(t, profile, event=option.mpm is Mpm.event) for t in missed)
    rate = option.max_rate_per_s
    sustain = (
        f", which sustain {rate_words(rate)} for these targets (asked: {headroom_rate})"
        if rate is not None
        else ""
    )
    tried = (
        f"; {', '.join(option.keepalive_tried)} does not make it fit either"
        if option.keepalive_tried
        else ""
    )
    return (
        f"{option.mpm} cannot meet every target within memory: at most "
        f"{worker_words(option.limit.settings)} fit{sustain}; at that size {what}{tried}"
    )


def saving_words(saving_bytes: float, ram_bytes: int | None) -> str:
    """`3.1 GiB (39 % of 8 GiB)`, or the bytes alone when memory.ram is unknown."""
    if ram_bytes:
        return (
            f"{format_bytes(saving_bytes)} ({human_percent(saving_bytes / ram_bytes)} of "
            f"{format_bytes(ram_bytes)})"
        )
    return format_bytes(saving_bytes)


def option_summary(assessment: Assessment) -> str:
    """`75 threads in 3 processes of 25, 301 MiB in the worst case`."""
    return (
        f"{worker_words(assessment.settings)}, "
        f"{format_bytes(assessment.metrics.memory_bytes)} in the worst case"
    )


def keep_reasons(
    current: Assessment,
    options: Sequence[MpmOption],
    running: str,
    profile: TrafficProfile,
    min_saving: float,
) -> list[str]:
    """Why nothing changes, and what a change could save (information, not advice)."""
    from capplan.recommend import material_saving_bytes

    ram = profile.memory.ram_bytes
    current_bytes = float(current.metrics.memory_bytes)
    out = []
    own = next((o for o in options if o.mpm == running and o.best is not None), None)
    if own is not None and own.best is not None:
        saved = current_bytes - own.best.metrics.memory_bytes
        if saved > 0:
            out.append(
                f"it could be smaller: {option_summary(own.best)} would also meet every target, "
                f"saving {saving_words(saved, ram)} at worst; not worth a change unless the "
                "memory is needed elsewhere"
            )
    margin = material_saving_bytes(current_bytes, ram, min_saving)
    for option in options:
        if option.mpm == running or option.best is None:
            continue
        saved = current_bytes - option.best.metrics.memory_bytes
        if saved >= margin:
            levers = "".join(f", {change_words(c)}" for c in option.changes)
            out.append(
                f"{option.mpm} would meet every target with {option_summary(option.best)}"
                f"{levers}, "
                f"saving {saving_words(saved, ram)}; a switch needs a full restart and a test "
                "of every module with the new MPM"
            )
    return out


def event_wait_reason(metrics: MpmMetrics) -> str | None:
    """event: what a new connection that waits waits for, a worker or a connection slot.

    None when it waits less than 1 time in 10^4 (nothing worth reading) or the MPM is not event.
    """
    e = metrics.event
    if e is None or metrics.p_wait < 1e-4:
        return None
    slot, worker = e.wait_for_slot_probability, e.wait_for_worker_probability
    tpc, f = metrics.threads_per_child, e.worker_factor
    slot_words = (
        f"for a connection slot ({format_probability(slot)}: every child already holds "
        f"{tpc} + {f} × idle workers connections, mostly idle keep-alive ones)"
    )
    worker_words_ = f"for a worker ({format_probability(worker)}: every worker is busy)"
    first, second = (slot_words, worker_words_) if slot >= worker else (worker_words_, slot_words)
    mean = metrics.mean_wait_s
    how_long = f", {format_seconds(mean)} on average" if math.isfinite(mean) else ""
    rest = f", else {second}" if min(slot, worker) >= 0.01 * metrics.p_wait else ""
    return (
        f"with event a new connection waits in the accept queue "
        f"{format_probability(metrics.p_wait)} of the time{how_long}: "
        f"{'mostly ' if rest else ''}{first}{rest}"
    )


def restart_room_reason(settings: MpmSettings) -> str | None:
    """event: the ServerLimit slots left for children that finish after a graceful restart."""
    if not isinstance(settings, EventSettings):
        return None
    room = settings.server_limit - settings.processes
    if room <= 0:
        return None
    return (
        f"ServerLimit {settings.server_limit} leaves room for {room} more "
        f"{'process' if room == 1 else 'processes'} beyond the {settings.processes} active: "
        "after a graceful restart (apachectl graceful, log rotation) or a "
        "MaxConnectionsPerChild exit, old children finish their requests while new ones "
        "start; the worst-case memory counts them"
    )


def _current_words(report: Report) -> str:
    config = report.config
    assert config is not None
    return f"the current config ({config.mpm}, {worker_words(config.settings)})"


def report_reasons(report: Report) -> list[str]:
    """The reasons of a `recommend` report, in reading order."""
    rec = report.recommendation
    if rec is None:
        return []
    profile = report.profile
    asked = headroom_words(profile.traffic.requests_per_second, report.headroom)
    ram = profile.memory.ram_bytes
    out: list[str] = []
    if rec.thread_unsafe_modules:
        out.append(
            f"{', '.join(rec.thread_unsafe_modules)} is loaded and is not thread-safe, so only "
            "prefork is sized; serve PHP through PHP-FPM (proxy_fcgi) to use event"
        )
    current = report.current
    if rec.action == "keep" and current is not None and rec.assessment is not None:
        out += error_log_reasons(report)
        out.append(
            f"{_current_words(report)} meets every target at {asked}"
            + (" and fits in memory" if ram else "")
            + ": keep it"
        )
        if rec.max_rate_per_s is not None:
            out.append(f"it meets them up to {rate_words(rec.max_rate_per_s)}")
        waits = event_wait_reason(current.metrics)
        if waits is not None:
            out.append(waits)
        running = report.config.mpm if report.config is not None else ""
        out += keep_reasons(current, rec.options, running, profile, rec.min_saving)
        adjusted = _warning_codes(report)
        if adjusted:
            out.append(
                _adjusted_words(
                    adjusted,
                    "writing the values it applies (`capplan inspect` shows them) silences the "
                    "warning and changes nothing else",
                )
            )
        return out
    out += error_log_reasons(report)
    if current is not None and report.config is not None:
        missed = sum(1 for t in current.targets if not t.met)
        out.append(
            f"{_current_words(report)} misses {missed} of {len(current.targets)} targets at "
            f"{asked} (see the targets)"
        )
    option = next((o for o in rec.options if o.mpm == rec.mpm), None)
    if rec.action == "change" and option is not None and option.best is not None:
        out += _share_reasons(rec.options)
        out.append(_choice_words(report, option))
        for text in (lever_reason(option), max_requests_reason(option, profile)):
            if text is not None:
                out.append(text)
        out += other_lever_reasons(option)
        waits = event_wait_reason(option.best.metrics)
        if waits is not None:
            out.append(waits)
        room = restart_room_reason(option.best.settings)
        if room is not None:
            out.append(room)
        if rec.max_rate_per_s is not None:
            sustain = (
                f"the recommended settings meet every target up to {rate_words(rec.max_rate_per_s)}"
            )
            if report.current_max_rate_per_s is not None:
                sustain += f"; the current ones up to {rate_words(report.current_max_rate_per_s)}"
            out.append(sustain)
    elif rec.action == "none":
        out.append(
            "no MPM meets every target within memory: raise memory.ram, lower the targets, or "
            "spread the traffic over more servers"
        )
        if rec.mpm is not None:
            out.append(
                f"the snippet is the largest {rec.mpm} setting that fits in memory; it does NOT "
                "meet the targets"
            )
    out += [limit_reason(o, profile, asked) for o in rec.options if o.best is None]
    adjusted = _warning_codes(report)
    if adjusted and rec.settings is not None:
        out.append(_adjusted_words(adjusted, "the block is one it applies as written"))
    return out


def _warning_codes(report: Report) -> list[str]:
    """check_config adjustments: the warnings httpd prints as "AHnnnnn: WARNING: …"
    (`prefork_check_config()`, `worker_check_config()`, `event_check_config()`)."""
    config = report.config
    if config is None:
        return []
    return [w.code for w in config.warnings if w.message.startswith("WARNING: ")]


def _adjusted_words(codes: Sequence[str], then: str) -> str:
    listed = ", ".join(dict.fromkeys(codes))
    return f"httpd adjusts the current settings at start-up ({listed}); {then}"


def error_log_reasons(report: Report) -> list[str]:
    """What httpd's error log says about its limits, and whether the model agrees, at the
    profile's rate (`recommend --error-log`)."""
    config = report.config
    if report.error_log is None or config is None:
        return []
    from capplan.errorlog import error_log_citations

    metrics = dict(report.mpms).get(config.mpm)
    rate = report.profile.traffic.requests_per_second
    return list(error_log_citations(report.error_log, config.mpm, metrics, rate))


def _share_reasons(options: Sequence[MpmOption]) -> list[str]:
    """`keep-alive idle time is 92 % of worker time in prefork and worker …` when it explains
    why event needs far fewer workers."""
    if len(options) < 2:
        return []
    for option in options:
        shown = option.baseline or option.best
        if option.mpm in (Mpm.prefork, Mpm.worker) and shown is not None:
            share = keepalive_share(shown.metrics)
            if share >= 0.5:
                return [
                    f"keep-alive idle time is {human_percent(share)} of worker time in prefork "
                    "and worker (a process or thread waits through every idle keep-alive "
                    "second; event parks idle connections without a worker)"
                ]
            return []
    return []


def _choice_words(report: Report, option: MpmOption) -> str:
    assert option.best is not None
    rec = report.recommendation
    assert rec is not None
    ram = report.profile.memory.ram_bytes
    summary = option_summary(option.best)
    share = (
        f" ({human_percent(option.best.metrics.memory_bytes / ram)} of {format_bytes(ram)})"
        if ram
        else ""
    )
    running = report.config.mpm if report.config is not None else None
    if running == option.mpm:
        return f"resize {option.mpm}: {summary}{share}"
    if rec.saving_bytes is not None and running is not None:
        return (
            f"switch to {option.mpm}: {summary}{share}, saving "
            f"{saving_words(rec.saving_bytes, ram)} against a resized {running}, at least the "
            f"{human_percent(rec.min_saving)} of memory a switch must save"
        )
    others = [
        f"{o.mpm} {format_bytes(o.best.metrics.memory_bytes)}"
        + "".join(f", {change_words(c)}" for c in client_changes(o))
        for o in rec.options
        if o.best is not None and o.mpm != option.mpm
    ]
    compared = f" (vs {'; '.join(others)})" if others else ""
    own = next((o for o in rec.options if o.mpm == running), None)
    if own is not None and own.best is not None:
        levers = ", ".join(change_words(c) for c in client_changes(own))
        return (
            f"switch to {option.mpm}: it meets every target without the keep-alive change "
            f"{running} needs ({levers}): {summary}{share}{compared}"
        )
    why = f"{running} cannot meet the targets within memory; " if running is not None else ""
    return f"{why}{option.mpm} meets every target with the least memory: {summary}{share}{compared}"


def fix_message(fix: Fix) -> str:
    """`MaxRequestWorkers 150 → 250` (with where the default applies), or why no value helps."""
    note = f" ({fix.directive} is not set: httpd's default applies)" if fix.is_default else ""
    if fix.new is None:
        return (
            f"no {fix.directive} meets the targets within memory; see `capplan recommend` for "
            f"the limit and the other MPMs{note}"
        )
    return f"set {fix.directive} {fix.new} (now {fix.old}){note}"


def event_model_note(metrics: MpmMetrics, *, rates_and_fixes: bool = True) -> list[str]:
    """Which model gave event's figures when `--event-model chain` was asked for.

    Nothing for the closed form, the default. `rates_and_fixes`: the report also shows a
    sustainable rate or a proposed change, which stay with the closed form.
    """
    e = metrics.event
    if e is None:
        return []
    if e.model == "chain":
        rest = (
            "; the sustainable rate and any change proposed come from the closed form"
            if rates_and_fixes
            else ""
        )
        notes = [
            "event's figures come from the per-child chain with the accept queue the children "
            f"share (--event-model chain){rest}."
        ]
        if e.model_note:
            notes.append(f"event's chain: {e.model_note}.")
        return notes
    if e.model_note:
        return [
            f"event: --event-model chain was asked for, but {e.model_note}; the figures are the "
            "closed form's."
        ]
    return []


def recommend_event_model_note(report: Report) -> list[str]:
    """`recommend --event-model chain`: which figures and which settings came from the chain."""
    event = dict(report.mpms).get(Mpm.event)
    if event is None or event.event is None:
        return []
    if event.event.model != "chain":
        return event_model_note(event)
    notes = [
        "event's figures, and the process count of its sized settings, come from the "
        "per-child chain with the accept queue the children share (--event-model chain); "
        "its ThreadsPerChild, AsyncRequestWorkerFactor and keep-alive settings, and the "
        "sustainable rates, come from the closed form."
    ]
    options = report.recommendation.options if report.recommendation is not None else ()
    sized = next((o.shown for o in options if o.mpm is Mpm.event), None)
    if event.event.model_note:
        notes.append(f"event's chain, current settings: {event.event.model_note}.")
    detail = sized.metrics.event if sized is not None else None
    if detail is not None and detail.model_note:
        if detail.model != "chain":
            notes.append(
                f"event's sized settings: {detail.model_note}; their process count and figures "
                "are the closed form's."
            )
        else:
            notes.append(f"event's chain, sized settings: {detail.model_note}.")
    return notes


def fix_check_note(report: Report) -> list[str]:
    """`check --event-model chain`: what the chain says of the settings the fixes lead to."""
    check = report.fix_check
    if check is None:
        return []
    rate = rate_words(check.metrics.profile.traffic.requests_per_second)
    missed = [t for t in check.targets if not t.met and not t.target.is_memory]
    if not missed:
        return [
            f"With the changes above, the chain meets every target but memory at {rate} "
            f"({worker_words(check.settings)})."
        ]
    words = "; ".join(describe_target(t, report.profile, event=True) for t in missed)
    return [
        f"With the changes above the chain still misses at {rate}: {words}. They are sized with "
        "the closed form: size further, and check the result again with --event-model chain."
    ]


# P(block) from which a plain accept queue's overflows are worth a word (about one connection in
# a million meets a full queue).
PLAIN_ACCEPT_BLOCK = 1e-6


def plain_accept_note(report: Report) -> list[str]:
    """A warning when `AcceptFilter http none` meets an accept queue that overflows.

    While the accept queue is full, Linux drops the handshake's last ACK and the request sent
    with it; a bare ACK to the server's retransmitted SYN-ACK later completes the connection
    without its request, and the worker that accepts it waits for the client to retransmit the
    request. Measured with a packet capture on a worker server at its limit (2 x 4 threads,
    ListenBacklog 4): 0.9 connections on average accepted before their request, 0.5-1.1 workers
    in the scoreboard's R state, throughput 9 % lower than with the deferred accept, which
    queues a connection only once its request has arrived.
    """
    config = report.config
    if config is None or config.plain_accept is None:
        return []
    if report.current is not None:
        p_block = report.current.metrics.p_block
    else:
        p_block = max((metrics.p_block for _, metrics in report.mpms), default=0.0)
    if not p_block >= PLAIN_ACCEPT_BLOCK:
        return []
    return [
        f"AcceptFilter none ({config.plain_accept}) with a queue that fills (P(block) "
        f"{format_probability(p_block)}): while it is full, Linux drops a new connection's "
        "request with its handshake, the connection is completed later without it, and a "
        "worker waits for the client to resend it (2.6 s on average in a packet capture). Near "
        "the worker limit that holds workers and keeps the queue full; httpd's default on "
        "Linux (AcceptFilter http data) queues a connection only once its request has arrived: "
        "remove the line."
    ]


def memory_footnote(report: Report) -> list[str]:
    """Which memory and visit figures are defaults, and which were measured (with what they
    replaced)."""
    from capplan.profile import MEMORY_FIELDS

    lines = []
    memory = report.profile.memory
    specs = {f"memory.{spec.key}": spec for spec in MEMORY_FIELDS}
    rec = report.recommendation
    mpms = {o.mpm for o in rec.options} if rec is not None else {m for m, _ in report.mpms}
    used = {"memory.parent", "memory.shared"}
    used |= {"memory.prefork_process"} if Mpm.prefork in mpms else set()
    used |= (
        {"memory.threaded_process", "memory.thread"} if mpms & {Mpm.worker, Mpm.event} else set()
    )
    used |= {"memory.connection"} if Mpm.event in mpms else set()
    defaults = [
        f"{key.removeprefix('memory.')} {format_bytes(getattr(memory, specs[key].attr))}"
        for key, source in report.sources
        if source == "default" and key in used and getattr(memory, specs[key].attr) is not None
    ]
    if defaults:
        lines.append(
            "Memory figures from capplan's defaults, not from this server: "
            + ", ".join(defaults)
            + " (measure them: `capplan measure --format yaml`, or `recommend --measure`)."
        )
    visits = report.profile.visits
    visit_defaults = {
        "visits.requests_per_visit": "requests_per_visit "
        f"{format_number(visits.requests_per_visit)}",
        "visits.think_time": f"think_time {format_seconds(visits.think_time_s)}",
        "visits.idle_hold_probability": "idle_hold_probability "
        f"{format_number(visits.idle_hold_probability)}",
    }
    guessed = [text for key, text in visit_defaults.items() if (key, "default") in report.sources]
    if guessed:
        lines.append(
            "Visit figures from capplan's defaults, not from your traffic: "
            + ", ".join(guessed)
            + " (they set how long keep-alive holds workers and slots; `capplan profile "
            "access.log` measures them)."
        )
    targets = [
        key.removeprefix("targets.")
        for key, source in report.sources
        if key.startswith("targets.")
        and key != "targets.headroom"
        and source == "default"
        and "." not in key.removeprefix("targets.")
    ]
    if targets:
        lines.append(
            "Targets from capplan's defaults (set them in the profile's targets: section): "
            + ", ".join(targets)
            + "."
        )
    if memory.ram_bytes is None:
        lines.append("No memory.ram: memory is not bounded and the memory target is not checked.")
    if memory.process_spread_bytes > 0:
        spread = format_bytes(memory.process_spread_bytes)
        lines.append(
            f"Children differ in size (memory.process_spread {spread}): "
            "the worst case adds 1.645 × spread × √N for its N children, a 95 % bound on their sum."
        )
    for sub in report.substitutions:
        pid = f" (PID {sub.pid})" if sub.pid is not None else ""
        replaced = (
            f", replacing {format_bytes(sub.replaced)}"
            if sub.replaced is not None
            else ", the profile had none"
        )
        lines.append(f"{sub.key} {format_bytes(sub.value)}: {sub.origin}{pid}{replaced}.")
    return lines
