"""Every row of the queueing goldens, at derivations §9 tolerances (one test per row)."""

from __future__ import annotations

import math

import pytest

from capplan.queueing import (
    FixedVisits,
    GeometricVisits,
    HoldingInputs,
    erlang_b,
    erlang_b_log10,
    erlang_c,
    erlang_c_log10,
    holding_time,
    max_load_erlang_b,
    max_load_erlang_c,
    mgc,
    min_servers_erlang_b,
    min_servers_erlang_c,
    mmck,
    poisson_cdf,
    poisson_quantile,
    poisson_sf,
)
from tests.queueing.goldens import check, check_log10, check_probability, rows

Row = dict[str, str]


@pytest.mark.parametrize("row", rows("erlang_b", ("c", "a")))
def test_erlang_b(row: Row) -> None:
    c, a = int(row["c"]), float(row["a"])
    check_probability("B", erlang_b(c, a), float(row["B"]), row)
    check_log10("log10_B", erlang_b_log10(c, a), float(row["log10_B"]), row)


@pytest.mark.parametrize("row", rows("erlang_c", ("c", "a")))
def test_erlang_c_and_mmc_waits(row: Row) -> None:
    c, a = int(row["c"]), float(row["a"])
    check_probability("C", erlang_c(c, a), float(row["C"]), row)
    check_log10("log10_C", erlang_c_log10(c, a), float(row["log10_C"]), row)
    result = mgc(c, a, mean_holding_s=1.0, scv=1.0)
    assert result.stable is (row["regime"] == "stable")
    check_probability("P(wait)", result.p_wait, float(row["C"]), row)
    check_probability("Wq", result.mean_wait_s, float(row["Wq_mean_mu1"]), row)
    check("w1", result.mean_wait_given_wait_s, float(row["Wq_mean_given_wait_mu1"]), row)
    check("Wq p90", result.wait_quantile(0.9), float(row["Wq_p90_mu1"]), row)
    check("Wq p99", result.wait_p99_s, float(row["Wq_p99_mu1"]), row)


@pytest.mark.parametrize("row", rows("mmck", ("c", "Q", "a")))
def test_mmck(row: Row) -> None:
    c, q, a = int(row["c"]), int(row["Q"]), float(row["a"])
    assert int(row["K"]) == c + q
    result = mmck(c, a, q, mean_holding_s=1.0)
    check_probability("P_block", result.p_block, float(row["P_block"]), row)
    check_log10("log10_P_block", result.log10_p_block, float(row["log10_P_block"]), row)
    check_probability("P_allbusy", result.p_allbusy, float(row["P_allbusy_at_arrival"]), row)
    check_probability(
        "P_wait|adm", result.p_wait_admitted, float(row["P_wait_given_admitted"]), row
    )
    check_probability("Lq", result.mean_queue_length, float(row["Lq"]), row)
    check_probability("Wq|adm", result.mean_wait_admitted_s, float(row["Wq_admitted_mu1"]), row)
    check("busy", result.busy_servers, float(row["busy_servers"]), row)


def _holding_inputs(row: Row) -> HoldingInputs:
    visits = (
        GeometricVisits(float(row["m_or_n"]))
        if row["N_dist"] == "geo"
        else FixedVisits(int(row["m_or_n"]))
    )
    inputs = HoldingInputs(
        service_s=float(row["S"]),
        service_scv=float(row["S_scv"]),
        visits=visits,
        think_s=float(row["Z"]),
        keepalive_timeout_s=float(row["KeepAliveTimeout"]),
        max_keepalive_requests=int(row["MaxKeepAliveRequests"]),
        keepalive=row["KeepAlive"] == "On",
        idle_hold_probability=float(row["q_client_holds"]),
        linger_s=float(row["L_linger"]),
    )
    assert inputs.cap == float(row["K_eff"])
    return inputs


@pytest.mark.parametrize("row", rows("holding_time", ("case",)))
def test_holding_time(row: Row) -> None:
    got = holding_time(_holding_inputs(row))
    check("E_R", got.requests_per_conn, float(row["E_R"]), row)
    check("conn_per_req", got.conn_per_req, float(row["conn_per_req"]), row)
    check("E_H", got.mean_s, float(row["E_H"]), row)
    check("E_H2", got.second_moment_s2, float(row["E_H2"]), row)
    check("scv_H", got.scv, float(row["scv_H"]), row)
    check("E_idle", got.mean_idle_s, float(row["E_idle_per_conn"]), row, atol=1e-15)


@pytest.mark.parametrize("row", rows("sizing", ("problem", "a", "c", "target")))
def test_sizing(row: Row) -> None:
    target = float(row["target"])
    match row["problem"]:
        case "min_c_erlang_c":
            assert min_servers_erlang_c(float(row["a"]), target) == int(row["c_star"]), row
        case "min_c_erlang_b":
            assert min_servers_erlang_b(float(row["a"]), target) == int(row["c_star"]), row
        case "max_a_erlang_c":
            check("a*", max_load_erlang_c(int(row["c"]), target), float(row["a_star"]), row)
        case "max_a_erlang_b":
            check("a*", max_load_erlang_b(int(row["c"]), target), float(row["a_star"]), row)
        case other:
            pytest.fail(f"unknown sizing problem {other!r}")


@pytest.mark.parametrize("row", rows("poisson_quantile", ("mu", "p")))
def test_poisson_quantile(row: Row) -> None:
    mu, p = float(row["mu"]), float(row["p"])
    x = poisson_quantile(p, mu)
    assert x == int(row["x_p_smallest_with_cdf_ge_p"]), row
    check("cdf(x)", poisson_cdf(x, mu), float(row["cdf_x"]), row)
    check("cdf(x-1)", poisson_cdf(x - 1, mu), float(row["cdf_x_minus_1"]), row)
    check("P(X>x)", poisson_sf(x, mu), float(row["P_X_gt_x"]), row)
    assert math.isclose(poisson_cdf(x, mu) + poisson_sf(x, mu), 1.0, rel_tol=1e-15)
