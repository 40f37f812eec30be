#!/usr/bin/env bash
# End-to-end speed of `capplan sweep` and of the HTML reports, as processes, with hyperfine.
# Budgets: a 50-point rate sweep of the three MPMs as a table under 1 s; an HTML report
# (matplotlib's import included) under 2 s; medians.
#
# Run beside them, in the same hyperfine run, the floors: the CLI start-up (`capplan --help`),
# `recommend` as a table (what the HTML adds to), and the import of matplotlib alone (the
# start-up cost `--format html` cannot avoid and every other format never pays).
#
# Usage: bench/sweep_speed.sh [extra hyperfine options]   (from the project root)
set -euo pipefail
cd "$(dirname "$0")/.."

capplan=${CAPPLAN:-capplan}
python=${PYTHON:-python3}
config=examples/debian/apache2/apache2.conf
profile=profiles/wordpress-prefork.yaml
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

hyperfine --warmup 2 --runs 15 --export-json "$out/sweep.json" "$@" \
    -n "capplan --help (start-up floor)" "$capplan --help" \
    -n "import matplotlib (html floor)" \
    "$python -c 'import matplotlib.figure, matplotlib.backends.backend_svg'" \
    -n "recommend (table)" "$capplan recommend $config -p $profile --somaxconn 4096" \
    -n "sweep 50 rates x 3 MPMs (table)" \
    "$capplan sweep $config -p $profile --somaxconn 4096 --vary rate=0.1x:5x:0.1x" \
    -n "sweep 50 rates x 3 MPMs (json)" \
    "$capplan sweep $config -p $profile --somaxconn 4096 --vary rate=0.1x:5x:0.1x --format json" \
    -n "sweep 50 rates x 3 MPMs (html)" \
    "$capplan sweep $config -p $profile --somaxconn 4096 --vary rate=0.1x:5x:0.1x --format html -o $out/s.html" \
    -n "recommend (html)" \
    "$capplan recommend $config -p $profile --somaxconn 4096 --format html -o $out/r.html" \
    -n "compare 2 profiles (html)" \
    "$capplan compare $profile profiles/php-fpm-event.yaml -c $config --somaxconn 4096 --format html -o $out/c.html"

python3 - "$out/sweep.json" <<'PY'
import json
import sys

results = json.load(open(sys.argv[1]))["results"]
floor = results[0]["median"]
print(f"\n{'command':<36} {'median':>9} {'vs start-up':>12}")
for r in results:
    print(f"{r['command']:<36} {r['median'] * 1000:7.0f} ms {r['median'] / floor:11.2f}x")
budgets = {
    "sweep 50 rates x 3 MPMs (table)": 1.0,
    "sweep 50 rates x 3 MPMs (html)": 2.0,
    "recommend (html)": 2.0,
    "compare 2 profiles (html)": 2.0,
}
print()
for r in results:
    if r["command"] in budgets:
        budget = budgets[r["command"]]
        verdict = "within" if r["median"] < budget else "OVER"
        print(f"{r['command']}: median {r['median']:.3f} s, {verdict} the {budget:g} s budget")
PY
