"""Report stage with PHP-FPM: (profile with `php:`, effective config, pool) → `Report` whose
httpd figures carry the FPM couplings, plus the `FpmReport` of the pool.

Input: what `recommend` and `check` load, and the FPM side found for the config. Output: the same
`Report` as without PHP, built on the profile httpd sees behind FPM (`capplan.fpm.model.
httpd_view`), with the FPM targets in the verdict, `php_fpm` filled in and, for `recommend`,
`pm.max_children` and the spares sized together with MaxRequestWorkers in the shared memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from capplan.advice import (
    Fix,
    Report,
    Verdict,
    Violation,
    at_headroom,
    build_check,
    build_report,
)
from capplan.fpm.model import (
    FpmMetrics,
    evaluate_fpm,
    httpd_connections,
    httpd_view,
    min_max_children,
    php_load_erlangs,
    pool_directives,
    pool_snippet,
    sized_pool,
)
from capplan.fpm.pool import FpmPool
from capplan.mpm_names import EventModel
from capplan.mpm_settings import EffectiveConfig, MpmSettings
from capplan.profile import RECOMMEND_HEADROOM, Php

if TYPE_CHECKING:
    from capplan.advice import Substitution
    from capplan.errorlog import ErrorLogEvidence
    from capplan.fpm.locate import FpmSide
    from capplan.mpm_names import Mpm
    from capplan.profile import TrafficProfile


@dataclass(frozen=True, slots=True)
class FpmTarget:
    """One FPM target: its name (`php_fpm.max_wait_probability`, …), limit, value, met."""

    target: str
    limit: float
    value: float
    met: bool


@dataclass(frozen=True, slots=True)
class FpmReport:
    """PHP-FPM in a report: the pool found (None: none on this machine), the current pool at
    the profile's rate and at the sizing rate, its targets, and the proposed pool options."""

    side: FpmSide | None
    note: str | None
    current: FpmMetrics | None
    current_at_sizing: FpmMetrics | None
    targets: tuple[FpmTarget, ...]
    proposed: FpmMetrics | None = None
    directives: tuple[tuple[str, str], ...] = ()
    snippet: str = ""
    # Said out loud: the php: defaults in use when the profile has no php: section.
    assumed_defaults: bool = False


def fpm_targets(metrics: FpmMetrics, profile: TrafficProfile) -> tuple[FpmTarget, ...]:
    """The profile's wait and block targets applied to the wait for a free FPM child and to the
    FPM socket's accept queue; an unstable pool misses every wait target."""
    targets = profile.targets
    out = []
    if targets.max_wait_probability is not None:
        value = metrics.p_wait
        out.append(
            FpmTarget(
                "php_fpm.max_wait_probability",
                targets.max_wait_probability,
                value,
                value <= targets.max_wait_probability,
            )
        )
    if targets.max_wait is not None and metrics.p_wait_exceeds is not None:
        value = metrics.p_wait_exceeds
        out.append(
            FpmTarget(
                "php_fpm.max_wait",
                targets.max_wait.probability,
                value,
                value <= targets.max_wait.probability,
            )
        )
    if targets.max_block_probability is not None:
        value = metrics.p_block
        out.append(
            FpmTarget(
                "php_fpm.max_block_probability",
                targets.max_block_probability,
                value,
                value <= targets.max_block_probability,
            )
        )
    return tuple(out)


def _with_php(profile: TrafficProfile) -> tuple[TrafficProfile, bool]:
    if profile.php is not None:
        return profile, False
    return replace(profile, php=Php()), True


def _current(
    side: FpmSide | None, profile: TrafficProfile, settings: MpmSettings, headroom: float
) -> tuple[FpmMetrics | None, FpmMetrics | None]:
    if side is None:
        return None, None
    proxy_max = side.backend.max_connections if side.backend is not None else None
    return (
        evaluate_fpm(side.pool, profile, settings, proxy_max=proxy_max),
        evaluate_fpm(side.pool, at_headroom(profile, headroom), settings, proxy_max=proxy_max),
    )


def _verdict(verdict: Verdict, targets: Sequence[FpmTarget]) -> Verdict:
    missed = tuple(Violation(t.target, t.limit, t.value) for t in targets if not t.met)
    return Verdict(ok=verdict.ok and not missed, violations=(*verdict.violations, *missed))


def _propose(
    side: FpmSide | None,
    sizing: TrafficProfile,
    settings: MpmSettings,
) -> tuple[FpmPool, FpmMetrics]:
    """The pool sized for `sizing` behind `settings`: max_children for the wait targets (no more
    than httpd can use), spares for the load, listen.backlog raised when httpd could queue more
    connections than the socket holds."""
    current = side.pool if side is not None else None
    proxy_max = side.backend.max_connections if side is not None and side.backend else None
    conns = httpd_connections(settings, proxy_max)
    children = min(min_max_children(sizing), conns)
    pool = sized_pool(current, children, php_load_erlangs(sizing))
    somaxconn = settings.common.somaxconn
    if conns - children > pool.accept_queue_capacity(somaxconn) - 1:
        pool = replace(pool, listen_backlog=min(conns - children, somaxconn))
    return pool, evaluate_fpm(pool, sizing, settings, proxy_max=proxy_max)


def recommend_with_fpm(
    profile: TrafficProfile,
    config: EffectiveConfig | None,
    side: FpmSide | None,
    note: str | None,
    *,
    mpms: Sequence[Mpm],
    modules: Sequence[str],
    headroom: float,
    min_saving: float,
    substitutions: Sequence[Substitution] = (),
    error_log: ErrorLogEvidence | None = None,
    event_model: EventModel = EventModel.closed_form,
) -> Report:
    """`capplan recommend` with PHP-FPM: pm.max_children first (it depends only on the PHP load
    and the wait targets), then httpd sized behind it (the wait it leaves holds workers, its
    memory leaves less RAM), then the pool capped at what the chosen httpd can use.
    `event_model` as in `build_report`."""
    from capplan.models import evaluate_all
    from capplan.mpm_settings import EventSettings
    from capplan.recommend import assess, sustainable_rate_per_s

    profile, assumed = _with_php(profile)
    sizing = at_headroom(profile, headroom)
    httpd_now = config.settings if config is not None else EventSettings()
    pool, proposed = _propose(side, sizing, httpd_now)
    report = build_report(
        httpd_view(profile, proposed),
        config,
        mpms=mpms,
        modules=modules,
        headroom=headroom,
        min_saving=min_saving,
        substitutions=substitutions,
        error_log=error_log,
        event_model=event_model,
    )
    rec = report.recommendation
    if rec is not None and rec.settings is not None:
        pool, proposed = _propose(side, sizing, rec.settings)
    current, current_sizing = _current(side, profile, httpd_now, headroom)
    targets: tuple[FpmTarget, ...] = ()
    if current is not None and current_sizing is not None and config is not None:
        view = httpd_view(profile, current_sizing)
        now = assess(config.settings, at_headroom(view, headroom), event_model=event_model)
        metrics = evaluate_all(config, view, event_model=event_model)
        targets = fpm_targets(current_sizing, sizing)
        from capplan.advice import verdict_of

        report = replace(
            report,
            mpms=tuple((name, metrics[name]) for name, _ in report.mpms),
            current=now,
            verdict=_verdict(verdict_of(now.targets), targets),
            current_max_rate_per_s=sustainable_rate_per_s(now, at_headroom(view, headroom)),
        )
    directives = pool_directives(pool, side.pool if side is not None else None)
    fpm = FpmReport(
        side=side,
        note=note,
        current=current,
        current_at_sizing=current_sizing,
        targets=targets,
        proposed=proposed,
        directives=directives,
        snippet=pool_snippet(pool.name, directives),
        assumed_defaults=assumed,
    )
    return replace(report, profile=profile, php_fpm=fpm)


def check_with_fpm(
    profile: TrafficProfile,
    config: EffectiveConfig,
    side: FpmSide | None,
    note: str | None,
    *,
    headroom: float,
    event_model: EventModel = EventModel.closed_form,
) -> Report:
    """`capplan check` with PHP-FPM: httpd's targets behind the current pool, the FPM targets,
    and for a missed FPM target the pool option to change (sized with recommend's headroom);
    `event_model` as in `build_check`."""
    profile, assumed = _with_php(profile)
    current, current_sizing = _current(side, profile, config.settings, headroom)
    if current_sizing is None:
        report = build_check(profile, config, headroom=headroom, event_model=event_model)
        fpm = FpmReport(side, note, None, None, (), assumed_defaults=assumed)
        return replace(report, php_fpm=fpm)
    report = build_check(
        httpd_view(profile, current_sizing), config, headroom=headroom, event_model=event_model
    )
    sizing = at_headroom(profile, headroom)
    targets = fpm_targets(current_sizing, sizing)
    verdict = _verdict(report.verdict, targets)
    fixes = report.fixes
    assert side is not None
    if any(not t.met for t in targets):
        # Fixes are sized behind the fixed pool: httpd behind an overloaded one would be sized
        # for workers that only wait.
        fix_rate = at_headroom(profile, max(headroom, RECOMMEND_HEADROOM))
        pool, proposed = _propose(side, fix_rate, config.settings)
        behind = build_check(httpd_view(profile, proposed), config, headroom=headroom)
        fixes = behind.fixes
        missed = tuple(t.target for t in targets if not t.met)
        old_values = {
            "pm": side.pool.pm,
            "pm.max_children": str(side.pool.max_children),
            "pm.start_servers": str(side.pool.start_servers),
            "pm.min_spare_servers": str(side.pool.min_spare_servers),
            "pm.max_spare_servers": str(side.pool.max_spare_servers),
            "listen.backlog": str(side.pool.listen_backlog),
        }
        for key, value in pool_directives(pool, side.pool):
            location = side.pool.source_of(key)
            fixes = (
                *fixes,
                Fix(
                    key,
                    location or side.pool.location,
                    location is None,
                    old_values[key],
                    value,
                    missed,
                ),
            )
    fpm = FpmReport(side, note, current, current_sizing, targets, assumed_defaults=assumed)
    return replace(report, profile=profile, verdict=verdict, fixes=fixes, php_fpm=fpm)


__all__ = ["FpmReport", "FpmTarget", "check_with_fpm", "fpm_targets", "recommend_with_fpm"]
