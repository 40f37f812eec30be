"""Regenerate the event goldens with mpmath at 60 digits: connection limit and kill fixed point.

The cases are the tables' input columns, read from the committed CSV; every other column is
recomputed here from the model's definitions (docs/derivations.md §4.2-§4.4), independently of
capplan's code. It shares the format, the comparison and the command line with `generate.py`.

    python -m tests.data.goldens.generate_event --check               # both tables
    python -m tests.data.goldens.generate_event --check event_kill    # one table
    python -m tests.data.goldens.generate_event --write event_limit   # rewrite a table in place

`event_limit` (§4.3): N, the requests in service or waiting, is M/M/c with load a_b; Y, the open
connections that hold no worker, is Poisson(a_y). The independence estimate is
`P_limit = C(c, a_b) + sum_{n<c} pi_n P(Y >= (1+F)(c-n))`; the dependence-free bound is
`min over 0 <= n* <= c of P(N >= n*) + P(X >= c + F(c-n*))`, X ~ Poisson(a_b + Lq + a_y),
Lq = C a_b/(c - a_b), ties to the larger n*, no argmin when the bound is 1. Poisson tails are summed
term by term from above (every term positive: full relative precision, even far in the tail).

`event_kill` (§4.2, §4.4): `kill_rows` is the part to change if the kill model changes. Its DES
column (a simulation made with the table) is kept as is.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import mpmath as mp

from tests.data.goldens.generate import (
    Row,
    Tables,
    _load,
    erlang_b_recursion,
    erlang_c,
    fmt,
    read_table,
    run,
    same,
)

mp.mp.dps = 60


def poisson_pmfs(mu: mp.mpf, top: int) -> list[mp.mpf]:
    """Pois(j; mu) for j = 0 … top, by pmf(j) = pmf(j-1) mu / j from e^-mu."""
    pmfs = [mp.exp(-mu)]
    for j in range(1, top + 1):
        pmfs.append(pmfs[-1] * mu / j)
    return pmfs


class PoissonTail:
    """P(X >= k) for X ~ Poisson(mu), every k up to `top`: suffix sums of the pmf, from far
    enough above `top` (and the mean) that the terms left out are below 1e-70 of the last one."""

    def __init__(self, mu: mp.mpf, top: int) -> None:
        end = int(max(top, mu) + 40 * mp.sqrt(mu) + 200)
        pmfs = poisson_pmfs(mu, end)
        self.tails = [mp.mpf(0)] * (end + 2)
        for j in range(end, -1, -1):
            self.tails[j] = self.tails[j + 1] + pmfs[j]

    def at_least(self, k: int) -> mp.mpf:
        return self.tails[max(k, 0)]


def connection_limit(
    c: int, f: int, a_b: mp.mpf, a_y: mp.mpf
) -> tuple[mp.mpf, mp.mpf, int | None, mp.mpf]:
    """(P_limit, bound, argmin n*, C(c, a_b)) as defined in the module's docstring."""
    if a_b >= c:
        return mp.mpf(1), mp.mpf(1), None, mp.mpf(1)
    pooled = erlang_c(c, a_b, erlang_b_recursion(c, a_b))
    # pi_n = (1 - C) Pois(n; a_b) / P(Pois(a_b) <= c - 1), n < c: M/M/c below c.
    pmfs = poisson_pmfs(a_b, c - 1)
    below = mp.fsum(pmfs)
    pi = [(1 - pooled) * p / below for p in pmfs]
    y = PoissonTail(a_y, (1 + f) * c)
    p_limit = min(
        mp.mpf(1), pooled + mp.fsum(pi[n] * y.at_least((1 + f) * (c - n)) for n in range(c))
    )
    x = PoissonTail(a_b + pooled * a_b / (c - a_b) + a_y, (1 + f) * c)
    at_least_n = [mp.mpf(0)] * (c + 1)  # P(N >= n*) = C + sum_{n*<=n<c} pi_n
    at_least_n[c] = pooled
    for n in range(c - 1, -1, -1):
        at_least_n[n] = at_least_n[n + 1] + pi[n]
    best, best_n = mp.inf, c
    for n_star in range(c, -1, -1):  # downward: a tie keeps the larger n*
        value = at_least_n[n_star] + x.at_least(c + f * (c - n_star))
        if value < best:
            best, best_n = value, n_star
    bound = min(mp.mpf(1), max(best, p_limit))
    return p_limit, bound, (best_n if best < 1 else None), pooled


def limit_rows(rows: list[Row]) -> Iterator[list[str]]:
    for row in rows:
        c, tpc, processes = (
            int(row["c_workers"]),
            int(row["ThreadsPerChild"]),
            int(row["processes"]),
        )
        f, a_b, a_y = int(row["AWF_eff"]), _load(row["a_busy"]), _load(row["a_idleconn"])
        p_limit, bound, argmin, pooled = connection_limit(c, f, a_b, a_y)
        yield [
            row["c_workers"],
            row["ThreadsPerChild"],
            row["processes"],
            row["AWF_eff"],
            row["a_busy"],
            row["a_idleconn"],
            fmt(pooled),
            fmt(p_limit),
            fmt(mp.log10(p_limit)),
            fmt(bound),
            "" if argmin is None else str(argmin),
            fmt(erlang_b_recursion(tpc, a_b / processes)),
        ]


# The fixed point is iterated until h moves by less than this share of itself.
KILL_RTOL = mp.mpf("1e-40")


def requests_per_connection(m: mp.mpf, z: mp.mpf, t: mp.mpf, h: mp.mpf) -> mp.mpf:
    """E[R] for geometric visits of mean m and no request cap (§2.2) with kill hazard h (§4.4).

    A gap G ~ Exp(mean Z) keeps the connection when it ends before the timeout T and before a
    kill K ~ Exp(h): p = P(G < min(T, K)) = (1/Z)/(1/Z + h) (1 - e^-(1/Z + h) T); the visit goes
    on with r = 1 - 1/m, so E[R] = 1/(1 - r p).
    """
    rate = 1 / z + h
    p = (1 / z) / rate * (1 - mp.exp(-rate * t))
    return 1 / (1 - (1 - 1 / m) * p)


def kill_fixed_point(row: Row) -> dict[str, mp.mpf]:
    """The §4.4 least fixed point for one row, and the rates around it.

    B_p = B(TPC, a_b/P) (Erlang C(TPC, a_b) for one process), entries nu = P TPC B_p / S_w into
    "process full", each lasting until one of its TPC workers is free (rate d = TPC/S_w). A
    keep-alive request (rate (λ - λ_conn)/P per process) or a new connection (λ_conn) arriving
    first makes the episode a kill: kills = nu (lk + λ_conn)/(lk + λ_conn + d), of which
    keep-alive drops nu lk/(lk + λ_conn + d). h = kills / P, iterated from 0 (the map is
    increasing and bounded, so this is the least fixed point).
    """
    p, tpc = int(row["processes"]), int(row["ThreadsPerChild"])
    s_w, rate = _load(row["S_worker"]), _load(row["lambda_req"])
    m, z, t = _load(row["m_geometric"]), _load(row["Z"]), _load(row["KeepAliveTimeout"])
    a_b = rate * s_w
    saturation = (
        erlang_c(tpc, a_b, erlang_b_recursion(tpc, a_b))
        if p == 1
        else erlang_b_recursion(tpc, a_b / p)
    )
    entries = p * tpc * saturation / s_w
    exit_rate = tpc / s_w

    def at(h: mp.mpf) -> tuple[mp.mpf, mp.mpf, mp.mpf, mp.mpf]:
        requests = requests_per_connection(m, z, t, h)
        conn_rate = rate / requests
        keepalive = (rate - conn_rate) / p
        denominator = keepalive + conn_rate + exit_rate
        return (
            requests,
            conn_rate,
            entries * (keepalive + conn_rate) / denominator,
            (entries * keepalive / denominator),
        )

    h = mp.mpf(0)
    requests0, conn0, kills, drops = at(h)
    requests, conn_rate = requests0, conn0
    for _ in range(1_000_000):
        h_new = kills / p
        if h_new - h <= KILL_RTOL * h_new:
            break
        h = h_new
        requests, conn_rate, kills, drops = at(h)
    else:
        raise RuntimeError(f"no fixed point within 1e6 steps: {row}")
    return {
        "a_busy": a_b,
        "B_process_ErlangB": saturation,
        "full_episode_entries_per_s": entries,
        "kill_hazard_h_per_s": h,
        "E_R_no_kill": requests0,
        "E_R_fixed_point": requests,
        "lambda_conn_no_kill": conn0,
        "lambda_conn_fixed_point": conn_rate,
        "kill_episodes_per_s": kills,
        "ka_drops_per_s": drops,
    }


def kill_rows(rows: list[Row]) -> Iterator[list[str]]:
    for row in rows:
        fresh = kill_fixed_point(row)
        # Input columns and the DES column (a simulation, a cross-check) as committed.
        yield [fmt(fresh[key]) if key in fresh else value for key, value in row.items()]


TABLES: Tables = {"event_limit": limit_rows, "event_kill": kill_rows}
__all__ = ["TABLES", "kill_rows", "limit_rows", "main", "read_table", "same"]


def main(argv: list[str] | None = None) -> int:
    return run(TABLES, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
