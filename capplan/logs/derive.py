"""Derive stage: a merged `ScanResult` → `LogProfile` estimates → profile YAML (format 1).

Input: the scan's counts and sketches, the chosen peak statistic, and what the httpd config says
about keep-alive (KeepAliveTimeout T, MaxKeepAliveRequests K) when it is known. Output: frozen
estimates with their provenance, and the profile text whose comments say where each number came
from and how many lines support it.

Estimators (the holding-time model of docs/queueing.md):
- request rate: lines / span; windowed rates from the window histogram (`--window`);
- service time S, SCV and quantiles: from `%D` / `%{us}T` / `%{ms}T` / `%T`;
- E[R] = requests / #(%k == 0); λ_conn = #(%k == 0) / span;
- think time Z: mean gap between a client's response end and its next request start, within
  visits (a gap longer than `--visit-gap` ends the visit);
- idle hold q: share of visits whose last request left the connection open (`%X` `+`);
- requests per visit m: the geometric mean that reproduces the observed E[R] under the model
  given T, K and Z (when T is known), else E[R] itself;
- with `--php`: php.share = PHP requests / requests, php.service_time and its SCV from the PHP
  requests' durations (a histogram of their own).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from capplan.errors import CapplanError
from capplan.logs.parse import ScanPlan
from capplan.logs.scan import ScanResult
from capplan.logs.stats import LogHistogram, bucket_centres, count_quantile

_MIN_THINK_S = 0.001
_MIN_SERVICE_S = 1e-6
_MAX_SCV = 1e4  # the profile format's upper bound for service_time_scv
_MAX_RATE_PER_S = 1e8  # the profile format's upper bound for requests_per_second
_DAY_S = 86_400.0  # the profile format's upper bound for durations
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
class PhpEstimate:
    """The PHP split (`--php`): the rule, how many requests it matched and their durations.

    `service` is None when the log has no duration; `other_mean_s` is the mean duration of the
    requests that are not PHP (None when there are none, or no duration is logged).
    """

    rule: str
    requests: int
    total: int
    service: ServiceEstimate | None
    other_mean_s: float | None

    @property
    def share(self) -> float:
        """php.share: the share of requests that reach PHP."""
        return self.requests / self.total if self.total else 0.0


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
    inferred: KeepAliveInference | None = None  # keep-alive settings as the log shows them
    # Requests logged as HTTP/2.0, and requests whose protocol the log shows (%H or %r).
    http2_requests: int = 0
    protocol_known: int = 0
    protocol_source: str = ""
    php: PhpEstimate | None = None  # --php; requests 0: none matched, no php: section

    @property
    def http2_share(self) -> float | None:
        """Share of requests over HTTP/2 among those whose protocol is logged; None if none is.

        It stands for the share of visits: the model gives HTTP/2 and HTTP/1.1 visits the same
        requests per visit, so the two shares are equal in expectation.
        """
        if self.protocol_known == 0:
            return None
        return self.http2_requests / self.protocol_known


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


def _check_rate(result: ScanResult, rate: RateEstimate, span_s: float) -> None:
    """A profile needs a request rate in (0, 1e8]/s: else say why and what to change."""
    chosen = rate.chosen_per_s
    if chosen > _MAX_RATE_PER_S:
        raise CapplanError(
            f"{', '.join(result.sources)}: the {rate.peak} request rate is {chosen:.3g}/s over "
            f"windows of "
            f"{rate.window_s:g} s, beyond the {_MAX_RATE_PER_S:g}/s a profile allows; use a "
            "longer --window"
        )
    if chosen > 0.0:
        return
    busy = rate.windows - dict(result.window_counts).get(0, 0)
    raise CapplanError(
        f"the {rate.peak} request rate is 0: only {busy:,} of the {rate.windows:,} windows of "
        f"{rate.window_s:g} s from {_utc(result.t_min_s)} to this line's {_utc(result.t_max_s)} "
        f"({span_s:,.0f} s) have a request; if a stray time stamp stretches the span, fix or "
        "remove that line, else use a longer --window or --peak max",
        result.t_max_at,
    )


def time_resolution_s(plan: ScanPlan) -> float:
    """The tick of the log's request start times: 1 s for `%t`-like stamps, else finer."""
    if plan.frac_group is not None:
        return plan.frac_scale_s
    return {"usec": 1e-6, "msec": 1e-3}.get(plan.time_form, 1.0)


def fit_requests_per_visit(
    requests_per_connection: float, think_s: float, keepalive: KeepAliveConfig
) -> tuple[float, bool]:
    """m such that geometric visits give the observed E[R] (holding model); (m, clamped).

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


@dataclass(frozen=True, slots=True)
class KeepAliveInference:
    """The keep-alive settings in force as the log shows them (`%k`, `%X` and the gaps).

    `timeout_s` is the KeepAliveTimeout estimate (None: no gap was kept alive, or none broke a
    connection); `timeout_at_least_s` the largest kept-alive gap, a lower bound when no gap ever
    broke a connection. `max_requests` is MaxKeepAliveRequests when `%k` stops at a cap, else
    None (no cap reached: unlimited, or above `largest_keepalives`).
    """

    timeout_s: float | None
    timeout_at_least_s: float
    kept_gaps: int
    broken_gaps: int
    kept_p99_s: float
    broken_p01_s: float
    max_requests: int | None
    largest_keepalives: int
    capped_connections: int  # connections that reached `largest_keepalives`


_MISFIT = 1e-3  # share of gaps the timeout fit lets fall on the wrong side (NAT, races)


def _rounding_cdf(tilt: float) -> tuple[np.ndarray, np.ndarray]:
    """(u, P(U <= u)) on (-1, 1) for the rounding error U of a gap, in units of the stamps'
    resolution r: triangular (the difference of two uniform rounding errors), tilted by
    exp(tilt u) because, with exponential gaps of mean Z, a measured gap is more likely a
    shorter true gap plus a positive error than the reverse (tilt = r / Z)."""
    u = np.linspace(-1.0, 1.0, 2001)
    density = (1.0 - np.abs(u)) * np.exp(tilt * u)
    cdf = np.concatenate(([0.0], np.cumsum((density[1:] + density[:-1]) / 2.0)))
    return u, cdf / cdf[-1]


def infer_keepalive_timeout(
    kept: LogHistogram, broken: LogHistogram, resolution_s: float, think_s: float
) -> float | None:
    """The KeepAliveTimeout T that best separates kept-alive gaps from broken ones (seconds).

    A gap g (response end to next request) is kept alive when g <= T (the holding-time
    model's timeout rule). Time stamps of resolution r add to each measured gap x a rounding
    error U on (-w, w), w = r (at least 1 % of T, the histograms' bucket width), triangular and
    tilted by the exponential gaps of mean `think_s` (`_rounding_cdf`), so P(kept | x) =
    P(U >= x - T); a share `_MISFIT` of gaps may fall on the wrong side (clients behind NAT,
    races at the timeout). T maximises the binomial likelihood over the log-bucketed histograms
    of kept and broken gaps, on a grid of 0.2 % steps (the middle of the best plateau). None
    when either histogram is empty (the
    gaps then bound T on one side only).
    """
    if kept.count == 0 or broken.count == 0:
        return None
    values = np.concatenate(([0.0], bucket_centres()))
    n_kept = np.concatenate(([kept.zeros], kept.buckets)).astype(np.float64)
    n_broken = np.concatenate(([broken.zeros], broken.buckets)).astype(np.float64)
    used = (n_kept > 0) | (n_broken > 0)
    x, a, b = values[used], n_kept[used], n_broken[used]
    low = max(resolution_s / 2.0, 1e-3)
    high = max(float(x.max()) * 1.5, low * 2.0)
    grid = np.exp(np.arange(math.log(low), math.log(high), math.log(1.002)))
    score = np.empty(grid.size)
    for lo in range(0, grid.size, 256):  # 256 candidates at a time bound the temporary arrays
        t = grid[lo : lo + 256, None]
        half = np.maximum(resolution_s, 0.01 * t)
        tilt = float(resolution_s / think_s) if think_s > 0 else 0.0
        u, cdf = _rounding_cdf(min(tilt, 50.0))
        below = np.interp((x[None, :] - t) / half, u, cdf, left=0.0, right=1.0)
        p = _MISFIT + (1.0 - 2.0 * _MISFIT) * (1.0 - below)
        score[lo : lo + 256] = (a * np.log(p) + b * np.log1p(-p)).sum(axis=1)
    top = np.flatnonzero(score >= score.max() - 1e-9 * abs(score.max()))
    return float(grid[top[len(top) // 2]])


def infer_keepalive_cap(values: Mapping[int, int]) -> int | None:
    """MaxKeepAliveRequests K when the `%k` values stop at a cap, else None.

    httpd logs `%k` 0, 1, ..., K on a connection and closes it after the request with `%k` = K
    (ap_set_keepalive, verified against httpd). Without a cap, the count of lines at `%k` = j
    falls roughly geometrically, with ratio a = n(j) / n(j - 1); at the largest value K seen,
    about n(K) * a lines would be expected beyond it. When that is 5 or more, seeing none has
    probability below e^-5 (Poisson): K is a cap.
    """
    if not values:
        return None
    top = max(values)
    if top < 1:
        return None
    below = values.get(top - 1, 0)
    if below == 0:
        return None
    at = values[top]
    return top if at * at / below >= 5.0 else None


def infer_keepalive(result: ScanResult) -> KeepAliveInference | None:
    """What the log says about the keep-alive settings; None without `%k` or client address."""
    plan = result.plan
    if plan.keepalive_group is None or plan.client_group is None:
        return None
    vt = result.visits
    kept, broken = vt.kept_gaps, vt.broken_gaps
    values = dict(result.keepalive_values)
    top = max(values, default=0)
    return KeepAliveInference(
        timeout_s=infer_keepalive_timeout(
            kept, broken, time_resolution_s(plan), vt.gap_sum_s / vt.gap_n if vt.gap_n else 0.0
        ),
        timeout_at_least_s=kept.max,
        kept_gaps=kept.count,
        broken_gaps=broken.count,
        kept_p99_s=kept.quantile(0.99),
        broken_p01_s=broken.quantile(0.01),
        max_requests=infer_keepalive_cap(values),
        largest_keepalives=top,
        capped_connections=values.get(top, 0),
    )


def _inferred_config(inferred: KeepAliveInference) -> KeepAliveConfig | None:
    """The keep-alive settings to fit visits under when only the log is known."""
    timeout = inferred.timeout_s
    if timeout is None and inferred.broken_gaps == 0 and inferred.kept_gaps > 0:
        timeout = inferred.timeout_at_least_s  # no gap broke a connection: T is at least this
    if timeout is None or timeout <= 0.0:
        return None
    return KeepAliveConfig(
        timeout_s=timeout, max_requests=inferred.max_requests or 0, origin="the log"
    )


def _disagreements(config: KeepAliveConfig, inferred: KeepAliveInference) -> list[str]:
    """Warnings where the config's keep-alive settings differ from what the log shows."""
    out: list[str] = []
    where = f" ({config.origin})" if config.origin else ""
    t = inferred.timeout_s
    if config.enabled and t is not None and abs(config.timeout_s - t) > max(1.0, 0.1 * t):
        out.append(
            f"the config's KeepAliveTimeout {config.timeout_s:g} s{where} disagrees with the "
            f"log, where gaps up to about {t:.3g} s kept the connection "
            f"({inferred.kept_gaps:,} kept-alive and {inferred.broken_gaps:,} timed-out gaps): "
            "was the log written under another config?"
        )
    if (
        config.enabled
        and t is None
        and inferred.broken_gaps == 0
        and inferred.kept_gaps > 0
        and config.timeout_s + 1.0 < inferred.timeout_at_least_s
    ):
        out.append(
            f"the config's KeepAliveTimeout {config.timeout_s:g} s{where} is shorter than gaps "
            f"the log kept alive (up to {inferred.timeout_at_least_s:.3g} s)"
        )
    cap = config.max_requests if config.enabled and config.max_requests > 0 else None
    if cap is not None and inferred.largest_keepalives > cap:
        out.append(
            f"the config's MaxKeepAliveRequests {cap}{where} is below the log's largest %k "
            f"({inferred.largest_keepalives})"
        )
    elif inferred.max_requests is not None and inferred.max_requests != cap:
        shown = "unlimited (0)" if cap is None else str(cap)
        out.append(
            f"%k stops at {inferred.max_requests} on {inferred.capped_connections:,} "
            f"connections, a MaxKeepAliveRequests of {inferred.max_requests}, but the "
            f"config{where} says {shown}"
        )
    if not config.enabled and inferred.largest_keepalives > 0:
        out.append(
            f"the config{where} turns keep-alive off, but the log has requests on reused "
            f"connections (%k up to {inferred.largest_keepalives})"
        )
    return out


def _service_estimate(source: str, hist: LogHistogram) -> ServiceEstimate:
    """Mean, SCV and quantiles of a duration histogram."""
    return ServiceEstimate(
        source,
        hist.count,
        hist.mean,
        hist.scv,
        hist.quantile(0.50),
        hist.quantile(0.95),
        hist.quantile(0.99),
        hist.max,
    )


def _php_estimate(result: ScanResult, warnings: list[str]) -> PhpEstimate | None:
    """The PHP split's estimates (None without `--php`); warnings for no match and for
    requests whose handler the split cannot see."""
    plan, hist = result.plan, result.php_service
    if plan.php is None or hist is None:
        return None
    if result.php_redirects:
        warnings.append(
            f"{result.php_redirects:,} requests were redirected internally (%R shows "
            "mod_rewrite's redirect-handler), so the PHP split cannot see what served them; log "
            "%>R, the handler of the final request"
        )
    if result.php_requests == 0:
        warnings.append(
            f"--php: no request matched ({plan.php.description}), so the profile has no php: "
            "section"
        )
        return PhpEstimate(plan.php.description, 0, result.parsed, None, None)
    service = None
    if plan.duration_source is not None and hist.count > 0:
        service = _service_estimate(plan.duration_source, hist)
        service = replace(service, scv=min(service.scv, _MAX_SCV))
        if service.mean_s < _MIN_SERVICE_S:
            warnings.append(
                f"mean {service.source} of the PHP requests is {service.mean_s:.3g} s, below "
                "1 µs; php.service_time set to 1 µs"
            )
            service = replace(service, mean_s=_MIN_SERVICE_S)
    others = result.service.count - hist.count  # the timed requests that are not PHP
    other_mean: float | None = None
    if service is not None and others > 0:
        other_mean = (result.service.sum - hist.sum) / others
    return PhpEstimate(
        plan.php.description, result.php_requests, result.parsed, service, other_mean
    )


def derive_profile(
    result: ScanResult,
    *,
    name: str,
    peak: str = "p99",
    keepalive: KeepAliveConfig | None = None,
    service_time_s: float | None = None,
    now_s: float | None = None,
) -> LogProfile:
    """Turn merged scan statistics into estimates (pure; no I/O).

    `service_time_s` stands in when the log has no duration field; without either, raise
    CapplanError (a profile needs a service time). Input no profile can describe (a request
    rate of 0 or beyond the format's bound, a mean duration beyond a day, a time stamp more
    than a day after `now_s`) raises CapplanError naming the line where there is one.
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
    if now_s is not None and last > now_s + _DAY_S:
        raise CapplanError(
            f"the time stamp {_utc(last)} is in the future (the clock says {_utc(now_s)}); "
            "a log line cannot be dated after it was written: fix or remove the line",
            result.t_max_at,
        )
    rate = _rate(result, peak, span_s)
    _check_rate(result, rate, span_s)

    service: ServiceEstimate | None = None
    hist = result.service
    if plan.duration_source is not None and hist.count > 0:
        service = _service_estimate(plan.duration_source, hist)
        if service.scv > _MAX_SCV:
            warnings.append(
                f"the SCV of {service.source} is {service.scv:.3g}, beyond the profile format's "
                f"{_MAX_SCV:g}: a few very long requests dominate; service_time_scv set to "
                f"{_MAX_SCV:g}"
            )
            service = replace(service, scv=_MAX_SCV)
        if service.mean_s > _DAY_S:
            raise CapplanError(
                f"this line's {service.source} of {_duration(service.max_s)} makes the mean "
                f"request duration over {service.count:,} requests {_duration(service.mean_s)}, "
                "beyond the one day a profile allows: the line is likely corrupt; fix or remove "
                "it",
                result.duration_max_at,
            )
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
    inferred = infer_keepalive(result) if e_r is not None else None
    m: float | None
    fit_with: KeepAliveConfig | None = keepalive
    if keepalive is not None and inferred is not None:
        warnings.extend(_disagreements(keepalive, inferred))
    if keepalive is None and inferred is not None:
        fit_with = _inferred_config(inferred)
    if e_r is not None and inferred is not None and inferred.largest_keepalives == 0:
        # no request ever reused a connection: nothing to fit, every request opens one
        m = direct if direct is not None else 1.0
        method = (
            "no request reused a connection (%k is always 0: KeepAlive Off, or every client "
            "closed): requests per visit counted directly"
        )
    elif e_r is not None and fit_with is not None and think is not None:
        m, clamped = fit_requests_per_visit(e_r, think, fit_with)
        cap = fit_with.max_requests
        settings = (
            f"KeepAliveTimeout {fit_with.timeout_s:.3g} s, MaxKeepAliveRequests "
            f"{cap}{' (unlimited)' if cap == 0 else ''}"
        )
        where = "the config" if keepalive is not None else "inferred from the log"
        method = (
            f"fitted so that geometric visits give E[R] = {e_r:.4g} requests per connection "
            f"under {settings} ({where}) and think time {think:.3g} s"
        )
        if clamped:
            warnings.append(
                f"E[R] = {e_r:.3g} is more than {settings} and think time {think:.3g} s allow; "
                f"requests_per_visit clamped to {m:g}"
            )
    elif e_r is not None:
        m = max(1.0, e_r)
        method = "E[R] from %k (the keep-alive timeout is unknown: give -c CONFIG to fit visits)"
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

    php = _php_estimate(result, warnings)
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
        inferred=inferred,
        http2_requests=result.http2_requests,
        protocol_known=result.protocol_known,
        protocol_source="%r" if plan.protocol_in_request_line else "%H",
        php=php,
    )


# ------------------------------------------------------------------------------------------------
# Rendering (pure: the same estimates give the same text)


def _g(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}g}"


def _duration(seconds: float, digits: int = 4) -> str:
    """A profile duration: ms below 1 s, else seconds (4 significant digits)."""
    if seconds < 1.0:
        return f"{_g(seconds * 1e3, digits)}ms"
    return f"{_g(seconds, digits)}s"


def _utc(epoch_s: float) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))
    except (OverflowError, OSError, ValueError):  # beyond the C library's calendar
        return f"{epoch_s:.6g} s after 1970"


def _yaml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_profile_yaml(p: LogProfile) -> str:
    """The profile (format 1) with comments giving each number's source and support."""
    r, s, v = p.rate, p.service, p.visits
    out: list[str] = []
    add = out.append
    n_files = len(p.sources)
    add(
        f"# Traffic profile derived by `capplan profile` from {n_files} access log"
        f"{'s' if n_files != 1 else ''}: {', '.join(p.sources)}"
    )
    add(
        f"# {p.lines:,} lines, {p.used:,} used, {p.skipped:,} skipped; "
        f"{_utc(p.first_s)} to {_utc(p.last_s)} ({p.span_s:,.0f} s)."
    )
    add(f"# Log format: {p.log_format}")
    for warning in p.warnings:
        add(f"# WARNING: {warning}")
    add("version: 1")
    add(f"name: {_yaml_string(p.name)}")
    add("traffic:")
    qs = ", ".join(f"{label} {value:,.4g}/s" for label, value in r.quantiles_per_s)
    add(
        f"  # {r.peak} of the request rate over {r.windows:,} windows of {r.window_s:g} s "
        f"(--peak, --window); mean {r.mean_per_s:,.4g}/s over {p.used:,} requests"
    )
    add(f"  # windowed rates: {qs}")
    add(f"  requests_per_second: {_g(r.chosen_per_s, 6)}")
    if s.count:
        add(
            f"  # mean of {s.source} over {s.count:,} requests; p50 {_duration(s.p50_s)}, "
            f"p95 {_duration(s.p95_s)}, p99 {_duration(s.p99_s)}, max {_duration(s.max_s)} "
            "(quantiles within 1 %)"
        )
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
        add(
            f"  # per connection (%k): {v.connections:,} connections (%k = 0), mean "
            f"{v.connections_per_s:,.4g}/s; E[R] = {v.requests_per_connection:.4g} requests "
            "per connection"
        )
    if p.inferred is not None:
        for line in _inference_lines(p.inferred, p.keepalive):
            add(f"  # {line}")
    if v.requests_per_visit is not None:
        add(
            f"  # per visit: {_g(max(1.0, v.requests_per_visit))} requests, "
            f"{v.requests_per_visit_method}"
        )
        if v.requests_per_visit_direct is not None:
            add(
                f"  # (for comparison: {v.requests_per_visit_direct:.4g} requests per client "
                f"visit over {v.visits:,} visits)"
            )
        add(f"  requests_per_visit: {_g(max(1.0, v.requests_per_visit))}")
    add("  distribution: geometric")
    if v.think_time_s is not None:
        add(
            f"  # mean of {v.think_gaps:,} gaps between a response's end and the same client's "
            f"next request (within visits); p50 {_duration(v.think_p50_s)}, "
            f"p95 {_duration(v.think_p95_s)}"
        )
        add(f"  think_time: {_duration(v.think_time_s)}")
    if v.idle_hold_probability is not None:
        add(
            f"  # share of {v.visit_ends:,} visit-ending requests that left the connection open "
            f"(%X '+'; {v.censored:,} visits still open at the end of the log not counted)"
        )
        add(f"  idle_hold_probability: {_g(v.idle_hold_probability)}")
    add("  # lingering close (about one round trip) is not visible in access logs")
    add("  linger: 0s")
    share = p.http2_share
    if share is not None and p.http2_requests:
        # Only logs with HTTP/2 requests get these lines: HTTP/1.1-only profiles stay unchanged.
        add(
            f"  # {p.http2_requests:,} of {p.protocol_known:,} requests were logged as HTTP/2.0 "
            f"({p.protocol_source}); the streams a page sends at once are not in access logs"
        )
        add(f"  http2_share: {_g(share)}")
    add("# memory is not visible in access logs: run `capplan measure` on the server and")
    add("# fill in ram, parent, shared, prefork_process, threaded_process and thread here.")
    add("memory: {}")
    if p.php is not None and p.php.requests:
        _php_lines(p.php, _duration(s.mean_s), add)
    _footer(p, add)
    return "\n".join(out) + "\n"


def _php_lines(php: PhpEstimate, traffic_service: str, add: Callable[[str], None]) -> None:
    """The php: section: share and time in PHP from the split, FPM memory left to defaults."""
    add(
        f"# PHP requests (--php): {php.requests:,} of {php.total:,}, those whose {php.rule}; "
        "the rest are static files or other handlers"
    )
    add("php:")
    share = _g(php.share)
    add(f"  share: {share}")
    s = php.service
    if s is None:
        add("  # no request duration in the log: service_time defaults to traffic.service_time")
    else:
        other = (
            f"; the other {php.total - php.requests:,} requests: mean {_duration(php.other_mean_s)}"
            if php.other_mean_s is not None
            else ""
        )
        add(
            f"  # mean of {s.source} over {s.count:,} PHP requests; p50 {_duration(s.p50_s)}, "
            f"p95 {_duration(s.p95_s)}, p99 {_duration(s.p99_s)}, max {_duration(s.max_s)}{other}"
        )
        add(
            f"  # ({s.source} is httpd's time: a wait for a free FPM child and sending the "
            "response to a slow client add to the time in FPM)"
        )
        add(f"  service_time: {_php_service_text(s.mean_s, float(share), traffic_service)}")
        add(f"  # squared coefficient of variation of {s.source} over the PHP requests")
        add(f"  service_time_scv: {_g(s.scv)}")
    add("  # memory per FPM child (process) and of the FPM master with the pages its children")
    add("  # share (shared) are not visible in access logs: the defaults apply until you fill")
    add("  # them in; `capplan measure --fpm-pool FILE` reads them from a running pool.")


def _php_service_text(mean_s: float, share: float, traffic_service: str) -> str:
    """php.service_time as written: share × service_time is part of traffic.service_time
    (every request's mean worker time), which the profile loader checks (to 1e-9) on the
    written, rounded figures. With whole-second %T, static requests log 0 and the two sides
    are equal, so rounding alone can break it: then the limit is written, with the fewest
    digits that keep within it."""
    from capplan.units import parse_duration_s

    budget_s = parse_duration_s(traffic_service) * (1 + 1e-9)
    text = _duration(mean_s)
    if share * parse_duration_s(text) <= budget_s:
        return text
    limit_s = parse_duration_s(traffic_service) / share
    candidates = [_duration(limit_s, digits) for digits in (4, 6, 8, 10)]
    fits = [t for t in candidates if share * parse_duration_s(t) <= budget_s]
    return fits[0] if fits else candidates[-1]


def checked_profile_yaml(p: LogProfile) -> str:
    """`render_profile_yaml`, validated as `check` and `recommend` will read it: a profile that
    would not load is an error here (CapplanError), never a file written with exit 0."""
    from capplan.profile import profile_from_text

    text = render_profile_yaml(p)
    try:
        profile_from_text(text, "profile.yaml")
    except CapplanError as exc:
        raise CapplanError(
            f"{', '.join(p.sources)}: the derived profile would not load ({exc.message}); "
            "see the warnings above"
        ) from None
    return text


def _inference_lines(inferred: KeepAliveInference, config: KeepAliveConfig | None) -> list[str]:
    """Comment lines saying which keep-alive settings the log shows, and on what evidence."""
    if inferred.largest_keepalives == 0:
        return ["keep-alive in force, from the log: none (%k is always 0)"]
    evidence = (
        f"{inferred.kept_gaps:,} gaps kept the connection (p99 "
        f"{_duration(inferred.kept_p99_s)}), {inferred.broken_gaps:,} left open timed out "
        f"(p1 {_duration(inferred.broken_p01_s)})"
    )
    if inferred.timeout_s is not None:
        timeout = f"KeepAliveTimeout about {_g(inferred.timeout_s, 3)} s ({evidence})"
    elif inferred.broken_gaps == 0 and inferred.kept_gaps:
        timeout = (
            f"KeepAliveTimeout at least {_g(inferred.timeout_at_least_s, 3)} s (no gap timed "
            f"out; {inferred.kept_gaps:,} kept the connection)"
        )
    else:
        timeout = f"KeepAliveTimeout not visible ({evidence})"
    if inferred.max_requests is not None:
        cap = (
            f"MaxKeepAliveRequests {inferred.max_requests} (%k reaches "
            f"{inferred.max_requests} on {inferred.capped_connections:,} connections, never more)"
        )
    else:
        cap = (
            f"no MaxKeepAliveRequests cap reached (the largest %k is {inferred.largest_keepalives})"
        )
    used = "the config's settings are used" if config is not None else "used for the fit"
    return [f"keep-alive in force, from the log ({used}): {timeout};", f"  {cap}"]


def _footer(p: LogProfile, add: Callable[[str], None]) -> None:
    if p.connection_status:
        mix = dict(p.connection_status)
        total = sum(mix.values()) or 1
        add(
            f"# %X at completion: {mix.get('X', 0):,} aborted ({mix.get('X', 0) / total:.2%}), "
            f"{mix.get('+', 0):,} kept alive, {mix.get('-', 0):,} closed"
        )
    if p.status_classes:
        total = sum(n for _, n in p.status_classes) or 1
        add("# status: " + ", ".join(f"{c} {n / total:.1%}" for c, n in p.status_classes))
    total_h = sum(p.hours)
    if total_h:
        add("# share of requests per hour of day (the log's local time), %:")
        for half in (0, 12):
            add(
                "#   "
                + " ".join(
                    f"{h:02d}h {100 * p.hours[h] / total_h:4.1f}" for h in range(half, half + 12)
                )
            )
