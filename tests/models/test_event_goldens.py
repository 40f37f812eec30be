"""event goldens (derivations §9): the connection limit (§4.3) and the kill fixed point (§4.4)."""

from __future__ import annotations

import math

import pytest

from capplan.models.event import kill_fixed_point
from capplan.models.slot_limit import connection_limit
from capplan.mpm_settings import CommonSettings
from capplan.profile import Traffic, TrafficProfile, Visits
from capplan.queueing import erlang_b
from tests.queueing.goldens import check, check_log10, rows

EVENT_RTOL = 1e-9  # derivations §9, "event: rtol = 1e-9 (float sums)"


@pytest.mark.parametrize(
    "row", rows("event_limit", ("c_workers", "AWF_eff", "a_busy", "a_idleconn"))
)
def test_event_limit(row: dict[str, str]) -> None:
    c, tpc, processes = int(row["c_workers"]), int(row["ThreadsPerChild"]), int(row["processes"])
    a_b, a_y = float(row["a_busy"]), float(row["a_idleconn"])
    got = connection_limit(c, int(row["AWF_eff"]), a_b, a_y)
    check("P_limit", got.p_limit, float(row["P_limit_indep"]), row, rtol=EVENT_RTOL)
    check_log10("log10 P_limit", math.log10(got.p_limit), float(row["log10_P_limit_indep"]), row)
    bound = float(row["P_limit_unionbound"])
    check("P_limit bound", got.p_limit_bound, bound, row, rtol=EVENT_RTOL)
    check("pooled C", got.pooled_c, float(row["C_request_level"]), row, rtol=EVENT_RTOL)
    check(
        "B_p",
        erlang_b(tpc, a_b / processes),
        float(row["B_process_saturated_ErlangB"]),
        row,
        rtol=EVENT_RTOL,
    )
    assert got.p_limit <= got.p_limit_bound
    if bound < 0.999:
        assert got.bound_argmin == int(row["unionbound_argmin_nstar"])
    if row["unionbound_argmin_nstar"] == "":
        assert got.p_limit_bound == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize(
    "row", rows("event_kill", ("processes", "ThreadsPerChild", "lambda_req", "Z"))
)
def test_event_kill_fixed_point(row: dict[str, str]) -> None:
    profile = TrafficProfile(
        "golden",
        Traffic(float(row["lambda_req"]), float(row["S_worker"])),
        Visits(float(row["m_geometric"]), "geometric", float(row["Z"]), 1.0, 0.0),
    )
    # The goldens use k = inf (MaxKeepAliveRequests 0).
    common = CommonSettings(
        keep_alive_timeout_s=float(row["KeepAliveTimeout"]), max_keep_alive_requests=0
    )
    got = kill_fixed_point(profile, common, int(row["processes"]), int(row["ThreadsPerChild"]))
    expected = {
        "B_process_ErlangB": got.process_saturation,
        "full_episode_entries_per_s": got.episode_entries_per_s,
        "kill_hazard_h_per_s": got.kill_hazard_per_s,
        "E_R_fixed_point": got.holding.requests_per_conn,
        "lambda_conn_no_kill": got.connections_per_s_without_kills,
        "lambda_conn_fixed_point": got.connections_per_s,
        "kill_episodes_per_s": got.kill_episodes_per_s,
        "ka_drops_per_s": got.keepalive_drops_per_s,
    }
    for column, value in expected.items():
        check(column, value, float(row[column]), row, rtol=EVENT_RTOL)
    check(
        "E[R] without kills",
        float(row["lambda_req"]) / got.connections_per_s_without_kills,
        float(row["E_R_no_kill"]),
        row,
        rtol=EVENT_RTOL,
    )
    if row["DES_lambda_conn"]:
        # derivations §10.3: lambda_conn under kill churn within 20 % of the simulation.
        assert got.connections_per_s == pytest.approx(float(row["DES_lambda_conn"]), rel=0.20)
