#!/usr/bin/env bash
# End-to-end speed of `capplan recommend` (all three MPMs) on the Debian example with every
# shipped profile, as a process, with hyperfine. Budget: 0.3 s wall median for each.
#
# Run beside it, in the same hyperfine run, the floors it cannot go below: the CLI start-up
# (`capplan --help`) and reading the same config (`capplan inspect`), plus `check` and `compare`.
#
# Usage: bench/recommend_speed.sh [extra hyperfine options]   (from the project root)
set -euo pipefail
cd "$(dirname "$0")/.."

capplan=${CAPPLAN:-capplan}
config=examples/debian/apache2/apache2.conf
profile=profiles/wordpress-prefork.yaml
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

recommend=()
for shipped in wordpress-prefork php-fpm-event static-site json-api-lb browser-heavy seasonal-peak; do
    recommend+=(-n "capplan recommend -p $shipped" \
        "$capplan recommend $config -p profiles/$shipped.yaml --somaxconn 4096")
done

hyperfine --warmup 3 --runs 20 --export-json "$out/recommend.json" "$@" \
    -n "capplan --help (start-up floor)" "$capplan --help" \
    -n "capplan inspect (config floor)" "$capplan inspect $config --somaxconn 4096" \
    "${recommend[@]}" \
    -n "capplan recommend --format json" \
    "$capplan recommend $config -p $profile --somaxconn 4096 --format json" \
    -n "capplan check" "$capplan check $config -p $profile --somaxconn 4096 || true" \
    -n "capplan compare (2 profiles)" \
    "$capplan compare $profile profiles/php-fpm-event.yaml -c $config --somaxconn 4096"

python3 - "$out/recommend.json" <<'PY'
import json
import sys

results = json.load(open(sys.argv[1]))["results"]
floor = results[0]["median"]
print(f"\n{'command':<40} {'median':>9} {'vs start-up':>12}")
for r in results:
    print(f"{r['command']:<40} {r['median'] * 1000:7.0f} ms {r['median'] / floor:11.2f}x")
shipped = [r for r in results if r["command"].startswith("capplan recommend -p ")]
worst = max(shipped, key=lambda r: r["median"])
verdict = "within" if worst["median"] < 0.3 else "OVER"
print(f"\nslowest shipped profile: {worst['command']}, median {worst['median']:.3f} s: {verdict} "
      "the 0.3 s budget")
PY
