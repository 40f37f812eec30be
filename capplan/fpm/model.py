"""FPM model stage: (pool, profile's php section, httpd settings) → PHP-FPM's queueing metrics.

Input: a pool's sizing values (`FpmPool`), the profile (its `php:` section and traffic) and the
httpd MPM settings in front of it. Output: `FpmMetrics`: waits and P(wait) for a free child, the
FPM socket's accept-queue overflow, children and memory by `pm` style; plus the two couplings back
to httpd (the wait at FPM holds an httpd worker; FPM's memory comes out of the same RAM) and the
sizing of `pm.max_children` and the spares. Derivation: docs/models.md, "PHP-FPM".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from capplan.fpm.pool import FpmPool, PmStyle
from capplan.mpm_settings import MpmSettings, PreforkSettings
from capplan.profile import Php, TrafficProfile

# php-fpm's defaults for a pool capplan proposes from nothing: Debian's and RHEL's stock pools
# both use dynamic.
DEFAULT_PM: PmStyle = "dynamic"


@dataclass(frozen=True, slots=True)
class FpmMetrics:
    """PHP-FPM at one request rate. Times in seconds, memory in bytes; waits are `math.inf` and
    `stable` False when the PHP load reaches the children that can serve it."""

    pool: str | None
    pm: PmStyle
    max_children: int
    # Children that can serve at once: max_children, or fewer when httpd cannot open as many
    # FastCGI connections (its workers, or mod_proxy's max= per child).
    servers: int
    httpd_connections: int
    rate_per_s: float
    service_s: float
    scv: float
    offered_load_erlangs: float
    utilization: float
    stable: bool
    p_wait: float
    mean_wait_s: float
    wait_p99_s: float
    # P(wait for a child > targets.max_wait.time), None without that target.
    p_wait_exceeds: float | None
    accept_queue: int
    p_block: float
    children_typical: float
    memory_bytes: int
    memory_typical_bytes: int


def httpd_connections(settings: MpmSettings, proxy_max: int | None) -> int:
    """C_h = processes × min(threads per process, max=): the FastCGI connections httpd can have
    open at once. Each worker holds at most one; mod_proxy's per-child pool defaults to
    ThreadsPerChild (1 for prefork), so only a smaller `max=` lowers it."""
    per_child = 1 if isinstance(settings, PreforkSettings) else settings.threads_per_child
    if proxy_max is not None and proxy_max > 0:
        per_child = min(per_child, proxy_max)
    return max(1, settings.processes * per_child)


def php_load_erlangs(profile: TrafficProfile) -> float:
    """a = λ · share · S_php: mean busy FPM children (Erlangs) at the profile's rate."""
    php = _php(profile)
    return profile.traffic.requests_per_second * php.share * php.service_s(profile.traffic)


def _php(profile: TrafficProfile) -> Php:
    return profile.php if profile.php is not None else Php()


def typical_children(pool: FpmPool, busy: float) -> float:
    """Children php-fpm keeps at a mean of `busy` busy ones, by `pm` style (at most max_children).

    static: always max_children. dynamic: the busy ones plus idle ones between min and max
    spare (their midpoint). ondemand: the busy ones and those idle less than
    pm.process_idle_timeout, about the peak of a Poisson busy count over that window
    (mean + 3 standard deviations).
    """
    match pool.pm:
        case "static":
            return float(pool.max_children)
        case "dynamic":
            spares = (pool.min_spare_servers + pool.max_spare_servers) / 2.0
            return min(float(pool.max_children), max(float(pool.start_servers), busy + spares))
        case "ondemand":
            return min(float(pool.max_children), busy + 3.0 * math.sqrt(busy))


def evaluate_fpm(
    pool: FpmPool,
    profile: TrafficProfile,
    settings: MpmSettings,
    *,
    proxy_max: int | None = None,
) -> FpmMetrics:
    """PHP-FPM as an M/G/c station behind httpd at the profile's rate.

    c = pm.max_children, a = λ · share · S_php. When c ≥ C_h (httpd's FastCGI connections) no
    request ever waits at FPM. Otherwise P(wait) is Erlang C, the waits Allen-Cunneen with the SCV
    of the time in PHP. Waiting requests sit in the FPM socket's
    accept queue (min(listen.backlog, somaxconn) + 1); it can overflow only when httpd can
    have more connections waiting than it holds, C_h - c > Q: then M/M/c/K with the SCV-scaled
    queue gives P(block) (mod_proxy answers 503 for those).
    """
    from capplan.queueing.mmck import blocking_estimate
    from capplan.queueing.waiting import mgc

    php = _php(profile)
    traffic = profile.traffic
    service_s = php.service_s(traffic)
    scv = php.scv(traffic)
    rate = traffic.requests_per_second * php.share
    load = rate * service_s
    conns = httpd_connections(settings, proxy_max)
    servers = max(1, min(pool.max_children, conns))
    queue = pool.accept_queue_capacity(settings.common.somaxconn)
    max_wait = profile.targets.max_wait
    p_block = 0.0
    if pool.max_children >= conns:
        # httpd cannot have more PHP requests out than there are children: none ever waits at
        # FPM, the queue is httpd's own (its models carry it, with the time in PHP in S).
        p_wait = mean_wait = wait_p99 = 0.0
        exceeds: float | None = 0.0 if max_wait is not None else None
        stable = True
    else:
        station = mgc(servers, load, service_s, scv)
        p_wait, mean_wait, wait_p99 = station.p_wait, station.mean_wait_s, station.wait_p99_s
        exceeds = station.p_wait_exceeds(max_wait.time_s) if max_wait is not None else None
        stable = station.stable
        if conns - servers > queue and load > 0:
            p_block = blocking_estimate(servers, load, queue, scv).p_block_est
    busy = min(load, float(servers))
    children = typical_children(pool, busy)
    return FpmMetrics(
        pool=pool.name,
        pm=pool.pm,
        max_children=pool.max_children,
        servers=servers,
        httpd_connections=conns,
        rate_per_s=rate,
        service_s=service_s,
        scv=scv,
        offered_load_erlangs=load,
        utilization=min(1.0, load / servers),
        stable=stable,
        p_wait=p_wait,
        mean_wait_s=mean_wait,
        wait_p99_s=wait_p99,
        p_wait_exceeds=exceeds,
        accept_queue=queue,
        p_block=p_block,
        children_typical=children,
        memory_bytes=fpm_memory_bytes(php, pool.max_children),
        memory_typical_bytes=fpm_memory_bytes(php, children),
    )


def fpm_memory_bytes(php: Php, children: float) -> int:
    """M_fpm = shared + children × process (bytes): master and shared pages once, then each
    child's private memory. Worst case at max_children for every `pm` style (dynamic and
    ondemand reach it under a burst)."""
    return round(php.shared_bytes + children * php.process_bytes)


def httpd_view(profile: TrafficProfile, fpm: FpmMetrics) -> TrafficProfile:
    """The profile httpd's models see once PHP-FPM is behind it.

    The wait for a child holds the httpd worker (mod_proxy_fcgi is synchronous, under event too:
    the worker, not just the connection): each request's worker time grows by share × W_fpm, so
    S' = S + share·W and worker_share' = (S·ws + share·W)/S'. FPM's worst-case memory comes out
    of the same memory.ram: httpd must fit in ram − M_fpm / f, f = max_memory_fraction, so that
    httpd + FPM ≤ f · ram. An overloaded pool (W unbounded) ends up holding every FastCGI
    connection httpd can open: W is then taken as C_h / λ_php, which by Little's law puts C_h
    waiting workers on top of httpd's own load, so httpd's models see the saturation too.
    """
    php = _php(profile)
    traffic = profile.traffic
    if fpm.stable:
        extra_s = php.share * fpm.mean_wait_s
    else:
        extra_s = fpm.httpd_connections / traffic.requests_per_second
    if extra_s > 0.0:
        service = traffic.service_time_s + extra_s
        worker_share = (traffic.service_time_s * traffic.worker_share + extra_s) / service
        traffic = replace(traffic, service_time_s=service, worker_share=min(1.0, worker_share))
    memory = profile.memory
    if memory.ram_bytes is not None:
        fraction = profile.targets.max_memory_fraction or 1.0
        left = memory.ram_bytes - math.ceil(fpm.memory_bytes / fraction)
        memory = replace(memory, ram_bytes=max(1, left))
    return replace(profile, traffic=traffic, memory=memory)


def min_max_children(profile: TrafficProfile) -> int:
    """The smallest pm.max_children that meets the wait targets at the profile's rate:
    C(c, a) ≤ max_wait_probability and C·exp(−t(c − a)/w) ≤ max_wait.probability with
    w = (1 + SCV)/2 · S_php (Allen-Cunneen); at least ⌊a⌋ + 1 (stability) and 1."""
    from capplan.queueing.sizing import min_servers_erlang_c, min_servers_wait_tail

    php = _php(profile)
    load = php_load_erlangs(profile)
    needed = max(1, math.floor(load) + 1)
    targets = profile.targets
    if targets.max_wait_probability is not None and targets.max_wait_probability > 0:
        needed = max(needed, min_servers_erlang_c(load, targets.max_wait_probability))
    wait = targets.max_wait
    if wait is not None and wait.probability > 0:
        service = php.service_s(profile.traffic)
        needed = max(
            needed,
            min_servers_wait_tail(
                load, service, wait.time_s, wait.probability, php.scv(profile.traffic)
            ),
        )
    return needed


def sized_pool(current: FpmPool | None, max_children: int, load: float) -> FpmPool:
    """The pool with `max_children` and spares for a mean of `load` busy children.

    dynamic: pm.min_spare_servers = ⌈√a⌉ (one standard deviation of a Poisson busy count: the
    idle children that absorb an ordinary burst before the once-a-second maintenance spawns
    more), pm.max_spare_servers = 2·min + 1, pm.start_servers php-fpm's own default
    min + (max − min)/2; all within max_children. The pm style and everything else are kept.
    """
    from capplan.location import Location

    base = current or FpmPool(
        name="www",
        location=Location("(php-fpm defaults)", 0),
        pm=DEFAULT_PM,
        max_children=max_children,
        start_servers=0,
        min_spare_servers=0,
        max_spare_servers=0,
        max_requests=0,
        process_idle_timeout_s=10,
        listen="",
        listen_backlog=-1,
        request_terminate_timeout_s=0,
        status_path=None,
        memory_limit_bytes=None,
    )
    if base.pm != "dynamic":
        return replace(base, max_children=max_children)
    low = min(max_children, max(1, math.ceil(math.sqrt(load))))
    high = min(max_children, 2 * low + 1)
    return replace(
        base,
        max_children=max_children,
        min_spare_servers=low,
        max_spare_servers=high,
        start_servers=low + (high - low) // 2,
    )


def pool_directives(new: FpmPool, current: FpmPool | None) -> tuple[tuple[str, str], ...]:
    """The pool options to write (name, value), php-fpm's spelling, in its order: the ones that
    differ from `current` (all sizing ones when there is no current pool)."""
    values: list[tuple[str, str]] = [("pm", new.pm), ("pm.max_children", str(new.max_children))]
    if new.pm == "dynamic":
        values += [
            ("pm.start_servers", str(new.start_servers)),
            ("pm.min_spare_servers", str(new.min_spare_servers)),
            ("pm.max_spare_servers", str(new.max_spare_servers)),
        ]
    if new.listen_backlog != (current.listen_backlog if current is not None else -1):
        values.append(("listen.backlog", str(new.listen_backlog)))
    if current is None:
        return tuple(values)
    old = {
        "pm": current.pm,
        "pm.max_children": str(current.max_children),
        "pm.start_servers": str(current.start_servers),
        "pm.min_spare_servers": str(current.min_spare_servers),
        "pm.max_spare_servers": str(current.max_spare_servers),
    }
    return tuple((k, v) for k, v in values if old.get(k) != v)


def pool_snippet(pool_name: str, directives: tuple[tuple[str, str], ...]) -> str:
    """The lines to put in the pool's file, under its `[name]` section."""
    if not directives:
        return ""
    width = max(len(k) for k, _ in directives)
    lines = [f"[{pool_name}]"] + [f"{k.ljust(width)} = {v}" for k, v in directives]
    return "\n".join(lines) + "\n"
