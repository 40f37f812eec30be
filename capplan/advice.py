"""Report data, the advice: (effective config, profile) → the reports of `recommend` and `check`.

Input: already-loaded objects (the effective config, the profile, the headroom, what `--measure`
substituted). Output: `Report`: the current config under the profile, per-MPM metrics, the
recommendation (keep, change or none, with the sizing options behind it), the verdict and, for
`check`, the directives to change. Pure: files are read by `capplan.pipeline`, and renderers
(`capplan.render`) put the data into words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, assert_never

from capplan.errors import CapplanError
from capplan.location import Location
from capplan.mpm_names import EventModel, Mpm, MpmChoice
from capplan.mpm_settings import MPM_NAMES, CommonSettings, EffectiveConfig, MpmSettings
from capplan.profile import RECOMMEND_HEADROOM
from capplan.recommend import (
    MIN_SAVING,
    Assessment,
    Change,
    Choice,
    MpmOption,
    assess,
    choose,
    coherent_common,
    refine_with_chain,
    size_mpm,
    sustainable_rate_per_s,
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
    from capplan.errorlog import ErrorLogEvidence
    from capplan.fpm_plan import FpmReport
    from capplan.models import MpmMetrics, TargetResult
    from capplan.models.http2 import Http2Sizing
    from capplan.profile import TrafficProfile

# Loaded modules that are not thread-safe: with one of them, only prefork can run the site.
THREAD_UNSAFE_MODULES = ("php_module", "php5_module", "php7_module", "php8_module")
# The sizing directives a `check` fix may name (the rest of the block follows them).
FIX_DIRECTIVES = ("MaxRequestWorkers", "ServerLimit", "ThreadsPerChild", "ThreadLimit")


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


# --- where figures come from ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Substitution:
    """A profile figure replaced by a measurement of the running server (`--measure`)."""

    key: str  # dotted profile key, e.g. "memory.thread"
    value: float
    replaced: float | None  # the profile's (or default) value it replaced
    pid: int | None
    origin: str  # "measured", "host MemTotal", "cgroup limit"


def profile_sources(
    profile: TrafficProfile, substitutions: Sequence[Substitution] = ()
) -> tuple[tuple[str, str], ...]:
    """Every value of the profile: `profile file:line`, `measured (PID n)` (or the host's memory)
    or `default` (the JSON report's `sources`; tables footnote the defaults that matter)."""
    from capplan.profile import HTTP2_KEYS, iter_fields

    measured = {s.key: s for s in substitutions}
    out = []
    for key, spec in iter_fields():
        if spec.fields or key in ("version", "name"):
            continue  # sections and labels carry no figure
        if key in HTTP2_KEYS and not profile.visits.uses_http2:
            continue
        if key.startswith("php.") and profile.php is None:
            continue  # no php: section, no PHP figures
        sub = measured.get(key)
        location = profile.location_of(key)
        if sub is not None:
            pid = f" (PID {sub.pid})" if sub.pid is not None else ""
            out.append((key, f"{sub.origin}{pid}"))
        elif location is not None:
            out.append((key, f"profile line {location.line}"))
        elif key.startswith("traffic.service_time") and profile.location_of(
            "traffic.service_time_p50"
        ):
            out.append((key, "fitted to service_time_p50 and service_time_p95"))
        else:
            out.append((key, "default"))
    return tuple(out)


# --- recommend -----------------------------------------------------------------------------------


Action = Literal["keep", "change", "none"]


@dataclass(frozen=True, slots=True)
class Recommendation:
    """What to do. `keep`: the current config meets every target (no directives, no snippet);
    `change`: `settings` of `mpm` (the same MPM or another); `none`: nothing meets the targets
    (then `settings` is the best that fits, if any, and `meets_targets` is False)."""

    action: Action
    mpm: Mpm | None
    settings: MpmSettings | None
    assessment: Assessment | None
    directives: tuple[tuple[str, str], ...]
    snippet: str
    placement: Placement | None
    options: tuple[MpmOption, ...]
    meets_targets: bool
    changes: tuple[Change, ...] = ()
    # Keep-alive directives of the main server config that change (name, new value).
    main_server_changes: tuple[tuple[str, str], ...] = ()
    # Switching MPM for memory alone: the saving against the running MPM's own sizing.
    saving_bytes: float | None = None
    # The largest request rate the recommended settings sustain for every queueing target.
    max_rate_per_s: float | None = None
    min_saving: float = MIN_SAVING
    # Loaded modules that restrict the sizing to prefork.
    thread_unsafe_modules: tuple[str, ...] = ()
    # mod_http2's pool for the recommended settings (only when visits.http2_share > 0).
    http2: Http2Sizing | None = None


@dataclass(frozen=True, slots=True)
class Fix:
    """For `check`: a directive to change, where it is set, its current and suggested value, and
    the missed targets it addresses (`new` None: no value of it meets them within memory)."""

    directive: str
    location: Location
    is_default: bool
    old: str
    new: str | None
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """What `recommend` and `check` print (the JSON report, schema_version 1)."""

    command: Literal["recommend", "check"]
    config: EffectiveConfig | None
    profile: TrafficProfile
    # The targets hold at requests_per_second × (1 + headroom).
    headroom: float
    # Every MPM at the profile's own rate (the operating point).
    mpms: tuple[tuple[Mpm, MpmMetrics], ...]
    # The current settings at the headroom rate, checked against the targets.
    current: Assessment | None
    recommendation: Recommendation | None
    verdict: Verdict
    fixes: tuple[Fix, ...] = ()
    # The largest request rate at which the current settings meet every target but memory.
    current_max_rate_per_s: float | None = None
    substitutions: tuple[Substitution, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    # What httpd's error log says about its limits (`recommend --error-log`).
    error_log: ErrorLogEvidence | None = None
    # PHP-FPM behind httpd (a profile with `php:`, or `--fpm-pool`); None: not modelled.
    php_fpm: FpmReport | None = None
    # `check --event-model chain`: the settings the fixes lead to, assessed with the chain at
    # the rate they were sized for (the fixes themselves are sized with the closed form).
    fix_check: Assessment | None = None

    @property
    def sizing_rate_per_s(self) -> float:
        return self.profile.traffic.requests_per_second * (1.0 + self.headroom)


def at_headroom(profile: TrafficProfile, headroom: float) -> TrafficProfile:
    """The profile with its rate raised by `headroom` (0.25 → 1.25 ×)."""
    if headroom <= 0:
        return profile
    traffic = replace(
        profile.traffic, requests_per_second=profile.traffic.requests_per_second * (1 + headroom)
    )
    return replace(profile, traffic=traffic)


def mpms_to_consider(
    choice: MpmChoice, config: EffectiveConfig | None, modules: Sequence[str] = ()
) -> tuple[Mpm, ...]:
    """`all` → the three MPMs (only prefork when a thread-unsafe module is loaded)."""
    match choice:
        case MpmChoice.current:
            if config is None:
                raise CapplanError("--mpm current needs a config (give CONFIG or use --mpm all)")
            return (config.mpm,)
        case MpmChoice.all:
            if any(m in THREAD_UNSAFE_MODULES for m in modules):
                return (Mpm.prefork,)
            return MPM_NAMES
        case MpmChoice.prefork | MpmChoice.worker | MpmChoice.event:
            return (Mpm(choice.value),)
        case _:
            assert_never(choice)


def _keepalive_changes(
    new: MpmSettings, config: EffectiveConfig | None
) -> tuple[tuple[str, str], ...]:
    """Keep-alive directives whose value changes; KeepAliveTimeout and MaxKeepAliveRequests are
    left out when the new settings turn KeepAlive off (they no longer apply)."""
    old = dict(keepalive_directives(config.settings)) if config is not None else {}
    new_values = keepalive_directives(new)
    if not new.common.keep_alive:
        new_values = new_values[:1]
    return tuple((name, value) for name, value in new_values if old.get(name) != value)


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


def _recommendation(
    choice: Choice,
    options: tuple[MpmOption, ...],
    config: EffectiveConfig | None,
    current: Assessment | None,
    profile: TrafficProfile,
    *,
    min_saving: float,
    unsafe: tuple[str, ...],
) -> Recommendation:
    if choice.action == "keep":
        assert config is not None
        assert current is not None
        return Recommendation(
            action="keep",
            mpm=config.mpm,
            settings=config.settings,
            assessment=current,
            directives=(),
            snippet="",
            placement=None,
            options=options,
            meets_targets=True,
            max_rate_per_s=sustainable_rate_per_s(current, profile),
            min_saving=min_saving,
            thread_unsafe_modules=unsafe,
        )
    option = choice.option
    picked = option.shown if option is not None else None
    if option is None or picked is None:
        return Recommendation(
            action="none",
            mpm=None,
            settings=None,
            assessment=None,
            directives=(),
            snippet="",
            placement=None,
            options=options,
            meets_targets=False,
            min_saving=min_saving,
            thread_unsafe_modules=unsafe,
        )
    settings = picked.settings
    changes = _keepalive_changes(settings, config)
    where = placement(
        layout=config.layout if config is not None else "unknown",
        current_mpm=config.mpm if config is not None else None,
        new_mpm=option.mpm,
        server_root=config.server_root if config is not None else "",
        main_file=config.path if config is not None else "",
        mpm_block_location=mpm_block_location(config),
        keepalive_locations=tuple(
            (name, config.source_of(name) if config is not None else None) for name, _ in changes
        ),
    )
    return Recommendation(
        action="change" if option.best is not None else "none",
        mpm=option.mpm,
        settings=settings,
        assessment=picked,
        directives=all_directives(settings),
        snippet=render_snippet(settings, changes),
        placement=where,
        options=options,
        meets_targets=option.best is not None,
        changes=option.changes,
        main_server_changes=changes,
        saving_bytes=choice.saving_bytes,
        max_rate_per_s=sustainable_rate_per_s(picked, profile),
        min_saving=min_saving,
        thread_unsafe_modules=unsafe,
    )


def build_report(
    profile: TrafficProfile,
    config: EffectiveConfig | None,
    *,
    mpms: Sequence[Mpm] = MPM_NAMES,
    modules: Sequence[str] = (),
    headroom: float = 0.25,
    min_saving: float = MIN_SAVING,
    substitutions: Sequence[Substitution] = (),
    error_log: ErrorLogEvidence | None = None,
    event_model: EventModel = EventModel.closed_form,
) -> Report:
    """`capplan recommend`: the current config under the profile, and what to do about it.

    `event_model` (`--event-model`) is event's model for the current config, the figures shown,
    and the process count of event's option (`refine_with_chain`); the shape of each option
    and the sustainable rates stay with the closed form."""
    from capplan.models import evaluate_all

    sizing = at_headroom(profile, headroom)
    search = _without_http2_where_off(sizing, config)
    common = config.settings.common if config is not None else CommonSettings()
    options = tuple(
        size_mpm(
            mpm,
            search,
            current=config.settings if config is not None and config.mpm == mpm else None,
            common=common,
            min_saving=min_saving,
        )
        for mpm in mpms
    )
    if event_model is EventModel.chain:
        options = tuple(refine_with_chain(option, search) for option in options)
    current = (
        assess(config.settings, search, event_model=event_model) if config is not None else None
    )
    running = config.mpm if config is not None and config.mpm in mpms else None
    choice = choose(
        options,
        running=running,
        current_ok=current is not None and running is not None and current.ok,
        ram_bytes=profile.memory.ram_bytes,
        min_saving=min_saving,
    )
    unsafe = tuple(m for m in modules if m in THREAD_UNSAFE_MODULES)
    recommendation = _recommendation(
        choice, options, config, current, search, min_saving=min_saving, unsafe=unsafe
    )
    if profile.visits.uses_http2:
        recommendation = _with_http2_sizing(recommendation, config, sizing)
    metrics = evaluate_all(config, profile, event_model=event_model)
    if current is not None:
        verdict = verdict_of(current.targets)
    elif recommendation.meets_targets:
        verdict = Verdict(ok=True, violations=())
    else:
        shown = recommendation.assessment
        verdict = verdict_of(shown.targets) if shown is not None else Verdict(False, ())
    return Report(
        command="recommend",
        config=config,
        profile=profile,
        headroom=headroom,
        mpms=tuple((name, metrics[name]) for name in MPM_NAMES if name in metrics),
        current=current,
        recommendation=recommendation,
        verdict=verdict,
        current_max_rate_per_s=(
            sustainable_rate_per_s(current, search) if current is not None else None
        ),
        substitutions=tuple(substitutions),
        sources=profile_sources(profile, substitutions),
        error_log=error_log,
    )


def _without_http2_where_off(
    profile: TrafficProfile, config: EffectiveConfig | None
) -> TrafficProfile:
    """The profile the search sizes for: HTTP/1.1 only when the config cannot serve HTTP/2.

    The search evaluates candidate settings with mod_http2 loaded and offered; a config that
    does not load it, or offers h2/h2c nowhere, serves every visit as HTTP/1.1 whatever the MPM.
    """
    if not profile.visits.uses_http2 or config is None:
        return profile
    from capplan.models.http2 import setup_from

    setup = setup_from(config)
    if setup.loaded and setup.offered:
        return profile
    return replace(profile, visits=replace(profile.visits, http2_share=0.0))


def _with_http2_sizing(
    recommendation: Recommendation, config: EffectiveConfig | None, sizing: TrafficProfile
) -> Recommendation:
    """The recommendation with mod_http2's pool sized for its settings (H2MaxWorkers)."""
    from capplan.models.http2 import setup_from, size_h2_workers

    settings = recommendation.settings
    mpm = recommendation.mpm
    if settings is None or mpm is None:
        return recommendation
    target = sizing.targets.max_wait_probability
    h2 = size_h2_workers(
        mpm,
        settings,
        sizing,
        setup_from(config),
        processes=settings.processes,
        max_wait_probability=target or 0.01,
    )
    if not h2.directives or recommendation.action != "change":
        return replace(recommendation, http2=h2)
    # NOTE: <IfModule> keeps the snippet valid where mod_http2 is not loaded (httpd refuses
    # H2MaxWorkers as an unknown command otherwise).
    lines = [f"    {name} {value}" for name, value in h2.directives]
    block = "\n".join(["<IfModule http2_module>", *lines, "</IfModule>"]) + "\n"
    return replace(
        recommendation,
        http2=h2,
        directives=(*recommendation.directives, *h2.directives),
        snippet=recommendation.snippet.rstrip("\n") + "\n" + block,
    )


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
    for name in (
        "max_wait_probability",
        "max_block_probability",
        "max_connection_limit_probability",
    ):
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


def build_fixes(
    config: EffectiveConfig, violations: Sequence[Violation], option: MpmOption | None
) -> tuple[Fix, ...]:
    """One fix per directive that must change (never one per missed target): the sizing
    directives whose value differs from the sized option's, then the levers it pulls. Each
    points at the line that sets the directive (a default points at the main config, line 1).
    """
    if not violations:
        return ()
    missed = tuple(v.target for v in violations)
    current = dict(all_directives(config.settings))

    def fix(directive: str, new: str | None, old: str | None = None) -> Fix:
        location = config.source_of(directive)
        is_default = location is None or location.line <= 0
        if location is None or location.line <= 0:
            location = Location(config.path, 1)
        return Fix(directive, location, is_default, old or current.get(directive, ""), new, missed)

    if option is None or option.best is None:
        return (fix("MaxRequestWorkers", None),)
    proposed = dict(all_directives(option.best.settings))
    fixes = [
        fix(name, proposed[name])
        for name in FIX_DIRECTIVES
        if name in proposed and proposed[name] != current.get(name)
    ]
    fixes += [fix(c.directive, c.new, c.old) for c in option.changes]
    return tuple(fixes)


def build_check(
    profile: TrafficProfile,
    config: EffectiveConfig,
    *,
    headroom: float = 0.0,
    event_model: EventModel = EventModel.closed_form,
) -> Report:
    """`capplan check`: the config's own MPM against the targets at the profile's rate plus
    `headroom`; for a miss, the directives to change (sized with at least RECOMMEND_HEADROOM).

    `event_model` computes the config's own metrics and verdict; the sustainable rate and the
    sizing of a fix stay with the closed form (they evaluate dozens of settings)."""
    sizing = at_headroom(profile, headroom)
    current = assess(config.settings, sizing, event_model=event_model)
    verdict = verdict_of(current.targets)
    option = None
    fix_check = None
    if not verdict.ok:
        # The directives to change are sized with recommend's headroom at least: a CI gate that
        # proposes a zero-margin fix would fail again at the next bump in traffic.
        fix_profile = at_headroom(profile, max(headroom, RECOMMEND_HEADROOM))
        option = size_mpm(
            config.mpm,
            fix_profile,
            current=config.settings,
            common=coherent_common(config.settings.common),
        )
        if (
            event_model is EventModel.chain
            and config.mpm is Mpm.event
            and option.best is not None
            and option.best.settings != config.settings
        ):
            fix_check = assess(option.best.settings, fix_profile, event_model=event_model)
    return Report(
        command="check",
        config=config,
        profile=profile,
        headroom=headroom,
        mpms=((config.mpm, current.metrics),),
        current=current,
        recommendation=None,
        verdict=verdict,
        fixes=build_fixes(config, verdict.violations, option),
        current_max_rate_per_s=sustainable_rate_per_s(current, sizing),
        sources=profile_sources(profile),
        fix_check=fix_check,
    )
