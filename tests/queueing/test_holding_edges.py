"""Edge cases of the holding time that rounding or a vanishing kill hazard could break."""

from __future__ import annotations

import pytest

from capplan.queueing import GeometricVisits, HoldingInputs, holding_time


@pytest.mark.parametrize("hazard", [1e-300, 1e-160, 1e-12, 1e-9], ids=lambda h: f"h={h:g}")
def test_tiny_kill_hazard_matches_no_hazard(hazard: float) -> None:
    base = HoldingInputs(
        service_s=0.05, visits=GeometricVisits(10.0), think_s=5.0, keepalive_timeout_s=5.0
    )
    killed = HoldingInputs(
        service_s=0.05,
        visits=GeometricVisits(10.0),
        think_s=5.0,
        keepalive_timeout_s=5.0,
        kill_rate_per_s=hazard,
    )
    want, got = holding_time(base), holding_time(killed)
    assert got.mean_s == pytest.approx(want.mean_s, rel=1e-8)
    assert got.second_moment_s2 == pytest.approx(want.second_moment_s2, rel=1e-8)


def test_constant_holding_time_has_zero_scv_not_negative() -> None:
    # One request per visit, no keep-alive wait, deterministic service: H = S exactly.
    inputs = HoldingInputs(
        service_s=0.1,
        visits=GeometricVisits(1.0),
        think_s=1.0,
        keepalive_timeout_s=5.0,
        service_scv=0.0,
        idle_hold_probability=0.0,
    )
    result = holding_time(inputs)
    assert result.scv >= 0.0
    assert result.mean_idle_s >= 0.0
    assert result.mean_s == pytest.approx(0.1)
