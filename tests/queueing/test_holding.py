"""Keep-alive holding time: cross-checks between the model's forms, and a seeded Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from capplan.queueing import (
    FixedVisits,
    GeometricVisits,
    HoldingInputs,
    MixedVisits,
    gap_moments,
    holding_time,
    mean_holding_insensitive,
    requests_per_connection_cap,
)
from capplan.queueing.holding import (
    AffineMoments,
    VisitShape,
    _affine_closed_form,
    _affine_steps,
)


def _inputs(visits: VisitShape, **changes: object) -> HoldingInputs:
    base: dict[str, object] = {
        "service_s": 0.05,
        "visits": visits,
        "think_s": 5.0,
        "keepalive_timeout_s": 5.0,
        "max_keepalive_requests": 100,
    }
    base.update(changes)
    return HoldingInputs(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("keepalive", "max_requests", "timeout_s", "want"),
    [
        pytest.param(True, 100, 5.0, 101.0, id="K=100-gives-101"),
        pytest.param(True, 1, 5.0, 2.0, id="K=1-gives-2"),
        pytest.param(True, 0, 5.0, math.inf, id="K=0-unlimited"),
        pytest.param(False, 100, 5.0, 1.0, id="KeepAlive-Off"),
        pytest.param(True, 100, 0.0, 1.0, id="timeout-0"),
    ],
)
def test_requests_per_connection_cap(
    keepalive: bool, max_requests: int, timeout_s: float, want: float
) -> None:
    assert requests_per_connection_cap(keepalive, max_requests, timeout_s) == want


@pytest.mark.parametrize(
    "inputs",
    [
        pytest.param(_inputs(GeometricVisits(10.0)), id="base"),
        pytest.param(_inputs(GeometricVisits(10.0), max_keepalive_requests=5), id="K5"),
        pytest.param(_inputs(GeometricVisits(3.0), idle_hold_probability=0.3), id="q0.3"),
        pytest.param(_inputs(GeometricVisits(10.0), kill_rate_per_s=0.4), id="kill"),
        pytest.param(_inputs(GeometricVisits(10.0), linger_s=0.2, think_s=0.0), id="Z0"),
    ],
)
def test_geometric_mean_equals_closed_form(inputs: HoldingInputs) -> None:
    """h_1 from the recursion equals S E[R] + E[I] + L of §2.2 (the check of derivations §2.2)."""
    assert isinstance(inputs.visits, GeometricVisits)
    g = gap_moments(inputs)
    r = 1.0 - 1.0 / inputs.visits.mean_requests
    alpha = r * g.p_reuse
    k = inputs.cap
    n_u = (1 - alpha ** (k - 1)) / (1 - alpha)
    idle = ((1 - r) * g.final_mean_s + r * g.mean_s) * n_u
    got = holding_time(inputs)
    want = inputs.service_s * got.requests_per_conn + idle + inputs.linger_s
    assert got.mean_s == pytest.approx(want, rel=1e-13)
    assert got.requests_per_conn == pytest.approx((1 - alpha**k) / (1 - alpha), rel=1e-13)


@pytest.mark.parametrize("k", [20_001, 100_001, 100_002, 3_000_001])
def test_large_cap_recursion_and_closed_form_agree(k: int) -> None:
    """The O(1) closed form (k > 1e5) continues the step-by-step recursion (k <= 1e5)."""
    visits = GeometricVisits(1e6)
    stepwise = holding_time(
        _inputs(visits, think_s=1.0, keepalive_timeout_s=30.0, max_keepalive_requests=100_000)
    )
    got = holding_time(
        _inputs(visits, think_s=1.0, keepalive_timeout_s=30.0, max_keepalive_requests=k - 1)
    )
    unlimited = holding_time(
        _inputs(visits, think_s=1.0, keepalive_timeout_s=30.0, max_keepalive_requests=0)
    )
    # E[H] increases with the cap towards the k = inf fixed point.
    assert got.mean_s <= unlimited.mean_s * (1 + 1e-12)
    if k > 100_001:
        assert got.mean_s >= stepwise.mean_s
    assert got.second_moment_s2 >= got.mean_s**2


@pytest.mark.parametrize(
    ("alpha", "steps"),
    [(0.0, 1), (0.5, 1), (0.5, 7), (0.9995, 3000), (0.99999, 20_000), (0.3, 100)],
)
def test_closed_form_equals_stepwise_recursion(alpha: float, steps: int) -> None:
    """The O(1) form used for k > 1e5 reproduces the step-by-step backward recursion."""
    rec = AffineMoments(a=1.3, b0=4.0, b1=0.7, alpha=alpha, h_last=0.05, s_last=0.005)
    h_step, s_step = _affine_steps(rec, steps)
    h_closed, s_closed = _affine_closed_form(rec, steps)
    assert h_closed == pytest.approx(h_step, rel=1e-11)
    assert s_closed == pytest.approx(s_step, rel=1e-11)


@pytest.mark.parametrize(
    ("n", "think_s", "timeout_s", "q"),
    [
        pytest.param(10, 5.0, 5.0, 1.0, id="n10"),
        pytest.param(50, 1.0, 15.0, 1.0, id="n50-long-T"),
        pytest.param(7, 2.0, 1.0, 0.0, id="n7-q0"),
    ],
)
def test_insensitivity_fixed_equals_geometric_and_formula(
    n: int, think_s: float, timeout_s: float, q: float
) -> None:
    """Without a binding cap E[R], E[H] depend on N only through its mean (derivations §2.3)."""
    common = {
        "think_s": think_s,
        "keepalive_timeout_s": timeout_s,
        "idle_hold_probability": q,
        "max_keepalive_requests": 0,
        "linger_s": 0.1,
    }
    fixed = holding_time(_inputs(FixedVisits(n), **common))
    geo = holding_time(_inputs(GeometricVisits(float(n)), **common))
    mix = holding_time(_inputs(MixedVisits(((n - 2, 1.0), (n + 2, 1.0))), **common))
    e_r, e_h = mean_holding_insensitive(_inputs(FixedVisits(n), **common), n)
    for got in (fixed, geo, mix):
        assert got.requests_per_conn == pytest.approx(e_r, rel=1e-12)
        assert got.mean_s == pytest.approx(e_h, rel=1e-12)
    # ...but the second moment does depend on the distribution.
    assert fixed.second_moment_s2 != pytest.approx(geo.second_moment_s2, rel=1e-3)


def test_mixture_weights_renewal_reward() -> None:
    """A mixture pools numerators and denominators per visit, not per-n averages of E[H]."""
    common = {"max_keepalive_requests": 2}
    mix = holding_time(_inputs(MixedVisits(((1, 3.0), (10, 1.0))), **common))
    one = holding_time(_inputs(FixedVisits(1), **common))
    ten = holding_time(_inputs(FixedVisits(10), **common))
    conns_1, conns_10 = 1 / one.requests_per_conn, 10 / ten.requests_per_conn
    want_h = (3 * conns_1 * one.mean_s + conns_10 * ten.mean_s) / (3 * conns_1 + conns_10)
    assert mix.mean_s == pytest.approx(want_h, rel=1e-13)
    assert mix.requests_per_conn == pytest.approx((3 + 10) / (3 * conns_1 + conns_10), rel=1e-13)


def test_kill_hazard_zero_is_continuous() -> None:
    base = holding_time(_inputs(GeometricVisits(10.0)))
    tiny = holding_time(_inputs(GeometricVisits(10.0), kill_rate_per_s=1e-9))
    assert tiny.mean_s == pytest.approx(base.mean_s, rel=1e-8)
    assert tiny.second_moment_s2 == pytest.approx(base.second_moment_s2, rel=1e-8)
    strong = holding_time(_inputs(GeometricVisits(10.0), kill_rate_per_s=5.0))
    assert strong.requests_per_conn < base.requests_per_conn
    assert strong.mean_s < base.mean_s


def test_kill_hazard_matches_model_section_4_4() -> None:
    """E[R](h) = 1/(1 - r p(h)) with p(h) = (1/Z)/(1/Z + h) (1 - exp(-(1/Z + h) T))."""
    z, t, h, m = 0.5, 1.0, 9.02758026487873, 10.0
    got = holding_time(
        _inputs(
            GeometricVisits(m),
            think_s=z,
            keepalive_timeout_s=t,
            kill_rate_per_s=h,
            max_keepalive_requests=0,
        )
    )
    lam = 1 / z + h
    p = (1 / z) / lam * (1 - math.exp(-lam * t))
    assert got.requests_per_conn == pytest.approx(1 / (1 - (1 - 1 / m) * p), rel=1e-14)
    # event_kill.csv, second row: E_R at the fixed point for this h.
    assert got.requests_per_conn == pytest.approx(1.19506360263528, rel=1e-12)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("service_s", -0.1),
        ("think_s", math.nan),
        ("keepalive_timeout_s", math.inf),
        ("idle_hold_probability", 1.5),
        ("max_keepalive_requests", -1),
        ("kill_rate_per_s", -1.0),
    ],
)
def test_bad_inputs_raise(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=r"must be"):
        _inputs(GeometricVisits(10.0), **{field: value})


@pytest.mark.parametrize(
    "visits",
    [
        pytest.param(lambda: GeometricVisits(0.5), id="geometric-mean-below-1"),
        pytest.param(lambda: FixedVisits(0), id="fixed-0"),
        pytest.param(lambda: MixedVisits(()), id="empty-mixture"),
        pytest.param(lambda: MixedVisits(((3, 1.0), (3, 2.0))), id="duplicate-n"),
        pytest.param(lambda: MixedVisits(((3, 0.0),)), id="zero-weight"),
    ],
)
def test_bad_visit_shapes_raise(visits: object) -> None:
    with pytest.raises(ValueError, match=r"requests per visit|mixture|weight"):
        visits()  # type: ignore[operator]


def _draw_requests(visits: VisitShape, count: int, rng: np.random.Generator) -> np.ndarray:
    match visits:
        case GeometricVisits(mean_requests=m):
            return rng.geometric(1.0 / m, count)
        case FixedVisits(requests=n):
            return np.full(count, n)
        case MixedVisits(weights=weights):
            sizes = np.array([n for n, _ in weights])
            probabilities = np.array([w for _, w in weights])
            return rng.choice(sizes, count, p=probabilities / probabilities.sum())
    raise AssertionError(visits)


def _simulate(inputs: HoldingInputs, visits: int, seed: int) -> tuple[float, float, float]:
    """(E[R], E[H], E[H^2]) from simulating `visits` visits request by request (vectorised).

    Independent of the closed forms and the DP: draws N, exponential services, think gaps and
    kills, and applies the timeout, the cap k, the client's final hold and lingering close.
    """
    rng = np.random.default_rng(seed)
    n = _draw_requests(inputs.visits, visits, rng)
    k, t, h = inputs.cap, inputs.keepalive_timeout_s, inputs.kill_rate_per_s
    held = np.zeros(visits)  # time on the current connection
    on_conn = np.zeros(visits)  # requests served on the current connection
    closed: list[np.ndarray] = []
    for i in range(1, int(n.max()) + 1):
        live = np.flatnonzero(n >= i)
        held[live] += rng.exponential(inputs.service_s, live.size)
        on_conn[live] += 1
        at_cap = on_conn[live] >= k
        last = n[live] == i
        kill = rng.exponential(1.0 / h, live.size) if h > 0 else np.full(live.size, np.inf)
        # The visit ends: final idle min(T, kill) if the client holds the socket and k allows.
        holds = ~at_cap & (rng.random(live.size) < inputs.idle_hold_probability)
        final = np.where(holds, np.minimum(t, kill), 0.0)
        # The visit goes on: the gap is reused if the request beats both T and the kill.
        gap = rng.exponential(inputs.think_s, live.size) if inputs.think_s > 0 else 0.0 * kill
        reused = ~last & ~at_cap & (gap <= t) & (gap < kill)
        idle = np.where(last, final, np.where(at_cap, 0.0, np.minimum(gap, np.minimum(t, kill))))
        held[live] += idle
        ends = live[~reused]
        closed.append(held[ends] + inputs.linger_s)
        held[ends] = 0.0
        on_conn[ends] = 0
    times = np.concatenate(closed)
    return float(n.sum()) / times.size, float(times.mean()), float(np.mean(times**2))


@pytest.mark.parametrize(
    "inputs",
    [
        pytest.param(_inputs(GeometricVisits(10.0)), id="base_geo_m10"),
        pytest.param(
            _inputs(
                GeometricVisits(10.0),
                max_keepalive_requests=1,
                linger_s=0.05,
                idle_hold_probability=0.5,
            ),
            id="geo-K1-q0.5-L",
        ),
        pytest.param(
            _inputs(
                GeometricVisits(10.0), think_s=0.5, keepalive_timeout_s=1.0, kill_rate_per_s=2.0
            ),
            id="geo-kill-hazard",
        ),
        pytest.param(_inputs(FixedVisits(10), max_keepalive_requests=1), id="fixed10-K1"),
        pytest.param(
            _inputs(
                FixedVisits(10),
                max_keepalive_requests=5,
                kill_rate_per_s=0.3,
                idle_hold_probability=0.7,
            ),
            id="fixed10-K5-kill",
        ),
        pytest.param(
            _inputs(MixedVisits(((1, 2.0), (4, 1.0), (20, 1.0))), max_keepalive_requests=3),
            id="mixture-K3",
        ),
    ],
)
def test_monte_carlo_reproduces_holding_time(inputs: HoldingInputs) -> None:
    requests, mean, second = _simulate(inputs, 60_000, seed=20240611)
    want = holding_time(inputs)
    assert mean == pytest.approx(want.mean_s, rel=0.01)
    assert requests == pytest.approx(want.requests_per_conn, rel=0.01)
    assert second == pytest.approx(want.second_moment_s2, rel=0.04)
