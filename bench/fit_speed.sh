#!/usr/bin/env bash
# Speed of `capplan fit`, as a process, with hyperfine. Budgets: `fit` 0.3 s wall median;
# `fit --reserve-measured` 0.5 s with 200 more processes on the box.
#
# 200 `sleep` processes are started for the run (bounded: each exits by itself after 600 s) and
# killed by their PIDs at the end. Beside capplan, in the same hyperfine run: the CLI start-up
# floor (`capplan --help`), `ps -eo rss,comm` (the RSS listing apache2buddy-style tools read) and,
# when installed, `smem` (PSS per process, the ps_mem way), which read the same /proc files.
#
# Usage: bench/fit_speed.sh [extra hyperfine options]   (from the project root)
set -euo pipefail
cd "$(dirname "$0")/.."

capplan=${CAPPLAN:-capplan}
config=examples/debian/apache2/apache2.conf
out=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$out"
}
trap cleanup EXIT

for _ in $(seq 200); do
    sleep 600 &
    pids+=("$!")
done
echo "bench: $(ls -d /proc/[0-9]* | wc -l) processes on the box (200 sleep processes added);" \
    "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

peers=()
if command -v smem >/dev/null; then
    peers+=(-n "smem -c 'name pss' (PSS per process, peer)" "smem -c 'name pss' >/dev/null")
fi
hyperfine --warmup 3 --runs 20 --export-json "$out/fit.json" "$@" \
    -n "capplan --help (start-up floor)" "$capplan --help" \
    -n "capplan fit --ram 8GiB" "$capplan fit $config --ram 8GiB" \
    -n "capplan fit (this machine's RAM)" "$capplan fit $config" \
    -n "capplan fit -p wordpress-prefork" "$capplan fit $config -p wordpress-prefork" \
    -n "capplan fit --reserve-measured" "$capplan fit $config --reserve-measured" \
    -n "ps -eo rss,comm (RSS listing, peer)" "ps -eo rss,comm >/dev/null" \
    "${peers[@]}"

python3 - "$out/fit.json" <<'PY'
import json
import sys

results = json.load(open(sys.argv[1]))["results"]
floor = results[0]["median"]
print(f"\n{'command':<44} {'median':>9} {'vs start-up':>12} {'CPU (user+sys)':>15}")
for r in results:
    cpu = (r["user"] + r["system"]) * 1000
    print(f"{r['command']:<44} {r['median'] * 1000:7.0f} ms {r['median'] / floor:11.2f}x "
          f"{cpu:12.0f} ms")
budgets = {"capplan fit --ram 8GiB": 0.3, "capplan fit --reserve-measured": 0.5}
for name, budget in budgets.items():
    r = next(r for r in results if r["command"] == name)
    verdict = "within" if r["median"] < budget else "OVER"
    print(f"{name} median {r['median']:.3f} s: {verdict} the {budget} s budget")
PY
