"""Derive stage: a merged `ScanResult` → `LogProfile` estimates → profile YAML (format 1).

Input: the scan's counts and sketches, the chosen peak statistic, and what the httpd config says
about keep-alive (KeepAliveTimeout T, MaxKeepAliveRequests K) when it is known. Output: frozen
estimates with their provenance, and the profile text whose comments say where each number came
from and how many lines support it.

Estimators (model.md §0, §2, §10.2):
- request rate: lines / span; windowed rates from the window histogram (`--window`);
- service time S, SCV and quantiles: from `%D` / `%{us}T` / `%{ms}T` / `%T`;
- E[R] = requests / #(%k == 0); λ_conn = #(%k == 0) / span;
- think time Z: mean gap between a client's response end and its next request start, within
  visits (a gap longer than `--visit-gap` ends the visit);
- idle hold q: share of visits whose last request left the connection open (`%X` `+`);
- requests per visit m: the geometric mean that reproduces the observed E[R] under model.md §2.2
  given T, K and Z (when T is known), else E[R] itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from capplan.errors import CapplanError
from capplan.logs.parse import ScanPlan
from capplan.logs.scan import ScanResult
from capplan.logs.stats import count_quantile

_MIN_THINK_S = 0.001
_MIN_SERVICE_S = 1e-6
_MAX_SCV = 1e4  # the profile format's upper bound for service_time_scv
PEAK_CHOICES = ("mean", "p50", "p90", "p95", "p99", "max")
_QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True, slots=True)
class KeepAliveConfig:
    """What the httpd config says about keep-alive (None: not known, no config given)."""

    timeout_s: float
    max_requests: int  # MaxKeepAliveRequests (0 = unlimited)
    enabled: bool = True
    origin: str = ""  # e.g. "httpd.conf:12"


@dataclass(frozen=True, slots=True)
class RateEstimate:
    mean_per_s: float
    chosen_per_s: float
    peak: str  # which statistic `chosen_per_s` is
    window_s: float
    windows: int
    quantiles_per_s: tuple[tuple[str, float], ...]  # ("p50", x), ..., ("max", x)


@dataclass(frozen=True, slots=True)
class ServiceEstimate:
    source: str  # "%D", "%{us}T", ...
    count: int
    mean_s: float
    scv: float
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float


@dataclass(frozen=True, slots=True)
class VisitEstimate:
    requests_per_connection: float | None  # E[R] from %k
    connections: int
    connections_per_s: float | None
    requests_per_visit: float | None  # fitted m
    requests_per_visit_method: str
    requests_per_visit_direct: float | None  # requests / visits seen in the client table
    visits: int
    think_time_s: float | None
    think_gaps: int
    think_p50_s: float
    think_p95_s: float
    idle_hold_probability: float | None
    visit_ends: int  # visits whose last request has a %X of + or -
    censored: int
    evicted: int


@dataclass(frozen=True, slots=True)
class LogProfile:
    """Everything `capplan profile` derived, with the counts behind each number."""

    name: str
    sources: tuple[str, ...]
    log_format: str
    lines: int
    used: int
    skipped: int
    first_s: float
    last_s: float
    span_s: float
    rate: RateEstimate
    service: ServiceEstimate
    visits: VisitEstimate
    connection_status: tuple[tuple[str, int], ...]  # %X: "X" aborted, "+" kept, "-" closed
    status_classes: tuple[tuple[str, int], ...]  # ("2xx", n), ...
    hours: tuple[int, ...]
    keepalive: KeepAliveConfig | None
    warnings: tuple[str, ...]


def _rate(result: ScanResult, peak: str, span_s: float) -> RateEstimate:
    hist = dict(result.window_counts)
    w = result.plan.window_s
    windows = sum(hist.values())
    quantiles = (
        *((label, count_quantile(hist, q) / w) for label, q in _QUANTILES.items()),
        ("max", max(hist, default=0) / w),
    )
    mean = result.parsed / span_s
    chosen = mean if peak == "mean" else dict(quantiles)[peak]
    return RateEstimate(mean, chosen, peak, w, windows, quantiles)


def time_resolution_s(plan: ScanPlan) -> float:
    """The tick of the log's request start times: 1 s for `%t`-like stamps, else finer."""
    if plan.frac_group is not None:
        return plan.frac_scale_s
    return {"usec": 1e-6, "msec": 1e-3}.get(plan.time_form, 1.0)


def fit_requests_per_visit(
    requests_per_connection: float, think_s: float, keepalive: KeepAliveConfig
) -> tuple[float, bool]:
    """m such that geometric visits give the observed E[R] (model.md §2.2); (m, clamped).

    E[R] = (1 - alpha^k)/(1 - alpha), alpha = r p, r = 1 - 1/m, p = 1 - exp(-T/Z), k = K + 1
    (k = inf for K = 0). E[R] grows with alpha, so alpha is found by bisection on [0, 1), then
    r = alpha / p. When even r -> 1 cannot reach the observed E[R] (the log's connections are
    longer than T and Z allow), m is clamped at 1000 and `clamped` is True.
    """
    m_max = 1000.0
    if not keepalive.enabled or keepalive.timeout_s <= 0 or requests_per_connection <= 1.0:
        return max(1.0, requests_per_connection), False
    k = math.inf if keepalive.max_requests == 0 else keepalive.max_requests + 1
    p = -math.expm1(-keepalive.timeout_s / think_s) if think_s > 0 else 1.0

    def e_r(alpha: float) -> float:
        if math.isinf(k):
            return 1.0 / (1.0 - alpha)
        return -math.expm1(k * math.log(alpha)) / (1.0 - alpha) if alpha > 0 else 1.0

    if requests_per_connection >= (k if not math.isinf(k) else math.inf):
        return m_max, True
    lo, hi = 0.0, 1.0 - 1e-12
    for _ in range(200):
        mid = (lo + hi) / 2
        if e_r(mid) < requests_per_connection:
            lo = mid
        else:
            hi = mid
    r = ((lo + hi) / 2) / p
    if r >= 1.0 - 1.0 / m_max:
        return m_max, True
    return 1.0 / (1.0 - r), False


def derive_profile(
    result: ScanResult,
    *,
    name: str,
    peak: str = "p99",
    keepalive: KeepAliveConfig | None = None,
    service_time_s: float | None = None,
) -> LogProfile:
    """Turn merged scan statistics into estimates (pure; no I/O).

    `service_time_s` stands in when the log has no duration field; without either, raise
    CapplanError (a profile needs a service time).
    """
    if peak not in PEAK_CHOICES:
        raise ValueError(f"peak must be one of {PEAK_CHOICES}, got {peak!r}")
    warnings: list[str] = [f"{note.location}: {note.message}" for note in result.notes]
    if result.bad:
        samples = "; ".join(f"{b.location}: {b.reason}" for b in result.bad_samples)
        warnings.append(f"{result.bad:,} unusable lines skipped (first: {samples})")
    plan = result.plan
    first, last = result.t_min_s, result.t_max_s
    # Span: first to last request start plus one tick of the stamps' resolution, so that a log
    # whose lines all carry the same whole-second stamp lasts 1 s, not 0.
    span_s = last - first + time_resolution_s(plan)
    rate = _rate(result, peak, span_s)

    service: ServiceEstimate | None = None
    hist = result.service
    if plan.duration_source is not None and hist.count > 0:
        service = ServiceEstimate(
            plan.duration_source,
            hist.count,
            hist.mean,
            hist.scv,
            hist.quantile(0.50),
            hist.quantile(0.95),
            hist.quantile(0.99),
            hist.max,
        )
        if service.scv > _MAX_SCV:
            warnings.append(
                f"the SCV of {service.source} is {service.scv:.3g}, beyond the profile format's "
                f"{_MAX_SCV:g}: a few very long requests dominate; service_time_scv set to "
                f"{_MAX_SCV:g}"
            )
            service = replace(service, scv=_MAX_SCV)
        if service.mean_s < _MIN_SERVICE_S:
            warnings.append(
                f"mean {service.source} is {service.mean_s:.3g} s, below 1 µs; service_time set "
                "to 1 µs"
            )
            service = replace(service, mean_s=_MIN_SERVICE_S)
    elif service_time_s is not None:
        service = ServiceEstimate("--service-time", 0, service_time_s, 1.0, 0, 0, 0, 0)
        warnings.append("the log has no request duration: service time from --service-time")
    else:
        raise CapplanError(
            f"{', '.join(result.sources)}: the log format has no request duration (%D, %{{us}}T, "
            "%{ms}T or %T), and a profile needs traffic.service_time; add %D to the LogFormat "
            "or give --service-time"
        )
    if service is not None and plan.duration_unit_s >= 1.0 and service.count:
            warnings.append(
                "only whole-second %T is logged: service times are truncated to seconds; "
                "log %D or %{us}T for a usable service time"
            )
    if result.late_lines:
        warnings.append(
            f"{result.late_lines} lines were more than {plan.reorder_s:g} s out of time order; "
            "their windows were counted separately (peaks may be underestimated)"
        )

    vt = result.visits
    e_r = (
        result.keepalive_known / result.keepalive_first
        if plan.keepalive_group is not None and result.keepalive_first > 0
        else None
    )
    think = vt.gap_sum_s / vt.gap_n if vt.gap_n else None
    if think is not None and think < _MIN_THINK_S:
        warnings.append(
            f"mean think gap {think:.3g} s is below the time stamps' resolution; think_time set "
            f"to {_MIN_THINK_S * 1e3:g} ms (log %{{usec}}t for sub-second gaps)"
        )
        think = _MIN_THINK_S
    visit_ends = vt.finals_kept + vt.finals_closed
    q = vt.finals_kept / visit_ends if plan.connection_group is not None and visit_ends else None
    direct = result.parsed / vt.visits if plan.client_group is not None and vt.visits else None
    m: float | None
    if e_r is not None and keepalive is not None and think is not None:
        m, clamped = fit_requests_per_visit(e_r, think, keepalive)
        method = (
            f"fitted to E[R] = {e_r:.3g} with KeepAliveTimeout {keepalive.timeout_s:g} s, "
            f"MaxKeepAliveRequests {keepalive.max_requests}, think time {think:.3g} s "
            "(geometric visits under the keep-alive timeout and cap)"
        )
        if clamped:
            warnings.append(
                f"E[R] = {e_r:.3g} is more than KeepAliveTimeout {keepalive.timeout_s:g} s and "
                f"think time {think:.3g} s allow; requests_per_visit clamped to {m:g}"
            )
    elif e_r is not None:
        m = max(1.0, e_r)
        method = "E[R] from %k (KeepAliveTimeout unknown: give -c CONFIG to fit visits)"
    elif direct is not None:
        m = direct
        method = "requests per client visit (no %k in the log)"
    else:
        m = None
        method = "not in the log (no %k and no client address)"
    if plan.connection_group is None:
        warnings.append("no %X in the log: idle_hold_probability keeps its default")
    if plan.client_group is None:
        warnings.append("no client address (%h/%a) in the log: think time keeps its default")
    if vt.evicted:
        warnings.append(
            f"{vt.evicted} client visits were cut short by the client table's size limit"
        )

    classes: dict[str, int] = {}
    for code, count in result.status:
        label = f"{code[0]}xx" if code[:1].isdigit() else code
        classes[label] = classes.get(label, 0) + count
    return LogProfile(
        name=name,
        sources=result.sources,
        log_format=result.log_format,
        lines=result.lines,
        used=result.parsed,
        skipped=result.bad,
        first_s=first,
        last_s=last,
        span_s=span_s,
        rate=rate,
        service=service,
        visits=VisitEstimate(
            requests_per_connection=e_r,
            connections=result.keepalive_first,
            connections_per_s=result.keepalive_first / span_s if e_r is not None else None,
            requests_per_visit=m,
            requests_per_visit_method=method,
            requests_per_visit_direct=direct,
            visits=vt.visits,
            think_time_s=think,
            think_gaps=vt.gap_n,
            think_p50_s=vt.gaps.quantile(0.5),
            think_p95_s=vt.gaps.quantile(0.95),
            idle_hold_probability=q,
            visit_ends=visit_ends,
            censored=vt.censored,
            evicted=vt.evicted,
        ),
        connection_status=result.connection_status if plan.connection_group is not None else (),
        status_classes=tuple(sorted(classes.items())),
        hours=result.hours,
        keepalive=keepalive,
        warnings=tuple(warnings),
    )


# ------------------------------------------------------------------------------------------------
# Rendering (pure: the same estimates give the same text)


def _g(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}g}"


def _duration(seconds: float) -> str:
    """A profile duration: ms below 1 s, else seconds (4 significant digits)."""
    if seconds < 1.0:
        return f"{_g(seconds * 1e3)}ms"
    return f"{_g(seconds)}s"


def _utc(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def _yaml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_profile_yaml(p: LogProfile) -> str:
    """The profile (format 1) with comments giving each number's source and support."""
    r, s, v = p.rate, p.service, p.visits
    out: list[str] = []
    add = out.append
    n_files = len(p.sources)
    add(f"# Traffic profile derived by `capplan profile` from {n_files} access log"
        f"{'s' if n_files != 1 else ''}: {', '.join(p.sources)}")
    add(f"# {p.lines:,} lines, {p.used:,} used, {p.skipped:,} skipped; "
        f"{_utc(p.first_s)} to {_utc(p.last_s)} ({p.span_s:,.0f} s).")
    add(f"# Log format: {p.log_format}")
    for warning in p.warnings:
        add(f"# WARNING: {warning}")
    add("version: 1")
    add(f"name: {_yaml_string(p.name)}")
    add("traffic:")
    qs = ", ".join(f"{label} {value:,.4g}/s" for label, value in r.quantiles_per_s)
    add(f"  # {r.peak} of the request rate over {r.windows:,} windows of {r.window_s:g} s "
        f"(--peak, --window); mean {r.mean_per_s:,.4g}/s over {p.used:,} requests")
    add(f"  # windowed rates: {qs}")
    add(f"  requests_per_second: {_g(r.chosen_per_s, 6)}")
    if s.count:
        add(f"  # mean of {s.source} over {s.count:,} requests; p50 {_duration(s.p50_s)}, "
            f"p95 {_duration(s.p95_s)}, p99 {_duration(s.p99_s)}, max {_duration(s.max_s)} "
            "(quantiles within 1 %)")
        add(f"  service_time: {_duration(s.mean_s)}")
        add(f"  # squared coefficient of variation of {s.source} (variance / mean²)")
        add(f"  service_time_scv: {_g(s.scv)}")
    else:
        add("  # given with --service-time: the log has no request duration")
        add(f"  service_time: {_duration(s.mean_s)}")
    add("  # share of service time that holds a worker under event: not visible in access logs")
    add("  worker_share: 1.0")
    add("visits:")
    if v.requests_per_connection is not None:
        add(f"  # %k: {v.connections:,} connections (%k = 0), {v.connections_per_s:,.4g}/s; "
            f"E[R] = {v.requests_per_connection:.4g} requests per connection")
    if v.requests_per_visit is not None:
        add(f"  # {v.requests_per_visit_method}")
        if v.requests_per_visit_direct is not None:
            add(f"  # (for comparison: {v.requests_per_visit_direct:.4g} requests per client "
                f"visit over {v.visits:,} visits)")
        add(f"  requests_per_visit: {_g(max(1.0, v.requests_per_visit))}")
    add("  distribution: geometric")
    if v.think_time_s is not None:
        add(f"  # mean of {v.think_gaps:,} gaps between a response's end and the same client's "
            f"next request (within visits); p50 {_duration(v.think_p50_s)}, "
            f"p95 {_duration(v.think_p95_s)}")
        add(f"  think_time: {_duration(v.think_time_s)}")
    if v.idle_hold_probability is not None:
        add(f"  # share of {v.visit_ends:,} visit-ending requests that left the connection open "
            f"(%X '+'; {v.censored:,} visits still open at the end of the log not counted)")
        add(f"  idle_hold_probability: {_g(v.idle_hold_probability)}")
    add("  # lingering close (about one round trip) is not visible in access logs")
    add("  linger: 0s")
    add("# memory is not visible in access logs: run `capplan measure` on the server and")
    add("# fill in ram, parent, shared, prefork_process, threaded_process and thread here.")
    add("memory: {}")
    _footer(p, add)
    return "\n".join(out) + "\n"


def _footer(p: LogProfile, add: Callable[[str], None]) -> None:
    if p.connection_status:
        mix = dict(p.connection_status)
        total = sum(mix.values()) or 1
        add(f"# %X at completion: {mix.get('X', 0):,} aborted ({mix.get('X', 0) / total:.2%}), "
            f"{mix.get('+', 0):,} kept alive, {mix.get('-', 0):,} closed")
    if p.status_classes:
        total = sum(n for _, n in p.status_classes) or 1
        add("# status: " + ", ".join(f"{c} {n / total:.1%}" for c, n in p.status_classes))
    total_h = sum(p.hours)
    if total_h:
        add("# share of requests per hour of day (the log's local time), %:")
        for half in (0, 12):
            add("#   " + " ".join(f"{h:02d}h {100 * p.hours[h] / total_h:4.1f}"
                                  for h in range(half, half + 12)))
