"""`capplan profile` recovers a known traffic model from a generated log, and sizes like it.

The log comes from `tests.logs.generator` (Poisson visits, lognormal service, geometric requests
per visit, exponential think times, httpd's keep-alive rules for %k and %X). Tolerances are set
from the sampling error at this log size (about 120,000 requests, 12,000 visits) with a margin
of three standard errors or more, plus the 1 % quantile resolution of the sketches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from capplan.cli import main
from capplan.mpm_names import Mpm
from capplan.mpm_settings import MPM_NAMES
from capplan.profile import TrafficProfile, load_profile
from capplan.queueing.holding import GeometricVisits, HoldingInputs, holding_time
from capplan.queueing.sizing import min_servers_erlang_c
from tests.logs.generator import TrafficModel, generate_requests, write_log

DATA = Path(__file__).resolve().parent.parent / "data" / "logs"
MODEL = TrafficModel(visit_rate_per_s=10.0, duration_s=1200.0)
SEED = 20240501


@dataclass(frozen=True, slots=True)
class Recovered:
    log: Path
    profile: TrafficProfile
    text: str


@pytest.fixture(scope="module")
def recovered(tmp_path_factory: pytest.TempPathFactory) -> Recovered:
    tmp = tmp_path_factory.mktemp("recovery")
    log = tmp / "access.log"
    write_log(str(log), MODEL, SEED)
    out = tmp / "profile.yaml"
    code = main(
        ["profile", str(log), "-c", str(DATA / "httpd.conf"), "--peak", "mean", "-o", str(out)]
    )
    assert code == 0
    return Recovered(log, load_profile(out), out.read_text())


def _lognormal_quantile(q: float) -> float:
    from statistics import NormalDist

    sigma = math.sqrt(math.log(1.0 + MODEL.service_scv))
    mu = math.log(MODEL.service_mean_s) - sigma * sigma / 2.0
    return math.exp(mu + sigma * NormalDist().inv_cdf(q))


# (id, attribute path on the profile, true value, relative tolerance)
PARAMETERS = [
    ("request-rate", ("traffic", "requests_per_second"), MODEL.request_rate_per_s, 0.05),
    ("service-mean", ("traffic", "service_time_s"), MODEL.service_mean_s, 0.03),
    ("service-scv", ("traffic", "service_time_scv"), MODEL.service_scv, 0.20),
    ("requests-per-visit", ("visits", "requests_per_visit"), MODEL.requests_per_visit, 0.10),
    ("think-time", ("visits", "think_time_s"), MODEL.think_time_s, 0.05),
    ("idle-hold", ("visits", "idle_hold_probability"), MODEL.idle_hold_probability, 0.06),
]


@pytest.mark.parametrize(
    ("path", "true", "tolerance"), [p[1:] for p in PARAMETERS], ids=[p[0] for p in PARAMETERS]
)
def test_parameter_recovered(
    recovered: Recovered, path: tuple[str, str], true: float, tolerance: float
) -> None:
    got = getattr(getattr(recovered.profile, path[0]), path[1])
    assert abs(got - true) <= tolerance * true, f"{path}: got {got}, true {true}"


def test_realized_rate_is_exact(recovered: Recovered) -> None:
    """Against the generated requests themselves, the mean rate is exact up to rounding."""
    req = generate_requests(MODEL, SEED)
    start = req["start_s"]
    span = math.floor(start.max()) - math.floor(start.min()) + 1
    want = len(start) / span
    assert recovered.profile.traffic.requests_per_second == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize("q", [0.50, 0.95, 0.99], ids=["p50", "p95", "p99"])
def test_service_quantiles(recovered: Recovered, q: float) -> None:
    label = {0.50: "p50", 0.95: "p95", 0.99: "p99"}[q]
    # "p50 31.61ms, p95 ..." in the comment above service_time
    lines = recovered.text.splitlines()
    line = next(line for line in lines if f"{label} " in line and "mean of %D" in line)
    text = line.split(f"{label} ")[1].split(",")[0].split(" ")[0]
    got = float(text.removesuffix("ms")) / 1e3 if text.endswith("ms") else float(text[:-1])
    # 1 % sketch resolution plus the sampling error of a quantile at this size (< 3 % at p99)
    assert got == pytest.approx(_lognormal_quantile(q), rel=0.05)


def test_requests_per_connection_and_aborts(recovered: Recovered) -> None:
    req = generate_requests(MODEL, SEED)
    connections = int(np.count_nonzero(req["keepalives"] == 0))
    assert f"{connections:,} connections (%k = 0)" in recovered.text
    er = len(req["keepalives"]) / connections
    assert f"E[R] = {er:.4g}" in recovered.text
    assert er == pytest.approx(MODEL.requests_per_connection, rel=0.05)
    aborted = int(np.count_nonzero(req["conn"] == ord("X")))
    assert f"{aborted:,} aborted" in recovered.text


def _sizing(rate: float, profile_like: dict[str, float]) -> tuple[float, int]:
    """Offered load a = λ/E[R]·E[H] (derivations §2.2) and min workers for P(wait) ≤ 1 %."""
    held = holding_time(
        HoldingInputs(
            service_s=profile_like["service_s"],
            visits=GeometricVisits(profile_like["m"]),
            think_s=profile_like["think_s"],
            keepalive_timeout_s=MODEL.keepalive_timeout_s,
            max_keepalive_requests=MODEL.max_keepalive_requests,
            service_scv=profile_like["scv"],
            idle_hold_probability=profile_like["q"],
        )
    )
    load = rate / held.requests_per_conn * held.mean_s
    return load, min_servers_erlang_c(load, 0.01)


def test_same_sizing_as_the_true_model(recovered: Recovered) -> None:
    p = recovered.profile
    true_load, true_workers = _sizing(
        MODEL.request_rate_per_s,
        {
            "service_s": MODEL.service_mean_s,
            "m": MODEL.requests_per_visit,
            "think_s": MODEL.think_time_s,
            "scv": MODEL.service_scv,
            "q": MODEL.idle_hold_probability,
        },
    )
    got_load, got_workers = _sizing(
        p.traffic.requests_per_second,
        {
            "service_s": p.traffic.service_time_s,
            "m": p.visits.requests_per_visit,
            "think_s": p.visits.think_time_s,
            "scv": p.traffic.service_time_scv,
            "q": p.visits.idle_hold_probability,
        },
    )
    # Offered load within 5 % and the worker count within 5 %: the same sizing decision.
    assert got_load == pytest.approx(true_load, rel=0.05)
    assert abs(got_workers - true_workers) <= max(2, 0.05 * true_workers)


def test_peak_is_a_high_windowed_rate(recovered: Recovered, tmp_path: Path) -> None:
    out = tmp_path / "p99.yaml"
    assert main(["profile", str(recovered.log), "-f", _format(), "-o", str(out)]) == 0
    p99 = load_profile(out).traffic.requests_per_second
    mean = recovered.profile.traffic.requests_per_second
    # Poisson-like counts per 1 s window: p99 ≈ mean + 2.33·sqrt(mean·clustering) > mean
    assert mean * 1.1 < p99 < mean * 2.0
    out_max = tmp_path / "max.yaml"
    assert (
        main(
            [
                "profile",
                str(recovered.log),
                "-f",
                _format(),
                "--peak",
                "max",
                "--window",
                "10s",
                "-o",
                str(out_max),
            ]
        )
        == 0
    )
    peak_10s = load_profile(out_max).traffic.requests_per_second
    assert mean < peak_10s < p99


def _format() -> str:
    from tests.logs.generator import LOG_FORMAT

    return LOG_FORMAT


def test_microsecond_stamps_from_a_config_nickname(tmp_path: Path) -> None:
    """`%{usec}t` stamps (nickname `timing` in the test config) give exact gaps."""
    model = TrafficModel(visit_rate_per_s=5.0, duration_s=600.0)
    req = generate_requests(model, 5)
    log = tmp_path / "timing.log"
    with log.open("w") as fh:
        for start, service, ka, conn, visit in zip(
            req["start_s"].tolist(),
            req["service_s"].tolist(),
            req["keepalives"].tolist(),
            req["conn"].tolist(),
            req["visit"].tolist(),
            strict=True,
        ):
            fh.write(
                f"10.1.{visit >> 8 & 255}.{visit & 255} {round(start * 1e6)} "
                f"{round(service * 1e6)} {ka} {chr(conn)} 200\n"
            )
    out = tmp_path / "timing.yaml"
    assert (
        main(
            [
                "profile",
                str(log),
                "-c",
                str(DATA / "httpd.conf"),
                "--log-format-name",
                "timing",
                "--peak",
                "mean",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    p = load_profile(out)
    assert p.visits.think_time_s == pytest.approx(model.think_time_s, rel=0.03)
    assert p.traffic.service_time_s == pytest.approx(model.service_mean_s, rel=0.03)
    assert p.visits.requests_per_visit == pytest.approx(model.requests_per_visit, rel=0.10)


@pytest.mark.parametrize(
    ("m", "think_s", "timeout_s", "max_requests"),
    [(10.0, 2.0, 5.0, 100), (3.0, 20.0, 5.0, 100), (50.0, 1.0, 15.0, 0), (10.0, 2.0, 5.0, 3)],
    ids=["base", "long-think", "unlimited", "binding-cap"],
)
def test_fit_inverts_the_holding_model(
    m: float, think_s: float, timeout_s: float, max_requests: int
) -> None:
    from capplan.logs.derive import KeepAliveConfig, fit_requests_per_visit

    held = holding_time(
        HoldingInputs(
            service_s=0.05,
            visits=GeometricVisits(m),
            think_s=think_s,
            keepalive_timeout_s=timeout_s,
            max_keepalive_requests=max_requests,
        )
    )
    fitted, clamped = fit_requests_per_visit(
        held.requests_per_conn, think_s, KeepAliveConfig(timeout_s, max_requests)
    )
    assert not clamped
    assert fitted == pytest.approx(m, rel=1e-6)


TRUE_PROFILE = f"""\
version: 1
name: true-model
traffic:
  requests_per_second: {MODEL.request_rate_per_s}
  service_time: {MODEL.service_mean_s}s
  service_time_scv: {MODEL.service_scv}
visits:
  requests_per_visit: {MODEL.requests_per_visit}
  think_time: {MODEL.think_time_s}s
  idle_hold_probability: {MODEL.idle_hold_probability}
"""


@pytest.mark.parametrize("mpm", MPM_NAMES)
def test_models_and_recommendation_agree(recovered: Recovered, mpm: Mpm) -> None:
    """The models' offered load and the recommended worker count match the true profile's."""
    from capplan.models import evaluate
    from capplan.mpm_settings import (
        CommonSettings,
        EventSettings,
        MpmSettings,
        PreforkSettings,
        WorkerSettings,
    )
    from capplan.profile import profile_from_text
    from capplan.recommend import size_mpm

    true = profile_from_text(TRUE_PROFILE, "true.yaml")
    common = CommonSettings(
        keep_alive_timeout_s=MODEL.keepalive_timeout_s,
        max_keep_alive_requests=MODEL.max_keepalive_requests,
    )
    choices: dict[str, MpmSettings] = {
        "prefork": PreforkSettings(common=common),
        "worker": WorkerSettings(common=common),
        "event": EventSettings(common=common),
    }
    settings = choices[mpm]
    want, got = evaluate(settings, true), evaluate(settings, recovered.profile)
    assert got.offered_load_erlangs == pytest.approx(want.offered_load_erlangs, rel=0.05)
    sized_true = size_mpm(mpm, true, current=None, common=common)
    sized_got = size_mpm(mpm, recovered.profile, current=None, common=common)
    assert sized_true.best is not None
    assert sized_got.best is not None
    workers_true = sized_true.best.metrics.workers
    workers_got = sized_got.best.metrics.workers
    # within 5 % or one process's worth of threads (sizes are multiples of ThreadsPerChild)
    step = 1 if mpm == "prefork" else sized_true.best.metrics.threads_per_child
    assert abs(workers_got - workers_true) <= max(0.05 * workers_true, step)
