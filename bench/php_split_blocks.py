"""CPU time of the block scanner with and without the PHP split, alternating in one process.

Usage (from the project root):

    python bench/php_split_blocks.py [--rounds 25]

One 8 MiB block of the benchmark's log (bench/logs_speed.py: combined + `%D %k %X`) and the same
block with a `%>R` field appended (FPM's handler on `/` and `/api/…`, a third of the requests;
`-` on the rest) are scanned in turn with each plan: no split, `--php-urls '^/api/|^/$'` (on
the path in `%r`), `--php` on `%r` (the default `\\.php$`, no match) and `--php` by handler. The
plans alternate round by round, so a busy machine slows them alike; the script prints the median
and minimum CPU time (`time.process_time`) per plan and the change against no split.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from capplan.logs.logformat import compile_format
from capplan.logs.parse import ScanPlan, make_plan, scan_block
from capplan.logs.php_split import PhpRule, resolve_split
from capplan.logs.reader import BLOCK_BYTES
from tests.logs.generator import LOG_FORMAT, TrafficModel, log_lines

FPM = " proxy:unix:/run/php/php8.2-fpm.sock|fcgi://localhost"


def _block() -> tuple[bytes, bytes]:
    """The first whole lines (up to 8 MiB) of the benchmark's log, and them with %>R."""
    plain: list[str] = []
    with_handler: list[str] = []
    size = 0
    for line in log_lines(TrafficModel(visit_rate_per_s=50.0, duration_s=2000.0), 1):
        size += len(line)
        if size > BLOCK_BYTES:
            break
        path = line.split('"', 2)[1].split(" ")[1]
        php = path == "/" or path.startswith("/api/")
        plain.append(line)
        with_handler.append(line[:-1] + (FPM if php else " -") + "\n")
    return "".join(plain).encode(), "".join(with_handler).encode()


def _plan(fmt: str, rule: PhpRule | None) -> ScanPlan:
    compiled = compile_format(fmt)
    split = None if rule is None else resolve_split(rule, compiled, ("bench",))
    return make_plan(compiled, window_s=1.0, visit_gap_s=300.0, php=split)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    plain, with_handler = _block()
    handler_format = LOG_FORMAT + " %>R"
    cases = {
        "no split": (_plan(LOG_FORMAT, None), plain),
        "--php-urls '^/api/|^/$' (%r)": (
            _plan(LOG_FORMAT, PhpRule(url_pattern=r"^/api/|^/$")),
            plain,
        ),
        "--php (%r, no match)": (_plan(LOG_FORMAT, PhpRule()), plain),
        "%>R log, no split": (_plan(handler_format, None), with_handler),
        "%>R log, --php (handler)": (_plan(handler_format, PhpRule()), with_handler),
    }
    lines = plain.count(b"\n")
    print(f"block: {lines:,} lines, {len(plain) / 2**20:.1f} MiB")
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, (plan, data) in cases.items():
            start = time.process_time()
            scan_block(plan, data)
            times[name].append(time.process_time() - start)
    base = {
        False: statistics.median(times["no split"]),
        True: statistics.median(times["%>R log, no split"]),
    }
    print(f"{'plan':<32} {'median':>9} {'min':>9} {'vs no split':>12}")
    for name, values in times.items():
        median = statistics.median(values)
        change = median / base[name.startswith("%>R")] - 1.0
        print(f"{name:<32} {median * 1e3:>7.1f}ms {min(values) * 1e3:>7.1f}ms {change:>+11.1%}")


if __name__ == "__main__":
    main()
