"""Pipelines: file paths and options in, reports out, for `recommend`, `check`, `compare`, `sweep`.

The one place that reads config and profile files and measures the running server; everything it
calls afterwards is pure: config → effective settings (`capplan.effective`), profile, models,
sizing and choice (`capplan.recommend`), report data (`capplan.advice`, `capplan.compare`).
Renderers and the CLI take it from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from capplan.advice import (
    Report,
    Substitution,
    TargetOverrides,
    build_check,
    build_report,
    mpms_to_consider,
    with_overrides,
)
from capplan.errors import CapplanError
from capplan.mpm_names import EventModel, Mpm, MpmChoice
from capplan.mpm_settings import EffectiveConfig, MpmSettings
from capplan.profile import RECOMMEND_HEADROOM
from capplan.recommend import MIN_SAVING

if TYPE_CHECKING:
    from capplan.compare import Comparison
    from capplan.fpm.locate import FpmSide
    from capplan.measure.pipeline import Measurement
    from capplan.profile import TrafficProfile
    from capplan.sweep import Curves, Sweep


def load_config(
    path: str | None,
    *,
    defines: dict[str, str] | None = None,
    mpm: Mpm | None = None,
    somaxconn: int | None = None,
) -> EffectiveConfig:
    """Evaluate a config file (or the system's, found the way httpd does) to effective settings.

    Without a path and without a config on this machine: httpd's compiled-in defaults, said so.
    """
    from capplan.machine import load_effective_config

    return load_effective_config(
        path, defines=defines, mpm=mpm, somaxconn=somaxconn, defaults_if_missing=True
    )


def load_fpm_side(
    config: EffectiveConfig, pool_file: str | None
) -> tuple[FpmSide | None, str | None]:
    """The PHP-FPM pool behind `config` (from `--fpm-pool` or the system's php-fpm config) and,
    when none is found although the config sends PHP to FastCGI, the note that says so."""
    from capplan.fpm.locate import find_fpm_side, no_pool_message

    side = find_fpm_side(config.fcgi_backends, pool_file=pool_file)
    if side is None and config.fcgi_backends:
        return None, no_pool_message(config.fcgi_backends)
    return side, None


def load_profile_for(path: str | None) -> TrafficProfile:
    from capplan.profile import load_profile

    if path is None:
        raise CapplanError(
            "a traffic profile is required: -p PROFILE (examples in profiles/, or derive one "
            "from access logs with `capplan profile access.log > ours.yaml`)"
        )
    return load_profile(path)


def check_fraction(value: float | None, flag: str, *, maximum: float) -> None:
    if value is not None and not 0.0 <= value <= maximum:
        raise CapplanError(f"{flag} {value:g}: must be between 0 and {maximum:g}")


def apply_measurement(
    profile: TrafficProfile, measured: Measurement
) -> tuple[TrafficProfile, tuple[Substitution, ...]]:
    """The profile with the measured memory figures, and each substitution made.

    memory.ram is replaced by the host's (or cgroup's) memory only when the profile has none:
    a profile's ram is a budget, not a fact about this machine.
    """
    from capplan.measure import measurement_to_profile_memory
    from capplan.profile import MEMORY_FIELDS

    figures = measurement_to_profile_memory(measured)
    specs = {spec.key: spec for spec in MEMORY_FIELDS}
    memory = profile.memory
    subs = []
    for key, value in figures.items():
        attr = specs[key].attr
        old = getattr(memory, attr)
        if key == "ram":
            if old is not None:
                continue
            limited = measured.cgroup is not None and measured.cgroup.limit_bytes is not None
            origin = "cgroup memory limit" if limited else "host MemTotal"
        else:
            origin = "measured"
        memory = replace(memory, **{attr: value})
        subs.append(Substitution(f"memory.{key}", float(value), old, measured.parent_pid, origin))
    return replace(profile, memory=memory), tuple(subs)


def recommend_report(
    config_path: str | None,
    profile_path: str | None,
    *,
    mpm: MpmChoice = MpmChoice.all,
    ram_bytes: int | None = None,
    defines: dict[str, str] | None = None,
    somaxconn: int | None = None,
    measure: bool = False,
    headroom: float | None = None,
    min_saving: float | None = None,
    error_logs: Sequence[str] = (),
    fpm_pool: str | None = None,
    event_model: EventModel = EventModel.closed_form,
) -> Report:
    """`capplan recommend`: load, (measure), (read the error log), size, choose.

    `measure`: replace the profile's memory figures by those of the running httpd of this config
    (`capplan measure`); `ram_bytes` (`--ram`) then overrides memory.ram. `headroom`: the
    `--headroom` flag, else the profile's `targets.headroom`, else 0.25. `error_logs`: httpd's
    error logs, whose limit messages the report cites next to the model. With a `php:` section
    or `fpm_pool` (`--fpm-pool`), PHP-FPM is sized together with httpd (`capplan.fpm_plan`).
    `event_model` (`--event-model`): event's model (`capplan.advice.build_report`).
    """
    check_fraction(headroom, "--headroom", maximum=10.0)
    check_fraction(min_saving, "--min-saving", maximum=1.0)
    if ram_bytes is not None and ram_bytes <= 0:
        raise CapplanError("--ram must be larger than 0")
    profile = load_profile_for(profile_path)
    config = load_config(config_path, defines=defines, somaxconn=somaxconn)
    substitutions: tuple[Substitution, ...] = ()
    if measure:
        from capplan.measure import measure_memory

        profile, substitutions = apply_measurement(profile, measure_memory(config=config.path))
    if ram_bytes is not None:
        profile = replace(profile, memory=replace(profile.memory, ram_bytes=ram_bytes))
    if headroom is None:
        headroom = profile.targets.headroom
    chosen_headroom = RECOMMEND_HEADROOM if headroom is None else headroom
    chosen_saving = MIN_SAVING if min_saving is None else min_saving
    evidence = None
    if error_logs:
        from capplan.errorlog import read_error_logs

        evidence = read_error_logs(error_logs)
    mpms = mpms_to_consider(mpm, config, config.modules)
    if profile.php is not None or fpm_pool is not None:
        from capplan.fpm_plan import recommend_with_fpm

        side, note = load_fpm_side(config, fpm_pool)
        return recommend_with_fpm(
            profile,
            config,
            side,
            note,
            mpms=mpms,
            modules=config.modules,
            headroom=chosen_headroom,
            min_saving=chosen_saving,
            substitutions=substitutions,
            error_log=evidence,
            event_model=event_model,
        )
    return build_report(
        profile,
        config,
        mpms=mpms,
        modules=config.modules,
        headroom=chosen_headroom,
        min_saving=chosen_saving,
        substitutions=substitutions,
        error_log=evidence,
        event_model=event_model,
    )


def check_report(
    config_path: str | None,
    profile_path: str | None,
    *,
    overrides: TargetOverrides | None = None,
    mpm: Mpm | None = None,
    defines: dict[str, str] | None = None,
    somaxconn: int | None = None,
    headroom: float | None = None,
    fpm_pool: str | None = None,
    event_model: EventModel = EventModel.closed_form,
) -> Report:
    """`capplan check`: the config against the profile's targets (flags override them) at the
    profile's rate plus `--headroom` (else the profile's `targets.headroom`, else none);
    `event_model` (`--event-model`) is event's model for the config's own metrics."""
    check_fraction(headroom, "--headroom", maximum=10.0)
    profile = with_overrides(load_profile_for(profile_path), overrides or TargetOverrides())
    config = load_config(config_path, defines=defines, mpm=mpm, somaxconn=somaxconn)
    if headroom is None:
        headroom = profile.targets.headroom
    if profile.php is not None or fpm_pool is not None:
        from capplan.fpm_plan import check_with_fpm

        side, note = load_fpm_side(config, fpm_pool)
        return check_with_fpm(
            profile,
            config,
            side,
            note,
            headroom=0.0 if headroom is None else headroom,
            event_model=event_model,
        )
    return build_check(
        profile,
        config,
        headroom=0.0 if headroom is None else headroom,
        event_model=event_model,
    )


def compare_report(
    profile_paths: Sequence[str],
    config_paths: Sequence[str],
    *,
    defines: dict[str, str] | None = None,
    somaxconn: int | None = None,
    event_model: EventModel = EventModel.closed_form,
) -> Comparison:
    """One column per (profile, config) pair, profiles outermost; no config → the system's;
    `event_model` (`--event-model`) is event's model for every column."""
    from capplan.compare import Column, build_comparison
    from capplan.recommend import assess

    if not profile_paths:
        raise CapplanError("compare needs at least one profile")
    profiles = [(p, load_profile_for(p)) for p in profile_paths]
    paths: list[str | None] = list(config_paths) or [None]
    configs = [load_config(c, defines=defines, somaxconn=somaxconn) for c in paths]
    columns = [
        Column(profile, path, config, assess(config.settings, profile, event_model=event_model))
        for path, profile in profiles
        for config in configs
    ]
    return build_comparison(columns)


def sweep_report(
    config_path: str | None,
    profile_path: str | None,
    vary: Sequence[str],
    *,
    mpm: MpmChoice = MpmChoice.all,
    defines: dict[str, str] | None = None,
    somaxconn: int | None = None,
) -> Sweep:
    """`capplan sweep`: every MPM (the config's own as configured, the others mapped from it, as
    in `recommend`'s table) at every point of the `--vary` axes."""
    from capplan.models import map_settings
    from capplan.sweep import base_value, build_sweep, parameter_named, parse_vary

    if not vary:
        raise CapplanError("sweep needs at least one --vary NAME=FROM:TO[:STEP]")
    profile = load_profile_for(profile_path)
    config = load_config(config_path, defines=defines, somaxconn=somaxconn)
    mpms = mpms_to_consider(mpm, config, config.modules)
    settings = tuple((name, map_settings(config.settings, name)) for name in mpms)
    axes = []
    for spec in vary:
        parameter = parameter_named(spec.partition("=")[0])
        axes.append(parse_vary(spec, profile, base_value(parameter, profile, settings[0][1])))
    return build_sweep(profile, settings, axes, config_path=config.path)


def report_curves(report: Report) -> tuple[Curves, ...]:
    """The curves of `recommend --format html`: every MPM as in the report's table (the config's
    own as configured, the others mapped), and the recommended settings when they change."""
    from capplan.models import map_settings
    from capplan.mpm_settings import EventSettings, PreforkSettings, WorkerSettings
    from capplan.sweep import curves_for

    config = report.config
    if config is not None:
        current = tuple((name, map_settings(config.settings, name)) for name, _ in report.mpms)
    else:
        defaults: dict[Mpm, MpmSettings] = {
            Mpm.prefork: PreforkSettings(),
            Mpm.worker: WorkerSettings(),
            Mpm.event: EventSettings(),
        }
        current = tuple((name, defaults[name]) for name, _ in report.mpms)
    path = config.path if config is not None else None
    curves = [curves_for("", report.profile, current, config_path=path)]
    rec = report.recommendation
    if rec is not None and rec.action == "change" and rec.mpm is not None and rec.settings:
        curves.append(
            curves_for("recommended", report.profile, ((rec.mpm, rec.settings),), config_path=path)
        )
    return tuple(curves)


def comparison_curves(comparison: Comparison) -> tuple[Curves, ...]:
    """The curves of `compare --format html`: one per column, its config's own MPM."""
    from capplan.sweep import curves_for

    return tuple(
        curves_for(
            f"{column.profile.name} {index + 1}",
            column.profile,
            ((column.config.mpm, column.config.settings),),
            config_path=column.config.path,
        )
        for index, column in enumerate(comparison.columns)
    )
