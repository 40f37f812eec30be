"""How long `capplan measure` takes on a prefork server with 50 children.

Run from the project root: `python -m bench.measure_speed [--children 50] [--runs 20]`.

Starts Debian's apache2 (prefork, StartServers = MinSpareServers = N) on 127.0.0.1 under a private
ServerRoot, waits until all N children run, then times
  1. `capplan measure --pid PID --no-status --format json` end to end with hyperfine
     (process start-up, discovery, all /proc reads, rendering), and
  2. the core function `measure_memory(pid=PID)` in-process (median of --runs calls),
and prints medians. The target is under 0.5 s end to end. apache2buddy, the usual peer, is not
packaged (it is a Perl script fetched from the network and needs root plus `pmap` per process), so
only capplan's figures are reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from capplan.measure import measure_memory
from tests.httpd import base_config, free_port, prepare_root, running_server


def _children(pid: int) -> list[int]:
    return [int(w) for w in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _capplan() -> str:
    found = shutil.which("capplan") or str(Path(sys.executable).parent / "capplan")
    if not Path(found).exists():
        raise SystemExit("capplan is not installed in this environment (pip install -e .)")
    return found


def _hyperfine_median_s(hyperfine: str, command: str, runs: int, export: Path) -> float:
    options = ["--warmup", "3", "--runs", str(runs), "--export-json", str(export)]
    subprocess.run([hyperfine, *options, "--style", "basic", command], check=True)
    return float(json.loads(export.read_text())["results"][0]["median"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=50)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    n = args.children
    hyperfine = shutil.which("hyperfine")
    capplan = _capplan()

    with tempfile.TemporaryDirectory(prefix="capplan-bench-") as tmp:
        root = Path(tmp)
        prepare_root(root)
        port = free_port()
        conf = root / "conf" / "httpd.conf"
        conf.write_text(
            base_config(root, "prefork", port)
            + f"ServerLimit {n}\nMaxRequestWorkers {n}\n"
            + f"StartServers {n}\nMinSpareServers {n}\nMaxSpareServers {n}\n"
        )
        with running_server(root, conf, port) as server:
            deadline = time.monotonic() + 30
            while len(_children(server.pid)) < n and time.monotonic() < deadline:
                time.sleep(0.1)
            children = len(_children(server.pid))
            print(f"prefork server PID {server.pid} with {children} children")

            durations_s = []
            for _ in range(args.runs):
                start = time.perf_counter()
                m = measure_memory(pid=server.pid)
                durations_s.append(time.perf_counter() - start)
            assert m.memory is not None
            assert m.memory.processes == children
            core_s = statistics.median(durations_s)
            print(
                f"measure_memory() in-process: median {core_s * 1e3:.1f} ms over {args.runs} runs"
            )

            command = f"{capplan} measure --pid {server.pid} --no-status --format json"
            if hyperfine is None:
                print("hyperfine not found: end-to-end timing skipped")
                return 1
            export = root / "hyperfine.json"
            median_s = _hyperfine_median_s(hyperfine, command, args.runs, export)
            startup_s = _hyperfine_median_s(
                hyperfine, f"{capplan} measure --help", args.runs, export
            )
    print()
    print(f"children                         {children}")
    print(f"capplan measure (end to end)     median {median_s * 1e3:.1f} ms (target < 500 ms)")
    print(f"capplan measure --help           median {startup_s * 1e3:.1f} ms (CLI start-up)")
    print(f"measure_memory() (in-process)    median {core_s * 1e3:.1f} ms")
    return 0 if median_s < 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
