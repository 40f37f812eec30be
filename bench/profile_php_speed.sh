#!/usr/bin/env bash
# Speed of `capplan profile --php` against the same command without the split, with hyperfine,
# on the log of bench/logs_speed.py (combined + `%D %k %X`, 1,000,000 requests by default).
#
# Rows: no split; `--php-urls` on the path in `%r` (a third of the requests match); `--php` on
# the request line (the default `\.php$`, which matches none there); and the same log with a
# `%>R` field appended (FPM's handler on the matching third, `-` on the rest), without
# and with `--php` (the default handler rule). With BASE=DIR, a checkout of another version runs
# first, without the split, on both logs: the split must not slow the path without it.
#
# Usage: bench/profile_php_speed.sh [LINES] [extra hyperfine options]   (from the project root)
set -euo pipefail
cd "$(dirname "$0")/.."

lines=${1:-1000000}
shift || true
python=${PYTHON:-python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$python" - "$out" "$lines" <<'PY'
import sys

from tests.logs.generator import TrafficModel, write_log

out, lines = sys.argv[1], int(sys.argv[2])
n = write_log(f"{out}/access.log", TrafficModel(visit_rate_per_s=50.0, duration_s=lines / 500), 1)
fpm = b" proxy:unix:/run/php/php8.2-fpm.sock|fcgi://localhost\n"
with open(f"{out}/access.log", "rb") as src, open(f"{out}/access-R.log", "wb") as dst:
    for line in src:
        path = line.split(b'"', 2)[1].split(b" ")[1]
        php = path == b"/" or path.startswith(b"/api/")
        dst.write(line[:-1] + (fpm if php else b" -\n"))
print(f"bench: {n:,} lines; load average {open('/proc/loadavg').read().split()[0]}")
PY

fmt='%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D %k %X'
run="-c 'from capplan.cli import run; run()' profile"
here="env PYTHONPATH=$PWD $python $run"
rows=()
if [[ -n "${BASE:-}" ]]; then
    base="env PYTHONPATH=$BASE $python $run"
    rows+=(-n "BASE, no split" "$base $out/access.log -f '$fmt' -j 1 -o /dev/null")
    rows+=(-n "BASE, %>R log, no split" "$base $out/access-R.log -f '$fmt %>R' -j 1 -o /dev/null")
fi
hyperfine -N --warmup 1 --runs 5 --export-json "$out/php.json" "$@" \
    "${rows[@]}" \
    -n "no split" "$here $out/access.log -f '$fmt' -j 1 -o /dev/null" \
    -n "php-urls '^/api/|^/\$' (%r)" \
    "$here $out/access.log -f '$fmt' -j 1 --php-urls '^/api/|^/\$' -o /dev/null" \
    -n "php (%r, no match)" "$here $out/access.log -f '$fmt' -j 1 --php -o /dev/null" \
    -n "%>R log, no split" "$here $out/access-R.log -f '$fmt %>R' -j 1 -o /dev/null" \
    -n "%>R log, php (handler)" "$here $out/access-R.log -f '$fmt %>R' -j 1 --php -o /dev/null"

"$python" - "$out/php.json" <<'PY'
import json
import sys

results = json.load(open(sys.argv[1]))["results"]
print(f"\n{'command':<34} {'median':>9} {'CPU (user+sys) mean':>20}")
for r in results:
    print(f"{r['command']:<34} {r['median']:>8.2f}s {r['user'] + r['system']:>19.2f}s")
PY
