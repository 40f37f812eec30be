"""Benchmark `capplan profile` against GoAccess and apachelogs on the same generated log.

Usage (from the project root):

    python bench/logs_speed.py [--lines 1000000] [--repeat 3] [--memory-lines 10000000]

The log is written once by `tests.logs.generator` (combined + `%D %k %X`, one line per request
of a known traffic model) into a temporary directory. Each tool runs `--repeat` times on it; the
script prints median lines per second (wall time, and per CPU-second: user + system time of the
command and its worker processes, which a busy machine disturbs less), the ratios, and the
maximum RSS. With `--memory-lines`, it also profiles a log of that many lines and compares the
maximum RSS with the first run (memory must stay flat in the number of lines).

Peers: GoAccess (`goaccess FILE --log-format=... -o out.json`, the format translated to its own
specifiers) and the Python parser apachelogs (`pip install apachelogs`; it is not a dependency
of capplan). apachelogs is timed on the first `--apachelogs-lines` lines only, since it is slow.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.logs.generator import LOG_FORMAT, TrafficModel, write_log  # noqa: E402

GOACCESS_FORMAT = '%h %^ %^ [%d:%t %^] "%r" %s %b "%R" "%u" %D %^ %^'

APACHELOGS_SCRIPT = """
import sys, time, itertools, apachelogs
parser = apachelogs.LogParser(sys.argv[2])
n = int(sys.argv[3])
t = time.perf_counter()
c = time.process_time()
count = 0
with open(sys.argv[1], encoding="utf-8", errors="surrogateescape") as fh:
    for line in itertools.islice(fh, n):
        parser.parse(line)
        count += 1
print(count, time.perf_counter() - t, time.process_time() - c)
"""


def run(
    cmd: list[str], stdout: int | None = subprocess.DEVNULL
) -> tuple[float, int, str, float]:
    """(wall seconds, max RSS in KiB, stdout, CPU seconds of the command and its children).

    The RSS comes from /usr/bin/time: a child forked from this (large) process would inherit its
    high-water mark, so the command must be started from a small process.
    """
    with tempfile.NamedTemporaryFile() as rss_file, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", rss_file.name, *cmd],
                              stdout=stdout, stderr=err, check=False)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace")
            raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {message}")
        rss_text, user_s, sys_s = Path(rss_file.name).read_text().split()[-3:]
    out = proc.stdout.decode(errors="replace") if proc.stdout is not None else ""
    return wall, int(rss_text), out, float(user_s) + float(sys_s)


def capplan_cmd(log: Path, jobs: int) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from capplan.cli import run; run()",
        "profile",
        str(log),
        "-f",
        LOG_FORMAT,
        "-j",
        str(jobs),
        "-o",
        os.devnull,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--apachelogs-lines", type=int, default=200_000)
    parser.add_argument("--memory-lines", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="capplan-bench-") as tmp:
        log = Path(tmp) / "access.log"
        rate = 50.0
        duration = args.lines / (rate * 10.0)
        t = time.perf_counter()
        n = write_log(str(log), TrafficModel(visit_rate_per_s=rate, duration_s=duration), 1)
        size_mb = log.stat().st_size / 1e6
        print(f"log: {n:,} lines, {size_mb:,.0f} MB, written in {time.perf_counter() - t:.1f} s")

        results: dict[str, list[float]] = {}
        per_cpu: dict[str, list[float]] = {}
        rss: dict[str, int] = {}

        def record(name: str, wall: float, max_rss: int, lines: int, cpu_s: float) -> None:
            results.setdefault(name, []).append(lines / wall)
            per_cpu.setdefault(name, []).append(lines / cpu_s)
            rss[name] = max(rss.get(name, 0), max_rss)

        goaccess = shutil.which("goaccess")
        for _ in range(args.repeat):
            for jobs in (1, 2):
                wall, max_rss, _, cpu = run(capplan_cmd(log, jobs))
                record(f"capplan profile -j {jobs}", wall, max_rss, n, cpu)
            if goaccess is not None:
                out = Path(tmp) / "goaccess.json"
                wall, max_rss, _, cpu = run(
                    [
                        goaccess,
                        str(log),
                        "--no-global-config",
                        f"--log-format={GOACCESS_FORMAT}",
                        "--date-format=%d/%b/%Y",
                        "--time-format=%T",
                        "-o",
                        str(out),
                    ]
                )
                record("goaccess (JSON)", wall, max_rss, n, cpu)
            _, max_rss, out_text, _ = run(
                [
                    sys.executable,
                    "-c",
                    APACHELOGS_SCRIPT,
                    str(log),
                    LOG_FORMAT,
                    str(args.apachelogs_lines),
                ],
                stdout=subprocess.PIPE,
            )
            # timed inside the process, around the parse loop only
            parsed, wall_s, cpu_s = out_text.split()
            record("apachelogs (parse only)", float(wall_s), max_rss, int(parsed), float(cpu_s))

        print(f"\n{'tool':<26} {'median lines/s':>15} {'per CPU-second':>15} {'runs':>5} "
              f"{'max RSS':>10}")
        medians = {name: statistics.median(v) for name, v in results.items()}
        for name, value in medians.items():
            print(f"{name:<26} {value:>15,.0f} {statistics.median(per_cpu[name]):>15,.0f} "
                  f"{len(results[name]):>5} {rss[name] / 1024:>8,.0f} MB")
        best = max(medians["capplan profile -j 1"], medians["capplan profile -j 2"])
        cpu_medians = {name: statistics.median(v) for name, v in per_cpu.items()}
        print()
        for peer in ("goaccess (JSON)", "apachelogs (parse only)"):
            if peer in medians:
                for jobs in (1, 2):
                    name = f"capplan profile -j {jobs}"
                    print(f"capplan -j {jobs} / {peer}: {medians[name] / medians[peer]:.1f}x "
                          f"wall, {cpu_medians[name] / cpu_medians[peer]:.1f}x per CPU-second")
        print(f"best capplan: {best:,.0f} lines/s")

        if args.memory_lines:
            big = Path(tmp) / "big.log"
            m_duration = args.memory_lines / (rate * 10.0)
            m = write_log(str(big), TrafficModel(visit_rate_per_s=rate, duration_s=m_duration), 2)
            log.unlink()
            print(f"\nmemory: {m:,}-line log ({big.stat().st_size / 1e9:.1f} GB)")
            for jobs in (1, 2):
                wall, max_rss, _, _ = run(capplan_cmd(big, jobs))
                small_rss = rss[f"capplan profile -j {jobs}"]
                print(
                    f"capplan -j {jobs}: {m / wall:,.0f} lines/s, max RSS {max_rss / 1024:,.0f} "
                    f"MB ({n:,} lines: {small_rss / 1024:,.0f} MB)"
                )


if __name__ == "__main__":
    main()
