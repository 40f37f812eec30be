"""Sweep stage: (settings per MPM, profile, axes to vary) → one assessed row per point.

Input: the base settings of each MPM (the config's own, the others mapped from it), a loaded
profile and the parsed `--vary` axes. Output: `Sweep`, frozen rows with every MPM's metrics and
target outcomes, and the first point where each target fails, per MPM. Pure: `capplan.pipeline`
reads the files, renderers lay the rows out.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from capplan.errors import CapplanError
from capplan.mpm_names import Mpm
from capplan.mpm_settings import MpmSettings, PreforkSettings
from capplan.recommend import MAX_SERVER_LIMIT, Assessment, assess, coherent_settings
from capplan.snippet import mpm_of

if TYPE_CHECKING:
    from capplan.models import Target
    from capplan.profile import TrafficProfile

# More points than this are refused: a sweep is read as a curve, and every point costs one
# model evaluation per MPM.
MAX_POINTS = 1000
# Steps used when `--vary NAME=FROM:TO` gives none.
DEFAULT_STEPS = 10

Unit = Literal["req/s", "workers", "s"]


@dataclass(frozen=True, slots=True)
class Parameter:
    """A quantity `--vary` may sweep: its canonical name, accepted spellings and unit."""

    name: str
    aliases: tuple[str, ...]
    unit: Unit
    integer: bool = False


PARAMETERS = (
    Parameter("rate", ("rate", "requests_per_second", "traffic.requests_per_second"), "req/s"),
    Parameter("MaxRequestWorkers", ("maxrequestworkers", "workers"), "workers", integer=True),
    Parameter("KeepAliveTimeout", ("keepalivetimeout",), "s"),
    Parameter("think_time", ("think_time", "visits.think_time"), "s"),
    Parameter("service_time", ("service_time", "traffic.service_time"), "s"),
)


@dataclass(frozen=True, slots=True)
class Axis:
    """One `--vary`: the parameter and the values taken, in order (units of the parameter)."""

    parameter: Parameter
    values: tuple[float, ...]
    text: str  # as the user wrote it, for messages

    @property
    def name(self) -> str:
        return self.parameter.name


@dataclass(frozen=True, slots=True)
class SweepRow:
    """One point: the value of each axis and every MPM's assessment there."""

    point: tuple[tuple[str, float], ...]
    rate_per_s: float
    mpms: tuple[tuple[Mpm, Assessment], ...]

    def value_of(self, name: str) -> float:
        return dict(self.point)[name]


@dataclass(frozen=True, slots=True)
class FirstFailure:
    """The first row (in sweep order) where `target` fails for `mpm`; `row` indexes `rows`."""

    mpm: Mpm
    target: Target
    row: int
    value: float
    limit: float
    # The first later row where it is met again (more workers, a shorter timeout), if any.
    met_again_row: int | None = None


@dataclass(frozen=True, slots=True)
class Sweep:
    """What `capplan sweep` prints: the axes, the rows and each target's first failure."""

    profile: TrafficProfile
    config_path: str | None
    axes: tuple[Axis, ...]
    rows: tuple[SweepRow, ...]
    failures: tuple[FirstFailure, ...]
    # The settings the points vary from (the config's, per MPM).
    settings: tuple[tuple[Mpm, MpmSettings], ...] = ()


# --- parsing `--vary` ----------------------------------------------------------------------------

_NUMBER = re.compile(r"^\s*((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*$")
_DURATION_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0}


def parameter_named(name: str) -> Parameter:
    """The parameter a `--vary` name denotes (case-insensitive)."""
    wanted = name.strip().lower()
    for parameter in PARAMETERS:
        if wanted in (alias.lower() for alias in parameter.aliases) or wanted == parameter.name:
            return parameter
    known = ", ".join(p.name for p in PARAMETERS)
    raise CapplanError(f"--vary {name}: unknown parameter (one of {known})")


def _bound(text: str, parameter: Parameter, spec: str) -> tuple[float, bool]:
    """One of FROM, TO, STEP: (value, is a multiple `2x` of the profile's)."""
    match = _NUMBER.match(text)
    if match is None:
        raise CapplanError(f"--vary {spec}: {text!r} is not a non-negative number")
    value, unit = float(match.group(1)), match.group(2).lower()
    if not math.isfinite(value):
        raise CapplanError(f"--vary {spec}: {text!r} is not finite")
    if unit == "x":
        return value, True
    if parameter.unit == "s" and unit in _DURATION_UNITS:
        return value * _DURATION_UNITS[unit], False
    if unit:
        allowed = "s, ms, us, min" if parameter.unit == "s" else "none"
        raise CapplanError(f"--vary {spec}: unknown unit {unit!r} in {text!r} (units: {allowed})")
    return value, False


def axis_values(start: float, stop: float, step: float) -> tuple[float, ...]:
    """FROM, FROM+STEP, … up to TO inclusive (a last point within 1e-9 · STEP of TO is TO).

    Each value is FROM + i·STEP (no accumulated rounding); STEP > 0, FROM <= TO.
    """
    count = math.floor((stop - start) / step + 1e-9) + 1
    values = [start + i * step for i in range(count)]
    return tuple(min(v, stop) for v in values)


def parse_vary(spec: str, profile: TrafficProfile, base: float) -> Axis:
    """`NAME=FROM:TO[:STEP]` → an Axis. `base`: the parameter's value in the profile/config, the
    unit of `2x` multiples. Without STEP, DEFAULT_STEPS steps. Refuses more than MAX_POINTS."""
    name, sep, ranges = spec.partition("=")
    if not sep:
        raise CapplanError(f"--vary {spec}: expected NAME=FROM:TO[:STEP]")
    parameter = parameter_named(name)
    parts = ranges.split(":")
    if len(parts) not in (2, 3):
        raise CapplanError(f"--vary {spec}: expected NAME=FROM:TO[:STEP]")
    bounds = [_bound(part, parameter, spec) for part in parts]
    if any(multiple for _, multiple in bounds):
        if not all(multiple for _, multiple in bounds):
            raise CapplanError(f"--vary {spec}: write all or none of FROM, TO, STEP as multiples")
        if base <= 0 or not math.isfinite(base):
            raise CapplanError(f"--vary {spec}: no base value to multiply ({base:g})")
        bounds = [(value * base, False) for value, _ in bounds]
    start, stop = bounds[0][0], bounds[1][0]
    if stop < start:
        raise CapplanError(f"--vary {spec}: TO must not be below FROM")
    step = bounds[2][0] if len(bounds) == 3 else (stop - start) / DEFAULT_STEPS
    if len(bounds) == 3 and step <= 0:
        raise CapplanError(f"--vary {spec}: STEP must be larger than 0")
    if stop == start:
        values: tuple[float, ...] = (start,)
    else:
        if (stop - start) / step >= MAX_POINTS:
            raise CapplanError(f"--vary {spec}: more than {MAX_POINTS} points; use a larger STEP")
        values = axis_values(start, stop, step)
    if parameter.integer:
        values = tuple(dict.fromkeys(max(1, round(v)) for v in values))
    if parameter.name == "rate" and values[0] <= 0:
        values = tuple(v for v in values if v > 0)
        if not values:
            raise CapplanError(f"--vary {spec}: a rate must be larger than 0")
    return Axis(parameter, tuple(float(v) for v in values), spec)


def base_value(parameter: Parameter, profile: TrafficProfile, settings: MpmSettings) -> float:
    """The parameter's own value: the profile's (rate, times) or the config's (workers, timeout)."""
    match parameter.name:
        case "rate":
            return profile.traffic.requests_per_second
        case "MaxRequestWorkers":
            return float(settings.workers)
        case "KeepAliveTimeout":
            return settings.common.keep_alive_timeout_s
        case "think_time":
            return profile.visits.think_time_s
        case _:
            return profile.traffic.service_time_s


# --- one point -----------------------------------------------------------------------------------


def profile_at(profile: TrafficProfile, point: Sequence[tuple[str, float]]) -> TrafficProfile:
    """The profile with the rate, think time and service time of this point."""
    values = dict(point)
    traffic, visits = profile.traffic, profile.visits
    if "rate" in values:
        traffic = replace(traffic, requests_per_second=values["rate"])
    if "service_time" in values:
        traffic = replace(
            traffic,
            service_time_s=values["service_time"],
            service_time_p50_s=None,
            service_time_p95_s=None,
        )
    if "think_time" in values:
        visits = replace(visits, think_time_s=values["think_time"])
    return replace(profile, traffic=traffic, visits=visits)


def settings_at(
    base: MpmSettings,
    point: Sequence[tuple[str, float]],
    profile: TrafficProfile,
    busy_cache: dict[tuple[object, ...], float] | None = None,
) -> MpmSettings:
    """The settings of this point: KeepAliveTimeout replaced; for MaxRequestWorkers, the whole
    directive set rebuilt coherently around the new count (`coherent_settings`), with the base's
    ThreadsPerChild and, for event, its AsyncRequestWorkerFactor. The spare workers follow the
    mean busy workers of the base settings at this point's traffic; `busy_cache` keeps that
    figure across the points that differ only in MaxRequestWorkers."""
    values = dict(point)
    settings = base
    common = base.common
    if "KeepAliveTimeout" in values:
        common = replace(common, keep_alive_timeout_s=values["KeepAliveTimeout"])
        settings = replace(settings, common=common)
    if "MaxRequestWorkers" in values:
        workers = max(1, round(values["MaxRequestWorkers"]))
        tpc = 1 if isinstance(base, PreforkSettings) else base.threads_per_child
        factor = getattr(base, "async_request_worker_factor", 2)
        key = (id(base), *(item for item in point if item[0] != "MaxRequestWorkers"))
        cache = {} if busy_cache is None else busy_cache
        if key not in cache:
            from capplan.models import evaluate

            cache[key] = evaluate(settings, profile).busy_workers_mean
        settings = coherent_settings(
            mpm_of(base),
            processes=math.ceil(workers / tpc),
            threads_per_child=tpc,
            busy_workers_mean=cache[key],
            common=common,
            async_request_worker_factor=max(1, round(factor)),
        )
    return settings


def sweep_points(axes: Sequence[Axis]) -> list[tuple[tuple[str, float], ...]]:
    """Every combination of the axes' values, the first axis outermost. Refuses > MAX_POINTS."""
    names = [axis.name for axis in axes]
    if len(set(names)) != len(names):
        raise CapplanError("--vary: each parameter may be varied once")
    total = math.prod(len(axis.values) for axis in axes)
    if total > MAX_POINTS:
        raise CapplanError(
            f"--vary: {total} points ({' × '.join(str(len(a.values)) for a in axes)}); "
            f"at most {MAX_POINTS}"
        )
    return [
        tuple(zip(names, combo, strict=True))
        for combo in itertools.product(*(a.values for a in axes))
    ]


def first_failures(rows: Sequence[SweepRow]) -> tuple[FirstFailure, ...]:
    """For each MPM and target: the first row where it is missed (targets in the profile's
    order), and the first later row where it is met again; a target met on every row has none."""
    found: dict[tuple[Mpm, Target], FirstFailure] = {}
    for index, row in enumerate(rows):
        for mpm, assessment in row.mpms:
            for target in assessment.targets:
                key = (mpm, target.target)
                if not target.met and key not in found:
                    found[key] = FirstFailure(mpm, target.target, index, target.value, target.limit)
    for key, failure in found.items():
        for index in range(failure.row + 1, len(rows)):
            assessment = dict(rows[index].mpms)[key[0]]
            if all(t.met for t in assessment.targets if t.target is key[1]):
                found[key] = replace(failure, met_again_row=index)
                break
    order = {mpm: i for i, (mpm, _) in enumerate(rows[0].mpms)} if rows else {}
    return tuple(sorted(found.values(), key=lambda f: (order[f.mpm], f.row)))


def _most_workers(mpm: Mpm, base: MpmSettings) -> int:
    """The most workers httpd runs with the base's ThreadsPerChild (ServerLimit's maximum)."""
    tpc = 1 if isinstance(base, PreforkSettings) else base.threads_per_child
    return MAX_SERVER_LIMIT[mpm] * tpc


def check_workers_axis(settings: Sequence[tuple[Mpm, MpmSettings]], axes: Sequence[Axis]) -> None:
    """Refuse a MaxRequestWorkers httpd cannot be configured with: above ServerLimit's
    compile-time maximum (`MAX_SERVER_LIMIT`) times the ThreadsPerChild kept."""
    for axis in axes:
        if axis.name != "MaxRequestWorkers":
            continue
        for mpm, base in settings:
            most = _most_workers(mpm, base)
            tpc = 1 if isinstance(base, PreforkSettings) else base.threads_per_child
            if max(axis.values) > most:
                raise CapplanError(
                    f"--vary {axis.text}: {max(axis.values):.0f} is more than httpd's {mpm} can "
                    f"run ({most} = ServerLimit {MAX_SERVER_LIMIT[mpm]} × {tpc}); use --mpm or "
                    "a smaller TO"
                )


def build_sweep(
    profile: TrafficProfile,
    settings: Sequence[tuple[Mpm, MpmSettings]],
    axes: Sequence[Axis],
    *,
    config_path: str | None = None,
) -> Sweep:
    """Assess every MPM's settings at every point of the axes."""
    check_workers_axis(settings, axes)
    rows = []
    busy: dict[tuple[object, ...], float] = {}
    for point in sweep_points(axes):
        at = profile_at(profile, point)
        mpms = tuple(
            (mpm, assess(settings_at(base, point, at, busy), at)) for mpm, base in settings
        )
        rows.append(SweepRow(point, at.traffic.requests_per_second, mpms))
    return Sweep(
        profile, config_path, tuple(axes), tuple(rows), first_failures(rows), tuple(settings)
    )


# --- curves for the HTML reports -----------------------------------------------------------------

# The rate curves of `recommend` and `compare` reports: multiples of the profile's rate.
CURVE_RATE_MULTIPLES = (0.1, 3.0, 0.1)
# Points of the memory-against-workers curve.
CURVE_WORKER_POINTS = 20


@dataclass(frozen=True, slots=True)
class Curves:
    """One set of settings (per MPM) swept over the rate and over MaxRequestWorkers."""

    label: str
    rate: Sweep
    workers: Sweep


def rate_axis(base_rate_per_s: float, multiples: tuple[float, float, float]) -> Axis:
    """The rate at `FROM×`…`TO×` the base rate, in steps of `STEP×`."""
    start, stop, step = (m * base_rate_per_s for m in multiples)
    text = "rate={}x:{}x:{}x".format(*multiples)
    return Axis(parameter_named("rate"), axis_values(start, stop, step), text)


def workers_axis(most: int, points: int = CURVE_WORKER_POINTS) -> Axis:
    """MaxRequestWorkers from `most / points` to `most` (whole, distinct, at least 1)."""
    most = max(1, most)
    values = dict.fromkeys(max(1, round(most * (i + 1) / points)) for i in range(points))
    return Axis(parameter_named("MaxRequestWorkers"), tuple(float(v) for v in values), "")


def curves_for(
    label: str,
    profile: TrafficProfile,
    settings: Sequence[tuple[Mpm, MpmSettings]],
    *,
    config_path: str | None = None,
) -> Curves:
    """The rate curve (0.1× to 3× the profile's rate) and the memory curve: MaxRequestWorkers up
    to 1.5 × the most that fit in memory.ram (else 2 × the largest configured count)."""
    rate = build_sweep(
        profile,
        settings,
        [rate_axis(profile.traffic.requests_per_second, CURVE_RATE_MULTIPLES)],
        config_path=config_path,
    )
    at_profile = [assess(s, profile).metrics for _, s in settings]
    fitting = [m.memory.max_workers for m in at_profile if m.memory.max_workers is not None]
    most = max(s.workers for _, s in settings)
    top = math.ceil(1.5 * max(fitting)) if fitting else 2 * most
    top = min(max(top, most), *(_most_workers(mpm, s) for mpm, s in settings))
    workers = build_sweep(profile, settings, [workers_axis(top)], config_path=config_path)
    return Curves(label, rate, workers)
