"""Report stage: (effective config, profile) → the frozen reports of recommend, check and compare.

Input: file paths and options from the command line (pipeline functions `recommend_report`,
`check_report`, `compare_report`), or already-loaded objects (`build_*`, pure, for tests).
Output: `Report` (recommend and check: the current config under the profile, per-MPM metrics, the
recommendation, the verdict) and `Comparison` (compare: one column per profile × config pair).
The verdict and every sentence a user reads are decided here; renderers only lay them out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, assert_never

from capplan.errors import CapplanError
from capplan.location import Location
from capplan.recommend import (
    Assessment,
    MpmOption,
    assess,
    coherent_common,
    is_memory_target,
    size_mpm,
    sustainable_rate_per_s,
)
from capplan.render.format import (
    format_bytes,
    format_number,
    format_probability,
    format_seconds,
)
from capplan.settings import (
    MPM_NAMES,
    CommonSettings,
    EffectiveConfig,
    EventSettings,
    MpmName,
    MpmSettings,
    PreforkSettings,
    WorkerSettings,
)
from capplan.snippet import (
    MPM_BLOCK_ORDER,
    Placement,
    all_directives,
    keepalive_directives,
    placement,
    render_snippet,
)

if TYPE_CHECKING:
    from capplan.models import MpmMetrics, TargetResult
    from capplan.profile import TrafficProfile

MpmChoice = Literal["current", "prefork", "worker", "event", "all"]

# Loaded modules that are not thread-safe: with one of them, only prefork can run the site.
THREAD_UNSAFE_MODULES = ("php_module", "php5_module", "php7_module", "php8_module")

# Target names (as `evaluate_targets` reports them) → the directive a user changes to meet them.
TARGET_DIRECTIVE = {
    "max_wait_probability": "MaxRequestWorkers",
    "max_wait": "MaxRequestWorkers",
    "max_block_probability": "MaxRequestWorkers",
    "max_connection_limit_probability": "MaxRequestWorkers",
    "max_memory_fraction": "MaxRequestWorkers",
}


# --- verdict -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Violation:
    """A missed target: its name, the limit it sets and the value the model gives."""

    target: str
    limit: float
    value: float


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    violations: tuple[Violation, ...]


def verdict_of(targets: Sequence[TargetResult]) -> Verdict:
    """ok when every target is met; otherwise the missed ones, in the order they were checked."""
    missed = tuple(Violation(t.target, t.limit, t.value) for t in targets if not t.met)
    return Verdict(ok=not missed, violations=missed)


# --- wording (pure; numbers rounded for reading, the data keeps full precision) ----------------


def human_percent(fraction: float) -> str:
    return f"{fraction * 100:.0f} %"


TARGET_WORDS = {
    "max_wait_probability": "P(a new connection waits)",
    "max_wait": "P(wait longer than {wait})",
    "max_block_probability": "P(accept queue full)",
    "max_connection_limit_probability": "P(event connection limit hit)",
    "max_memory_fraction": "worst-case memory",
}


def describe_target(
    target: TargetResult | Violation, profile: TrafficProfile | None = None
) -> str:
    """`P(a new connection waits) 0.31 > 0.01`, `P(wait longer than 200 ms) 0.02 > 0.01` or
    `worst-case memory 44 GiB > 7.2 GiB` (the profile gives the wait time and memory.ram)."""
    max_wait = profile.targets.max_wait if profile is not None else None
    wait = format_seconds(max_wait.time_s) if max_wait is not None else "the target time"
    words = TARGET_WORDS.get(target.target, target.target).format(wait=wait)
    ram_bytes = _ram_bytes(profile) if profile is not None else None
    if is_memory_target(target.target) and ram_bytes:
        value = format_bytes(target.value * ram_bytes)
        limit = format_bytes(target.limit * ram_bytes)
    else:
        value, limit = format_probability(target.value), format_probability(target.limit)
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


def keepalive_share_reason(
    metrics: MpmMetrics, options: Sequence[MpmOption]
) -> str | None:
    """`keep-alive idle time is 96 % of worker occupancy: prefork needs 743 processes, event needs
    25 threads` — when idle keep-alive holds most of a sync MPM's workers."""
    load = metrics.offered_load_erlangs
    if load <= 0:
        return None
    share = metrics.idle_keepalive_mean / load if math.isfinite(load) else 0.0
    if share < 0.5:
        return None
    needs = [_needs_words(o) for o in options if o.best is not None]
    infeasible = [f"{o.mpm} cannot fit" for o in options if o.best is None]
    detail = ", ".join(needs + infeasible)
    return (
        f"keep-alive idle time is {human_percent(share)} of worker occupancy in prefork and "
        f"worker (a process or thread waits through every idle keep-alive second; event parks "
        f"idle connections without a worker): {detail}"
    )


def _needs_words(option: MpmOption) -> str:
    """`prefork needs 743 processes (228 with KeepAliveTimeout 1 s)`."""
    assert option.best is not None
    baseline = option.keepalive_baseline
    if baseline is None:
        return f"{option.mpm} needs {worker_words(option.best.settings)}"
    lowered = option.best.settings
    return (
        f"{option.mpm} needs {worker_words(baseline.settings)} "
        f"({worker_words(lowered)} with KeepAliveTimeout "
        f"{format_seconds(lowered.common.keep_alive_timeout_s)})"
    )


def limit_reason(option: MpmOption, profile: TrafficProfile) -> str:
    """Why an MPM cannot meet the targets, with the largest sustainable rate."""
    asked = profile.traffic.requests_per_second
    if option.limit is None:
        return (
            f"{option.mpm} cannot run even one process within the memory limit "
            f"({format_bytes(_ram_bytes(profile) or 0)})"
        )
    missed = [t for t in option.limit.targets if not t.met]
    what = "; ".join(describe_target(t, profile) for t in missed)
    rate = option.max_rate_per_s
    sustain = (
        f", which sustain at most {format_number(rate)} req/s for these targets "
        f"(the profile asks {format_number(asked)} req/s)"
        if rate is not None
        else ""
    )
    tried = (
        f"; a KeepAliveTimeout down to {format_seconds(min(option.keepalive_tried_s))} does not "
        "make it fit either"
        if option.keepalive_tried_s
        else ""
    )
    return (
        f"{option.mpm} cannot meet every target within memory: at most "
        f"{worker_words(option.limit.settings)} fit{sustain}; at that size {what}{tried}"
    )


def keepalive_lever_reason(option: MpmOption) -> str | None:
    """`lowering KeepAliveTimeout from 5 s to 1 s: prefork needs 228 processes instead of 743`."""
    lowered, baseline = option.keepalive_alternative, option.keepalive_baseline
    if lowered is None:
        return None
    new_t = lowered.settings.common.keep_alive_timeout_s
    if baseline is None:
        return (
            f"lowering KeepAliveTimeout to {format_seconds(new_t)} is the only way {option.mpm} "
            f"meets the targets within memory ({worker_words(lowered.settings)}); "
            f"clients open {format_number(lowered.metrics.connections_per_s)} connections/s"
        )
    old_t = baseline.settings.common.keep_alive_timeout_s
    return (
        f"lowering KeepAliveTimeout from {format_seconds(old_t)} to {format_seconds(new_t)} is the "
        f"better lever for {option.mpm}: {worker_words(lowered.settings)} instead of "
        f"{worker_words(baseline.settings)} "
        f"({format_bytes(lowered.metrics.memory_bytes)} instead of "
        f"{format_bytes(baseline.metrics.memory_bytes)} at worst), at the cost of more TCP "
        f"handshakes ({format_number(baseline.metrics.connections_per_s)} → "
        f"{format_number(lowered.metrics.connections_per_s)} connections/s)"
    )


def max_requests_reason(option: MpmOption, profile: TrafficProfile) -> str | None:
    """`raising MaxKeepAliveRequests from 100 to 2500 cuts event's new connections from 8.74/s
    to 1.61/s: visits send 500 requests on average, …`."""
    raised, before = option.max_requests_alternative, option.max_requests_baseline
    if raised is None:
        return None
    new_cap = raised.settings.common.max_keep_alive_requests
    visit = format_number(profile.visits.requests_per_visit)
    if before is None:
        return (
            f"raising MaxKeepAliveRequests to {new_cap} is the only way {option.mpm} meets the "
            f"targets: visits send {visit} requests on average"
        )
    old_cap = before.settings.common.max_keep_alive_requests
    return (
        f"raising MaxKeepAliveRequests from {old_cap} to {new_cap} cuts {option.mpm}'s new "
        f"connections from {format_number(before.metrics.connections_per_s)}/s to "
        f"{format_number(raised.metrics.connections_per_s)}/s: visits send {visit} requests on "
        f"average, and httpd closes a connection after {old_cap + 1}"
    )


def choice_reason(chosen: MpmOption, options: Sequence[MpmOption], profile: TrafficProfile) -> str:
    assert chosen.best is not None
    ram = _ram_bytes(profile)
    share = (
        f", {human_percent(chosen.best.metrics.memory_bytes / ram)} of {format_bytes(ram)}"
        if ram
        else ""
    )
    others = [
        f"{o.mpm} {format_bytes(o.best.metrics.memory_bytes)}"
        for o in options
        if o.best is not None and o.mpm != chosen.mpm
    ]
    compared = f" (vs {', '.join(others)})" if others else ""
    return (
        f"{chosen.mpm} meets every target with the least memory: "
        f"{worker_words(chosen.best.settings)}, "
        f"{format_bytes(chosen.best.metrics.memory_bytes)} in the worst case{share}{compared}"
    )


def current_reason(config: EffectiveConfig, current: Assessment, profile: TrafficProfile) -> str:
    head = f"the current config ({config.mpm}, {worker_words(config.settings)})"
    missed = [t for t in current.targets if not t.met]
    if not missed:
        return f"{head} already meets every target; the recommendation is the smallest that does"
    what = "; ".join(describe_target(t, profile) for t in missed)
    return f"{head} misses {len(missed)} target(s): {what}"


def _ram_bytes(profile: TrafficProfile) -> float | None:
    ram = profile.memory.ram_bytes
    return float(ram) if ram else None


# --- recommend -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The chosen MPM and settings (None when no MPM can meet the targets), and why."""

    mpm: MpmName | None
    settings: MpmSettings | None
    directives: tuple[tuple[str, str], ...]
    snippet: str
    reasons: tuple[str, ...]
    placement: Placement | None
    options: tuple[MpmOption, ...]
    meets_targets: bool
    # Keep-alive directives of the main server config that change (name, new value).
    main_server_changes: tuple[tuple[str, str], ...] = ()

    @property
    def assessment(self) -> Assessment | None:
        """The evaluation of the recommended settings (the numbers the report shows)."""
        for option in self.options:
            if option.mpm == self.mpm:
                return option.best if option.best is not None else option.limit
        return None


@dataclass(frozen=True, slots=True)
class Fix:
    """For a missed target: the directive to change, where it is set, and what to set it to."""

    target: str
    directive: str
    location: Location
    is_default: bool
    message: str


@dataclass(frozen=True, slots=True)
class Report:
    """What `recommend` and `check` print: the JSON report of design.md, schema_version 1."""

    command: Literal["recommend", "check"]
    config: EffectiveConfig | None
    profile: TrafficProfile
    mpms: tuple[tuple[MpmName, MpmMetrics], ...]
    current: Assessment | None
    recommendation: Recommendation | None
    verdict: Verdict
    fixes: tuple[Fix, ...] = ()
    # The largest request rate at which the current settings meet every target but memory
    # (`check` only: `recommend` gives the sizes that meet the targets instead).
    current_max_rate_per_s: float | None = None


def mpms_to_consider(
    choice: MpmChoice, config: EffectiveConfig | None, modules: Sequence[str] = ()
) -> tuple[MpmName, ...]:
    """`all` → the three MPMs (only prefork when a thread-unsafe module is loaded)."""
    if choice == "current":
        if config is None:
            raise CapplanError("--mpm current needs a config (give CONFIG or use --mpm all)")
        return (config.mpm,)
    if choice == "all":
        if any(m in THREAD_UNSAFE_MODULES for m in modules):
            return ("prefork",)
        return MPM_NAMES
    return (choice,)


# Between MPMs within MEMORY_TIE of the least memory: keep the running one (no module switch),
# else prefer event (idle keep-alive costs no worker), then worker.
MEMORY_TIE = 1.05
MPM_PREFERENCE: tuple[MpmName, ...] = ("event", "worker", "prefork")


def choose_option(options: Sequence[MpmOption], running: MpmName | None) -> MpmOption | None:
    """The feasible option with the least worst-case memory, ties broken as MPM_PREFERENCE says."""
    feasible = [(o, o.best) for o in options if o.best is not None]
    if not feasible:
        return None
    least = min(best.metrics.memory_bytes for _, best in feasible)
    close = [o for o, best in feasible if best.metrics.memory_bytes <= MEMORY_TIE * least]
    order = ((running,) if running is not None else ()) + MPM_PREFERENCE
    return min(close, key=lambda o: order.index(o.mpm))


def _best_limit(options: Sequence[MpmOption]) -> MpmOption | None:
    """Among infeasible options, the one sustaining the highest request rate."""
    limited = [o for o in options if o.limit is not None]
    if not limited:
        return None
    return max(limited, key=lambda o: o.max_rate_per_s or 0.0)


def _keepalive_changes(
    new: MpmSettings, config: EffectiveConfig | None
) -> tuple[tuple[str, str], ...]:
    if config is None:
        return ()
    old = dict(keepalive_directives(config.settings))
    return tuple(
        (name, value) for name, value in keepalive_directives(new) if old.get(name) != value
    )


def mpm_block_location(config: EffectiveConfig | None) -> Location | None:
    """Where the config sets its MPM sizing: the file of MaxRequestWorkers (else of the first
    sizing directive set), at the first sizing line in that file."""
    if config is None:
        return None
    sizing = [
        (name, location)
        for name, location in config.provenance
        if name in MPM_BLOCK_ORDER and name != "ListenBacklog" and location.line > 0
    ]
    if not sizing:
        return None
    anchor = dict(sizing).get("MaxRequestWorkers", sizing[0][1])
    return min(
        (location for _, location in sizing if location.path == anchor.path),
        key=lambda location: location.line,
    )


def build_recommendation(
    profile: TrafficProfile,
    config: EffectiveConfig | None,
    mpms: Sequence[MpmName],
    *,
    modules: Sequence[str] = (),
) -> tuple[Recommendation, Assessment | None]:
    """Size every MPM in `mpms`, choose one, and word the reasons."""
    common = coherent_common(config.settings.common if config is not None else CommonSettings())
    options = tuple(
        size_mpm(
            mpm,
            profile,
            current=config.settings if config is not None and config.mpm == mpm else None,
            common=common,
        )
        for mpm in mpms
    )
    current = assess(config.settings, profile) if config is not None else None
    reasons: list[str] = []
    if config is not None and current is not None:
        reasons.append(current_reason(config, current, profile))
    if any(m in THREAD_UNSAFE_MODULES for m in modules) and "prefork" in mpms and len(mpms) == 1:
        loaded = ", ".join(m for m in modules if m in THREAD_UNSAFE_MODULES)
        reasons.append(
            f"{loaded} is loaded and is not thread-safe, so only prefork is sized; serve PHP "
            "through PHP-FPM (proxy_fcgi) to use event"
        )
    chosen = choose_option(options, config.mpm if config is not None else None)
    for option in options:
        if option.mpm in ("prefork", "worker") and option.best is not None:
            share = keepalive_share_reason(option.best.metrics, options)
            if share is not None and len(options) > 1:
                reasons.append(share)
                break
    if chosen is not None:
        reasons.append(choice_reason(chosen, options, profile))
    for option in options:
        lever = keepalive_lever_reason(option)
        if lever is not None:
            reasons.append(lever)
    # The cap binds the same way for every MPM: say it once, for the chosen one if it applies.
    capped = sorted(options, key=lambda o: o is not chosen)
    cap_reasons = [r for r in (max_requests_reason(o, profile) for o in capped) if r is not None]
    reasons += cap_reasons[:1]
    reasons += [limit_reason(o, profile) for o in options if o.best is None]
    # check_config adjustments are the warnings httpd prints as "AHnnnnn: WARNING: …"
    # (`prefork_check_config()`, `worker_check_config()`, `event_check_config()`).
    warnings = config.warnings if config is not None else ()
    adjusted = [w.code for w in warnings if w.message.startswith("WARNING: ")]
    if adjusted and chosen is not None:
        codes = ", ".join(dict.fromkeys(adjusted))
        reasons.append(
            f"httpd adjusts the current settings at start-up ({codes}); the block is one it "
            "applies as written"
        )
    meets = chosen is not None and chosen.best is not None
    if chosen is None:
        # Nothing meets the targets: offer the largest settings that fit, as the best this
        # machine can do, and say plainly that they miss the targets.
        chosen = _best_limit(options)
        reasons.append(
            "no MPM meets every target within memory: raise memory.ram, lower the targets, or "
            "spread the traffic over more servers"
        )
        if chosen is not None and chosen.limit is not None:
            reasons.append(
                f"the snippet is the largest {chosen.mpm} setting that fits in memory; it does "
                "NOT meet the targets"
            )
    if chosen is None:
        return (
            Recommendation(
                mpm=None, settings=None, directives=(), snippet="", reasons=tuple(reasons),
                placement=None, options=options, meets_targets=False,
            ),
            current,
        )
    picked = chosen.best if chosen.best is not None else chosen.limit
    assert picked is not None
    settings = picked.settings
    changes = _keepalive_changes(settings, config)
    where = placement(
        layout=config.layout if config is not None else "unknown",
        current_mpm=config.mpm if config is not None else None,
        new_mpm=chosen.mpm,
        server_root=config.server_root if config is not None else "",
        main_file=config.path if config is not None else "",
        mpm_block_location=mpm_block_location(config),
        keepalive_locations=tuple(
            (name, config.source_of(name) if config is not None else None) for name, _ in changes
        ),
    )
    return (
        Recommendation(
            mpm=chosen.mpm,
            settings=settings,
            directives=all_directives(settings),
            snippet=render_snippet(settings, changes),
            reasons=tuple(reasons),
            placement=where,
            options=options,
            meets_targets=meets,
            main_server_changes=changes,
        ),
        current,
    )


def build_report(
    profile: TrafficProfile,
    config: EffectiveConfig | None,
    *,
    mpms: Sequence[MpmName] = MPM_NAMES,
    modules: Sequence[str] = (),
) -> Report:
    """`capplan recommend`: the current config under the profile, and the recommendation."""
    from capplan.models import evaluate_all

    recommendation, current = build_recommendation(profile, config, mpms, modules=modules)
    metrics = evaluate_all(config, profile)
    if current is not None:
        verdict = verdict_of(current.targets)
    elif recommendation.mpm is not None:
        verdict = Verdict(ok=True, violations=())
    else:
        verdict = verdict_of(_limit_targets(recommendation.options))
    return Report(
        command="recommend",
        config=config,
        profile=profile,
        mpms=tuple((name, metrics[name]) for name in MPM_NAMES if name in metrics),
        current=current,
        recommendation=recommendation,
        verdict=verdict,
    )


def _limit_targets(options: Sequence[MpmOption]) -> tuple[TargetResult, ...]:
    for option in options:
        if option.limit is not None:
            return option.limit.targets
    return ()


# --- check ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetOverrides:
    """`capplan check` flags that replace the profile's targets (None keeps the profile's)."""

    max_wait_probability: float | None = None
    max_block_probability: float | None = None
    max_connection_limit_probability: float | None = None
    max_memory_bytes: int | None = None


def with_overrides(profile: TrafficProfile, overrides: TargetOverrides) -> TrafficProfile:
    """The profile with its targets replaced by the flags given.

    `--max-memory SIZE` is an absolute budget: it becomes `memory.ram` with a fraction of 1.
    """
    targets = profile.targets
    for name in ("max_wait_probability", "max_block_probability",
                 "max_connection_limit_probability"):
        value = getattr(overrides, name)
        if value is not None:
            if not 0.0 <= value <= 1.0:
                flag = "--" + name.replace("_", "-")
                raise CapplanError(f"{flag} {value}: a probability is in [0, 1]")
            targets = replace(targets, **{name: value})
    memory = profile.memory
    if overrides.max_memory_bytes is not None:
        if overrides.max_memory_bytes <= 0:
            raise CapplanError("--max-memory must be larger than 0")
        memory = replace(memory, ram_bytes=overrides.max_memory_bytes)
        targets = replace(targets, max_memory_fraction=1.0)
    return replace(profile, targets=targets, memory=memory)


def directive_for(target: str, settings: MpmSettings) -> str:
    """The directive a user changes to meet `target` with these settings.

    Worst-case memory counts ServerLimit processes (a graceful restart can fill them), so a
    ServerLimit above the active processes is the first thing to lower.
    """
    if is_memory_target(target) and settings.server_limit > settings.processes:
        return "ServerLimit"
    return TARGET_DIRECTIVE.get(target, "MaxRequestWorkers")


def build_fixes(
    config: EffectiveConfig, violations: Sequence[Violation], option: MpmOption | None,
    profile: TrafficProfile,
) -> tuple[Fix, ...]:
    """For each missed target, the directive to change and its `file:line` (a default value
    points at the main config file, line 1)."""
    fixes = []
    for violation in violations:
        directive = directive_for(violation.target, config.settings)
        location = config.source_of(directive)
        is_default = location is None or location.line <= 0
        if location is None or location.line <= 0:
            location = Location(config.path, 1)
        what = describe_target(violation, profile)
        if option is not None and option.best is not None:
            values = dict(all_directives(option.best.settings))
            together = ", ".join(
                f"{name} {values[name]}"
                for name in ("ServerLimit", "ThreadsPerChild", "KeepAliveTimeout")
                if name in values and name != directive
            )
            advice = (
                f"set {directive} {values[directive]} ({together}; `capplan recommend` gives the "
                "full block)"
            )
        else:
            advice = (
                f"no {directive} meets this within memory for {config.mpm}; see "
                "`capplan recommend` for the limit and the other MPMs"
            )
        note = f" ({directive} is not set: httpd's default applies)" if is_default else ""
        fixes.append(
            Fix(
                target=violation.target,
                directive=directive,
                location=location,
                is_default=is_default,
                message=f"{what}: {advice}{note}",
            )
        )
    return tuple(fixes)


def build_check(profile: TrafficProfile, config: EffectiveConfig) -> Report:
    """`capplan check`: the config's own MPM against the targets; fixes for the missed ones."""
    current = assess(config.settings, profile)
    verdict = verdict_of(current.targets)
    option = None
    if not verdict.ok:
        option = size_mpm(
            config.mpm, profile, current=config.settings,
            common=coherent_common(config.settings.common),
        )
    return Report(
        command="check",
        config=config,
        profile=profile,
        mpms=((config.mpm, current.metrics),),
        current=current,
        recommendation=None,
        verdict=verdict,
        fixes=build_fixes(config, verdict.violations, option, profile),
        current_max_rate_per_s=sustainable_rate_per_s(current, profile),
    )


# --- compare -------------------------------------------------------------------------------------

Better = Literal["lower", "higher"] | None

# design.md `mpms` keys in display order, with the direction that wins (None: a load, not a
# merit).
COMPARE_METRICS: tuple[tuple[str, Better], ...] = (
    ("workers", "higher"),
    ("processes", None),
    ("memory_bytes", "lower"),
    ("max_concurrent_requests", "higher"),
    ("max_connections", "higher"),
    ("idle_keepalive_capacity", "higher"),
    ("offered_load_erlangs", None),
    ("utilization", "lower"),
    ("busy_workers_mean", None),
    ("idle_keepalive_mean", None),
    ("connections_per_s", "lower"),
    ("p_wait", "lower"),
    ("p_wait_request", "lower"),
    ("mean_wait_s", "lower"),
    ("wait_p99_s", "lower"),
    ("p_block", "lower"),
)


@dataclass(frozen=True, slots=True)
class Column:
    """One (profile, config) pair and its assessment."""

    profile: TrafficProfile
    profile_path: str
    config: EffectiveConfig
    assessment: Assessment

    @property
    def label(self) -> str:
        return f"{self.profile.name} @ {self.config.path} ({self.config.mpm})"


@dataclass(frozen=True, slots=True)
class Row:
    """One metric (or target) across the columns; `winners` are the best columns' indexes."""

    name: str
    values: tuple[float | bool | None, ...]
    better: Better
    winners: tuple[int, ...]
    met: tuple[bool | None, ...] = ()
    limits: tuple[float | None, ...] = ()


@dataclass(frozen=True, slots=True)
class Comparison:
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]


def winners_of(values: Sequence[float | bool | None], better: Better) -> tuple[int, ...]:
    """Indexes of the best values; none when there is no direction or all values are equal."""
    if better is None:
        return ()
    numbers = [
        (i, float(v)) for i, v in enumerate(values) if v is not None and not math.isnan(float(v))
    ]
    if len({v for _, v in numbers}) < 2:
        return ()
    best = min(v for _, v in numbers) if better == "lower" else max(v for _, v in numbers)
    return tuple(i for i, v in numbers if v == best)


def build_comparison(columns: Sequence[Column]) -> Comparison:
    rows = []
    for name, better in COMPARE_METRICS:
        values = tuple(_metric(c.assessment.metrics, name) for c in columns)
        rows.append(Row(name, values, better, winners_of(values, better)))
    stable = tuple(bool(c.assessment.metrics.stable) for c in columns)
    rows.append(Row("stable", stable, "higher", winners_of(stable, "higher")))
    target_names: list[str] = []
    for column in columns:
        for target in column.assessment.targets:
            if target.target not in target_names:
                target_names.append(target.target)
    for name in target_names:
        found = [
            next((t for t in c.assessment.targets if t.target == name), None) for c in columns
        ]
        values = tuple(t.value if t is not None else None for t in found)
        rows.append(
            Row(
                name=f"target {name}",
                values=values,
                better="lower",
                winners=winners_of(values, "lower"),
                met=tuple(t.met if t is not None else None for t in found),
                limits=tuple(t.limit if t is not None else None for t in found),
            )
        )
    return Comparison(columns=tuple(columns), rows=tuple(rows))


def _metric(metrics: MpmMetrics, name: str) -> float | None:
    value = getattr(metrics, name, None)
    return None if value is None else float(value)


# --- pipelines (file paths in, reports out) ------------------------------------------------------


def load_config(
    path: str | None,
    *,
    defines: dict[str, str] | None = None,
    mpm: MpmName | None = None,
    somaxconn: int | None = None,
) -> EffectiveConfig:
    """Evaluate a config file (or the system's, found the way httpd does) to effective settings."""
    from capplan.mpm import load_effective_config

    return load_effective_config(path, defines=defines, mpm=mpm, somaxconn=somaxconn)


def load_profile_for(path: str | None) -> TrafficProfile:
    from capplan.profile import load_profile

    if path is None:
        raise CapplanError(
            "a traffic profile is required: -p PROFILE (examples in profiles/, or derive one "
            "from access logs with `capplan profile access.log > ours.yaml`)"
        )
    return load_profile(path)


def recommend_report(
    config_path: str | None,
    profile_path: str | None,
    *,
    mpm: MpmChoice = "all",
    ram_bytes: int | None = None,
    defines: dict[str, str] | None = None,
    somaxconn: int | None = None,
    measure: bool = False,
) -> Report:
    """`capplan recommend`: load, (measure), size, choose, word.

    `measure`: replace the profile's memory figures by those of the running httpd of this config
    (`capplan measure`); `ram_bytes` (`--ram`) then overrides memory.ram.
    """
    profile = load_profile_for(profile_path)
    config = load_config(config_path, defines=defines, somaxconn=somaxconn)
    if measure:
        from capplan.measure import measure_memory, measurement_to_profile_memory

        measured = measurement_to_profile_memory(measure_memory(config=config.path))
        memory = replace(
            profile.memory, **{f"{key}_bytes": value for key, value in measured.items()}
        )
        profile = replace(profile, memory=memory)
    if ram_bytes is not None:
        profile = replace(profile, memory=replace(profile.memory, ram_bytes=ram_bytes))
    mpms = mpms_to_consider(mpm, config, config.modules)
    return build_report(profile, config, mpms=mpms, modules=config.modules)


def check_report(
    config_path: str,
    profile_path: str | None,
    *,
    overrides: TargetOverrides | None = None,
    mpm: MpmName | None = None,
    defines: dict[str, str] | None = None,
    somaxconn: int | None = None,
) -> Report:
    """`capplan check`: the config against the profile's targets (flags override them)."""
    profile = with_overrides(load_profile_for(profile_path), overrides or TargetOverrides())
    config = load_config(config_path, defines=defines, mpm=mpm, somaxconn=somaxconn)
    return build_check(profile, config)


def compare_report(
    profile_paths: Sequence[str],
    config_paths: Sequence[str],
    *,
    defines: dict[str, str] | None = None,
    somaxconn: int | None = None,
) -> Comparison:
    """One column per (profile, config) pair, profiles outermost; no config → the system's."""
    if not profile_paths:
        raise CapplanError("compare needs at least one profile")
    profiles = [(p, load_profile_for(p)) for p in profile_paths]
    paths: list[str | None] = list(config_paths) or [None]
    configs = [load_config(c, defines=defines, somaxconn=somaxconn) for c in paths]
    columns = [
        Column(profile, path, config, assess(config.settings, profile))
        for path, profile in profiles
        for config in configs
    ]
    return build_comparison(columns)
