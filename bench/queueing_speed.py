"""Speed and accuracy of the queueing engine, side by side with pyworkforce in one run.

Run: `python bench/queueing_speed.py` (needs pyworkforce and mpmath installed next to capplan;
neither is a project dependency; hyperfine on PATH for the end-to-end timing).

Measures, each as the median of repeated timings:
1. P(wait) = Erlang C at c = 10^5, a = 0.99 * 10^5: capplan vs pyworkforce `ErlangC(...)
   .waiting_probability(c)` (its documented float recursion of 1/B), with the relative error of
   both against mpmath at 40 digits;
2. the smallest c with P(wait) <= 1 % for a = 9 * 10^4 (capplan's fast-start pass), next to a
   plain forward pass from one server;
3. `capplan queue` end to end (hyperfine, whole process).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import mpmath
from pyworkforce.queuing import ErlangC  # type: ignore[import-untyped]

from capplan.queueing import erlang_c, min_servers_erlang_c
from capplan.queueing.erlang import erlang_b_from_previous, erlang_c_from_b

SERVERS = 100_000
LOAD = 99_000.0
SIZING_LOAD = 90_000.0
TARGET = 0.01


def median_seconds(function: Callable[[], object], repeat: int, number: int = 1) -> float:
    """Median over `repeat` runs of the mean time of `number` calls."""
    function()  # warm-up: imports, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            function()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def mpmath_erlang_c(c: int, a: float) -> float:
    with mpmath.workdps(40):
        x = mpmath.mpf(a)
        log_pmf = c * mpmath.log(x) - x - mpmath.loggamma(c + 1)
        b = mpmath.exp(log_pmf) / mpmath.gammainc(c + 1, x, mpmath.inf, regularized=True)
        return float(c * b / (c - x + x * b))


def plain_pass(a: float, eps: float) -> int:
    b, j = 1.0, 0
    while True:
        j += 1
        b = erlang_b_from_previous(b, j, a)
        if j > a and erlang_c_from_b(j, a, b) <= eps:
            return j


def hyperfine_median(command: list[str]) -> float | None:
    if shutil.which("hyperfine") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "h.json"
        subprocess.run(
            ["hyperfine", "-N", "--warmup", "5", "--runs", "40", "--export-json", str(export),
             " ".join(command)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        result = json.loads(export.read_text())["results"][0]
        return float(result["median"])


def main() -> None:
    exact = mpmath_erlang_c(SERVERS, LOAD)
    pwf = ErlangC(transactions=LOAD, aht=1.0, asa=1.0, interval=1)
    ours_value = erlang_c(SERVERS, LOAD)
    theirs_value = pwf.waiting_probability(SERVERS)
    ours = median_seconds(lambda: erlang_c(SERVERS, LOAD), repeat=31, number=200)
    theirs = median_seconds(lambda: pwf.waiting_probability(SERVERS), repeat=31)
    print(f"1. P(wait), c = {SERVERS}, a = {LOAD:g}; mpmath: {exact!r}")
    print(f"   capplan     {ours_value!r}  rel.err {abs(ours_value - exact) / exact:.2e}  "
          f"median {ours * 1e6:8.2f} us")  # fmt: skip
    print(f"   pyworkforce {theirs_value!r}  rel.err {abs(theirs_value - exact) / exact:.2e}  "
          f"median {theirs * 1e6:8.2f} us")  # fmt: skip
    print(f"   capplan is {theirs / ours:.0f}x faster")

    c_star = min_servers_erlang_c(SIZING_LOAD, TARGET)
    assert c_star == plain_pass(SIZING_LOAD, TARGET)
    fast = median_seconds(lambda: min_servers_erlang_c(SIZING_LOAD, TARGET), repeat=31, number=20)
    slow = median_seconds(lambda: plain_pass(SIZING_LOAD, TARGET), repeat=5)
    print(f"2. smallest c with P(wait) <= {TARGET:g} at a = {SIZING_LOAD:g}: {c_star}")
    print(f"   capplan fast-start pass {fast * 1e6:8.1f} us   plain pass from c = 1 "
          f"{slow * 1e3:.1f} ms   ({slow / fast:.0f}x)")  # fmt: skip

    capplan = Path(sys.executable).with_name("capplan")
    command = [str(capplan), "queue", "--servers", "400", "--load", "350"]
    wall = hyperfine_median(command)
    shown = "hyperfine not found" if wall is None else f"median {wall * 1e3:.0f} ms"
    print(f"3. `capplan queue --servers 400 --load 350` end to end: {shown}")


if __name__ == "__main__":
    main()
