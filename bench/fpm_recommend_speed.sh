#!/usr/bin/env bash
# End-to-end speed of `capplan recommend` with PHP-FPM (a php: section and --fpm-pool) beside the
# same command without PHP, in one hyperfine run. Budget: 0.3 s wall median, as without PHP.
#
# BEFORE="command" adds a build without PHP-FPM support (e.g. `python -m capplan.cli` from an
# unpacked older tree) as the reference for the run without PHP.
#
# Usage: bench/fpm_recommend_speed.sh [extra hyperfine options]   (from the project root)
set -euo pipefail
cd "$(dirname "$0")/.."

capplan=${CAPPLAN:-capplan}
config=examples/debian/apache2/apache2.conf
php=bench/fpm/wordpress-fpm.yaml
pool=tests/data/fpm/debian/pool.d/www.conf
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The same profile without its php: section: the only difference between the two commands.
plain=$out/no-php.yaml
sed '/^php:/,$d' "$php" > "$plain"

extra=()
if [ -n "${BEFORE:-}" ]; then
    extra=(-n "before: recommend, no php" "$BEFORE recommend $config -p $plain --somaxconn 4096")
fi
hyperfine --warmup 3 --runs 20 --export-json "$out/fpm.json" "$@" "${extra[@]}" \
    -n "recommend, no php" "$capplan recommend $config -p $plain --somaxconn 4096" \
    -n "recommend, php + --fpm-pool" \
    "$capplan recommend $config -p $php --fpm-pool $pool --somaxconn 4096" \
    -n "recommend --format json, php" \
    "$capplan recommend $config -p $php --fpm-pool $pool --somaxconn 4096 --format json" \
    -n "check, php" "$capplan check $config -p $php --fpm-pool $pool --somaxconn 4096 || true"

python3 - "$out/fpm.json" <<'PY'
import json
import sys

results = json.load(open(sys.argv[1]))["results"]
base = next(r for r in results if r["command"] == "recommend, no php")["median"]
print(f"\n{'command':<32} {'median':>9} {'vs no php':>10}")
for r in results:
    print(f"{r['command']:<32} {r['median'] * 1000:7.0f} ms {r['median'] / base:9.2f}x")
php = next(r for r in results if r["command"] == "recommend, php + --fpm-pool")
verdict = "within" if php["median"] < 0.3 else "OVER"
print(f"\nrecommend with PHP-FPM median {php['median']:.3f} s: {verdict} the 0.3 s budget")
PY
