"""`capplan fit`: the largest MaxRequestWorkers per MPM whose worst-case memory fits in RAM.

Stage: a pipeline beside `recommend`, needing no traffic profile. Input: the effective config (its
MPM's ThreadsPerChild, AsyncRequestWorkerFactor and keep-alive settings shape the candidates), the
RAM and the memory reserved for the rest of the box, and the memory per process and thread, each
figure from the running server (`--measure`), the profile's `memory:`, or the defaults, in that
order. Output: `FitReport`, per MPM the largest coherent directive set (one that httpd applies
without adjustment) whose worst case fits, the next size up that does not, where every figure came
from, and, with a profile, the request rate that maximum sustains.

The worst case is the memory model's (`capplan.models.memory`), called, not re-derived: the search
only asks it for the footprint of each candidate size.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Literal, assert_never

from capplan.effective import (
    EVENT_MAX_THREAD_LIMIT,
    PREFORK_MAX_SERVER_LIMIT,
    THREADED_MAX_SERVER_LIMIT,
    WORKER_MAX_THREAD_LIMIT,
)
from capplan.errors import CapplanError
from capplan.models.memory import available_bytes, prefork_memory, threaded_memory
from capplan.models.types import MemoryFootprint
from capplan.mpm_names import Mpm
from capplan.mpm_settings import (
    HTTPD_DEFAULTS_PATH,
    MPM_NAMES,
    EffectiveConfig,
    EventSettings,
    MpmSettings,
    PreforkSettings,
    WorkerSettings,
)
from capplan.profile import Memory, Targets, Traffic, TrafficProfile
from capplan.queueing.search import largest_passing

if TYPE_CHECKING:
    from capplan.measure.others import OtherProcesses

Source = Literal["measured", "profile", "default", "flag", "machine", "none"]

# The profile's memory keys, in the order the report lists them.
MEMORY_KEYS = (
    "parent",
    "shared",
    "prefork_process",
    "threaded_process",
    "thread",
    "connection",
    "process_spread",
)
DEFAULT_THREADS_PER_CHILD = WorkerSettings().threads_per_child
DEFAULT_WORKER_FACTOR = int(EventSettings().async_request_worker_factor)
# Modules that are not thread-safe (mod_php): with one loaded only prefork can run the server.
# The same list as capplan.advice's, which sits a layer above this module.
THREAD_UNSAFE_MODULES = ("php_module", "php5_module", "php7_module", "php8_module")


@dataclass(frozen=True, slots=True)
class Figure:
    """One input figure in bytes (or a fraction) and where it came from."""

    value: float
    source: Source
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Reserve:
    """Memory the rest of the box keeps: given with --reserve, measured, or none."""

    bytes: int
    source: Source
    others: OtherProcesses | None = None


@dataclass(frozen=True, slots=True)
class Sustains:
    """What a fitted size carries under the profile: its largest rate meeting every queueing
    target, and whether the profile's own rate meets them (with its P(wait))."""

    max_rate_per_s: float
    profile_rate_per_s: float
    meets_targets: bool
    p_wait: float


@dataclass(frozen=True, slots=True)
class MpmFit:
    """The largest size of one MPM that fits, and the next size up, which does not.

    `fit` is None when not even one process fits. `next_up` is None when `fit` is already httpd's
    compile-time ceiling (`limited_by` "ServerLimit"), else the next coherent size (one process
    more) with its worst case above the memory available.
    """

    mpm: Mpm
    threads_per_child: int
    fit: MpmSettings | None
    fit_memory: MemoryFootprint | None
    next_up: MpmSettings | None
    next_memory: MemoryFootprint | None
    limited_by: Literal["memory", "ServerLimit"]
    sustains: Sustains | None = None

    @property
    def max_request_workers(self) -> int:
        return self.fit.workers if self.fit is not None else 0


@dataclass(frozen=True, slots=True)
class FitReport:
    config: EffectiveConfig
    ram: Figure
    reserve: Reserve
    memory_fraction: Figure
    available_bytes: int
    memory: tuple[tuple[str, Figure], ...]  # MEMORY_KEYS → figure
    fits: tuple[MpmFit, ...]
    profile: TrafficProfile | None
    notes: tuple[str, ...]

    @property
    def sources(self) -> dict[str, str]:
        """Where each input came from: `measured`, `profile`, `default`, `flag` or `machine`."""
        out: dict[str, str] = {"memory.ram": self.ram.source, "reserve": self.reserve.source}
        out["targets.max_memory_fraction"] = self.memory_fraction.source
        out.update({f"memory.{key}": figure.source for key, figure in self.memory})
        return out


# --- inputs ---------------------------------------------------------------------------------------


def memory_figures(
    profile: TrafficProfile | None, measured: dict[str, int]
) -> tuple[tuple[str, Figure], ...]:
    """Each memory figure from the measurement, else the profile's own key, else the default."""
    defaults = Memory()
    out: list[tuple[str, Figure]] = []
    for key in MEMORY_KEYS:
        attr = f"{key}_bytes"
        if key in measured:
            figure = Figure(measured[key], "measured", "the running httpd")
        elif profile is not None and profile.location_of(f"memory.{key}") is not None:
            figure = Figure(getattr(profile.memory, attr), "profile", f"profile {profile.name}")
        else:
            figure = Figure(getattr(defaults, attr), "default", "not measured, not in a profile")
        out.append((key, figure))
    return tuple(out)


def ram_figure(
    ram_flag: int | None,
    profile: TrafficProfile | None,
    measured_ram: int | None,
    machine_ram: tuple[int, str] | None,
) -> Figure:
    """--ram, else the profile's memory.ram, else the measured server's, else this machine's."""
    if ram_flag is not None:
        return Figure(ram_flag, "flag", "--ram")
    if (
        profile is not None
        and profile.memory.ram_bytes is not None
        and profile.location_of("memory.ram") is not None
    ):
        return Figure(profile.memory.ram_bytes, "profile", f"profile {profile.name}")
    if measured_ram is not None:
        return Figure(measured_ram, "measured", "the running httpd's cgroup limit or MemTotal")
    if machine_ram is not None:
        return Figure(machine_ram[0], "machine", machine_ram[1])
    raise CapplanError("the machine's memory is unknown (no /proc/meminfo): give --ram SIZE")


def fraction_figure(profile: TrafficProfile | None) -> Figure:
    """targets.max_memory_fraction: the profile's (or off), else the format's default."""
    default = Targets().max_memory_fraction
    assert default is not None
    if profile is not None and profile.location_of("targets.max_memory_fraction") is not None:
        value = profile.targets.max_memory_fraction
        return Figure(1.0 if value is None else value, "profile", f"profile {profile.name}")
    return Figure(default, "default", "targets.max_memory_fraction")


# --- the search -----------------------------------------------------------------------------------


def _model_profile(
    profile: TrafficProfile | None, memory: Memory, fraction: float
) -> TrafficProfile:
    """The profile the memory model reads: the user's (or a neutral one) with these figures.

    The memory model reads only `memory` and `targets.max_memory_fraction`; without a user profile
    the traffic part is a placeholder that nothing here evaluates.
    """
    base = profile or TrafficProfile(
        name="(no profile)", traffic=Traffic(requests_per_second=1.0, service_time_s=1.0)
    )
    return replace(base, memory=memory, targets=replace(base.targets, max_memory_fraction=fraction))


def footprint(settings: MpmSettings, profile: TrafficProfile) -> MemoryFootprint:
    """The memory model's footprint at these settings, with every connection slot open (event).

    Without traffic there is no p99 of open connections; the worst case is every slot the
    processes can hold (workers × (1 + AsyncRequestWorkerFactor)).
    """
    match settings:
        case PreforkSettings():
            return prefork_memory(settings, profile, 0.0)
        case WorkerSettings():
            return threaded_memory(settings, profile, 0.0)
        case EventSettings():
            slots = settings.workers * (1 + settings.worker_factor)
            return threaded_memory(settings, profile, 0.0, slots)
        case _:
            assert_never(settings)


def process_ceiling(mpm: Mpm) -> int:
    """The most active processes a coherent set may have: httpd's compile-time ServerLimit cap
    (prefork 200000, worker and event 20000), less event's restart room, as `recommend` sizes."""
    from capplan.recommend import restart_room

    match mpm:
        case Mpm.prefork:
            cap = PREFORK_MAX_SERVER_LIMIT
        case Mpm.worker | Mpm.event:
            cap = THREADED_MAX_SERVER_LIMIT
        case _:
            assert_never(mpm)
    return cap - restart_room(mpm, cap // 2)


def thread_ceiling(mpm: Mpm) -> int:
    """The largest ThreadsPerChild httpd accepts (ThreadLimit's compile-time cap)."""
    match mpm:
        case Mpm.prefork:
            return 1
        case Mpm.worker:
            return WORKER_MAX_THREAD_LIMIT
        case Mpm.event:
            return EVENT_MAX_THREAD_LIMIT
        case _:
            assert_never(mpm)


def largest_fitting(fits: Callable[[int], bool], ceiling: int) -> int:
    """The largest n in [1, ceiling] with fits(n), for fits monotone (true, then false); 0 if none
    (`capplan.queueing.search.largest_passing`: O(log n) calls to `fits`)."""
    found = largest_passing(fits, 1, ceiling)
    return 0 if found is None else found


def fit_mpm(
    mpm: Mpm,
    *,
    threads_per_child: int,
    worker_factor: int,
    config: EffectiveConfig,
    model_profile: TrafficProfile,
    make_settings: Callable[..., MpmSettings],
) -> MpmFit:
    """The largest coherent size of `mpm` whose worst-case memory is within the available memory."""
    avail = available_bytes(model_profile)
    assert avail is not None
    tpc = 1 if mpm is Mpm.prefork else max(1, min(threads_per_child, thread_ceiling(mpm)))

    def settings_at(processes: int) -> MpmSettings:
        return make_settings(
            mpm,
            processes=processes,
            threads_per_child=tpc,
            busy_workers_mean=0.0,
            common=config.settings.common,
            async_request_worker_factor=worker_factor,
        )

    def fits(processes: int) -> bool:
        return footprint(settings_at(processes), model_profile).worst_bytes <= avail

    ceiling = process_ceiling(mpm)
    processes = largest_fitting(fits, ceiling)
    fitted = settings_at(processes) if processes >= 1 else None
    at_ceiling = processes == ceiling
    following = None if at_ceiling else settings_at(processes + 1)
    return MpmFit(
        mpm=mpm,
        threads_per_child=tpc,
        fit=fitted,
        fit_memory=footprint(fitted, model_profile) if fitted is not None else None,
        next_up=following,
        next_memory=footprint(following, model_profile) if following is not None else None,
        limited_by="ServerLimit" if at_ceiling else "memory",
    )


def _shape(config: EffectiveConfig) -> tuple[int, int]:
    """ThreadsPerChild and AsyncRequestWorkerFactor for the threaded candidates: the config's own
    when it runs worker or event, else httpd's defaults."""
    settings = config.settings
    match settings:
        case PreforkSettings():
            return DEFAULT_THREADS_PER_CHILD, DEFAULT_WORKER_FACTOR
        case WorkerSettings():
            return settings.threads_per_child, DEFAULT_WORKER_FACTOR
        case EventSettings():
            return settings.threads_per_child, settings.worker_factor
        case _:
            assert_never(settings)


def mpms_for(config: EffectiveConfig) -> tuple[tuple[Mpm, ...], tuple[str, ...]]:
    """All three MPMs, or only prefork when a module that is not thread-safe is loaded."""
    unsafe = [m for m in config.modules if m in THREAD_UNSAFE_MODULES]
    if unsafe:
        note = f"{unsafe[0]} is loaded and is not thread-safe: only prefork can run it"
        return (Mpm.prefork,), (note,)
    return MPM_NAMES, ()


def sustains(settings: MpmSettings, profile: TrafficProfile) -> Sustains:
    """The profile's view of a fitted size (the recommendation's own assessment)."""
    from capplan.recommend import assess, sustainable_rate_per_s

    assessment = assess(settings, profile)
    queue_targets = [t for t in assessment.targets if not t.target.is_memory]
    return Sustains(
        max_rate_per_s=sustainable_rate_per_s(assessment, profile),
        profile_rate_per_s=profile.traffic.requests_per_second,
        meets_targets=all(t.met for t in queue_targets),
        p_wait=assessment.metrics.p_wait,
    )


def build_fit(
    config: EffectiveConfig,
    *,
    ram: Figure,
    reserve: Reserve,
    profile: TrafficProfile | None,
    measured_memory: dict[str, int],
    notes: Sequence[str] = (),
) -> FitReport:
    """Size every MPM for the memory left after the reserve; CapplanError when none is left."""
    from capplan.recommend import coherent_common, coherent_settings

    if reserve.bytes >= ram.value:
        raise CapplanError(
            f"the reserve ({reserve.bytes} bytes) is not less than the RAM ({int(ram.value)} "
            "bytes): nothing is left for httpd"
        )
    figures = memory_figures(profile, measured_memory)
    memory = Memory(
        ram_bytes=int(ram.value) - reserve.bytes,
        **{f"{key}_bytes": int(figure.value) for key, figure in figures},
    )
    fraction = fraction_figure(profile)
    model_profile = _model_profile(profile, memory, fraction.value)
    avail = available_bytes(model_profile)
    assert avail is not None
    config_for_fit = replace(
        config, settings=replace(config.settings, common=coherent_common(config.settings.common))
    )
    tpc, factor = _shape(config)
    mpms, mpm_notes = mpms_for(config)
    fits = []
    for mpm in mpms:
        fitted = fit_mpm(
            mpm,
            threads_per_child=tpc,
            worker_factor=factor,
            config=config_for_fit,
            model_profile=model_profile,
            make_settings=coherent_settings,
        )
        if profile is not None and fitted.fit is not None:
            fitted = replace(fitted, sustains=sustains(fitted.fit, model_profile))
        fits.append(fitted)
    return FitReport(
        config=config,
        ram=ram,
        reserve=reserve,
        memory_fraction=fraction,
        available_bytes=avail,
        memory=figures,
        fits=tuple(fits),
        profile=profile,
        notes=(*notes, *mpm_notes, *config.notes),
    )


def directives(settings: MpmSettings) -> dict[str, int | float]:
    """The MPM block of a fitted size, in httpd's directive names."""
    names = {
        "server_limit": "ServerLimit",
        "thread_limit": "ThreadLimit",
        "threads_per_child": "ThreadsPerChild",
        "max_request_workers": "MaxRequestWorkers",
        "start_servers": "StartServers",
        "min_spare_servers": "MinSpareServers",
        "max_spare_servers": "MaxSpareServers",
        "min_spare_threads": "MinSpareThreads",
        "max_spare_threads": "MaxSpareThreads",
        "async_request_worker_factor": "AsyncRequestWorkerFactor",
    }
    out: dict[str, int | float] = {}
    for field in fields(settings):
        if field.name in names:
            value = getattr(settings, field.name)
            out[names[field.name]] = int(value) if float(value).is_integer() else value
    return out


def machine_ram(total: int | None, cgroup_limit: int | None) -> tuple[int, str] | None:
    """This machine's memory: MemTotal, or capplan's cgroup limit when that is lower."""
    if total is None:
        return None if cgroup_limit is None else (cgroup_limit, "cgroup memory limit")
    if cgroup_limit is not None and cgroup_limit < total:
        return cgroup_limit, "cgroup memory limit (below MemTotal)"
    return total, "MemTotal"


# --- the pipeline: paths and flags in, a report out ----------------------------------------------


def fit_report(
    config_path: str | None,
    *,
    profile_path: str | None = None,
    ram_bytes: int | None = None,
    reserve_bytes: int | None = None,
    reserve_measured: bool = False,
    measure: bool = False,
    defines: dict[str, str] | None = None,
    somaxconn: int | None = None,
) -> FitReport:
    """`capplan fit`: read the config (or the system's, or httpd's defaults), the profile, the
    running server and /proc as asked, then size every MPM for the memory left."""
    from capplan.machine import load_effective_config
    from capplan.profile import load_profile

    if reserve_bytes is not None and reserve_measured:
        raise CapplanError("give --reserve SIZE or --reserve-measured, not both")
    config = load_effective_config(
        config_path, defines=defines, somaxconn=somaxconn, defaults_if_missing=True
    )
    profile = load_profile(profile_path) if profile_path is not None else None
    measured: dict[str, int] = {}
    httpd_pids: tuple[int, ...] = ()
    if measure:
        from capplan.measure import measure_memory, measurement_to_profile_memory

        running = measure_memory(config=None if config.path == HTTPD_DEFAULTS_PATH else config.path)
        measured = measurement_to_profile_memory(running)
        httpd_pids = (running.parent_pid,) if running.parent_pid is not None else ()
    measured_ram = measured.pop("ram", None)
    machine = None
    profile_ram = profile is not None and profile.location_of("memory.ram") is not None
    if ram_bytes is None and not profile_ram and measured_ram is None:
        # /proc is read only when it is the answer (the measure package is not imported otherwise).
        from capplan.measure.cgroup import memory_limit
        from capplan.measure.procfs import ProcFS, read_mem_total_bytes

        fs = ProcFS()
        machine = machine_ram(read_mem_total_bytes(fs), memory_limit(fs, os.getpid()).limit_bytes)
    ram = ram_figure(ram_bytes, profile, measured_ram, machine)
    if reserve_measured:
        from capplan.measure.others import measure_other_processes
        from capplan.measure.procfs import ProcFS

        others = measure_other_processes(ProcFS(), exclude_pids=httpd_pids)
        reserve = Reserve(others.total_bytes, "measured", others)
    elif reserve_bytes is not None:
        reserve = Reserve(reserve_bytes, "flag")
    else:
        reserve = Reserve(0, "none")
    return build_fit(config, ram=ram, reserve=reserve, profile=profile, measured_memory=measured)
