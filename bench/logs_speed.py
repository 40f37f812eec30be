"""Benchmark `capplan profile` against GoAccess and apachelogs on the same generated log.

Usage (from the project root):

    python bench/logs_speed.py [--lines 1000000] [--repeat 3] [--memory-lines 10000000]
                               [--dask-workers 1,2,4]

The log is written once by `tests.logs.generator` (combined + `%D %k %X`, one line per request
of a known traffic model) into a temporary directory. Each tool runs `--repeat` times on it; the
script prints median lines per second (wall time, and per CPU-second: user + system time of the
command and its worker processes, which a busy machine disturbs less), the ratios, and the
maximum RSS. With `--memory-lines`, it also profiles a log of that many lines and compares the
maximum RSS with the first run (memory must stay flat in the number of lines).

Peers: GoAccess (`goaccess FILE --log-format=... -o out.json`, the format translated to its own
specifiers) and the Python parser apachelogs (`pip install apachelogs`; it is not a dependency
of capplan). apachelogs is timed on the first `--apachelogs-lines` lines only, since it is slow.

With `--dask-workers` (needs `capplan[dask]`), the same log is also profiled with `--dask` on a
running cluster of 1, 2 and 4 worker processes on this machine (`dask scheduler` and
`dask worker --nworkers N --nthreads 1`, started and stopped by the script): the time is that
of the whole `capplan profile --dask ADDRESS` command, connecting included, cluster start-up
excluded (as on a cluster that is already up). Each profile is compared with the local scan's,
byte for byte. Per CPU-second and RSS are the client's only for these rows, so not shown.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


def run(cmd: list[str], stdout: int | None = subprocess.DEVNULL) -> tuple[float, int, str, float]:
    """(wall seconds, max RSS in KiB, stdout, CPU seconds of the command and its children).

    The RSS comes from /usr/bin/time: a child forked from this (large) process would inherit its
    high-water mark, so the command must be started from a small process.
    """
    with tempfile.NamedTemporaryFile() as rss_file, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M %U %S", "-o", rss_file.name, *cmd],
            stdout=stdout,
            stderr=err,
            check=False,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace")
            raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {message}")
        rss_text, user_s, sys_s = Path(rss_file.name).read_text().split()[-3:]
    out = proc.stdout.decode(errors="replace") if proc.stdout is not None else ""
    return wall, int(rss_text), out, float(user_s) + float(sys_s)


def capplan_cmd(
    log: Path, jobs: int, dask: str | None = None, output: str = os.devnull
) -> list[str]:
    where = ["-j", str(jobs)] if dask is None else ["--dask", dask]
    return [
        sys.executable,
        "-c",
        "from capplan.cli import run; run()",
        "profile",
        str(log),
        "-f",
        LOG_FORMAT,
        *where,
        "-o",
        output,
    ]


@contextlib.contextmanager
def dask_cluster(workers: int, tmp: Path) -> Iterator[str]:
    """A scheduler and `workers` single-thread worker processes on 127.0.0.1; yields the
    scheduler address, then stops both by PID."""
    from distributed import Client

    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    file = tmp / f"scheduler-{workers}.json"
    scheduler = subprocess.Popen(
        [
            *dask,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                "--scheduler-file",
                str(file),
                "--nworkers",
                str(workers),
                "--nthreads",
                "1",
                "--no-dashboard",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with Client(scheduler_file=str(file), timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
            address = str(client.scheduler.address)
        yield address
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--apachelogs-lines", type=int, default=200_000)
    parser.add_argument("--memory-lines", type=int, default=0)
    parser.add_argument(
        "--dask-workers", default="", help="comma-separated worker counts for --dask, e.g. 1,2,4"
    )
    args = parser.parse_args()
    dask_workers = [int(w) for w in args.dask_workers.split(",") if w]

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

        print(
            f"\n{'tool':<26} {'median lines/s':>15} {'per CPU-second':>15} {'runs':>5} "
            f"{'max RSS':>10}"
        )
        medians = {name: statistics.median(v) for name, v in results.items()}
        for name, value in medians.items():
            print(
                f"{name:<26} {value:>15,.0f} {statistics.median(per_cpu[name]):>15,.0f} "
                f"{len(results[name]):>5} {rss[name] / 1024:>8,.0f} MB"
            )
        best = max(medians["capplan profile -j 1"], medians["capplan profile -j 2"])
        cpu_medians = {name: statistics.median(v) for name, v in per_cpu.items()}
        if dask_workers:
            reference = Path(tmp) / "local.yaml"
            run(capplan_cmd(log, 1, output=str(reference)))
            print()
            for workers in dask_workers:
                rates = []
                with dask_cluster(workers, Path(tmp)) as address:
                    for _ in range(args.repeat):
                        out = Path(tmp) / "dask.yaml"
                        wall, _, _, _ = run(capplan_cmd(log, 0, dask=address, output=str(out)))
                        rates.append(n / wall)
                        if out.read_bytes() != reference.read_bytes():
                            raise SystemExit(f"--dask with {workers} workers: profile differs")
                label = f"capplan --dask, {workers} worker{'s' if workers > 1 else ''}"
                print(
                    f"{label:<26} {statistics.median(rates):>15,.0f} {'':>15} "
                    f"{len(rates):>5}   (same profile as -j 1, byte for byte)"
                )
        print()
        for peer in ("goaccess (JSON)", "apachelogs (parse only)"):
            if peer in medians:
                for jobs in (1, 2):
                    name = f"capplan profile -j {jobs}"
                    print(
                        f"capplan -j {jobs} / {peer}: {medians[name] / medians[peer]:.1f}x "
                        f"wall, {cpu_medians[name] / cpu_medians[peer]:.1f}x per CPU-second"
                    )
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
