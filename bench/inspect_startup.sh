#!/usr/bin/env bash
# Start-up and end-to-end time of `capplan inspect`, side by side with apache2 in one hyperfine run.
#
# Run from the project root with capplan installed (pip install -e .): bash bench/inspect_startup.sh
#
#   1. `capplan inspect --help`   the target: under 0.15 s (typer alone costs about 0.12 s)
#   2. `capplan --help`           the floor: typer and the command table, no command code
#   3. `capplan inspect CONF`     the Debian example end to end (evaluator, MPM stage, table)
#   4. `apache2 -t` on CONF       the peer: httpd reading and checking the same tree
#
# Results (hyperfine's JSON and markdown) go to bench/out/; the script prints the medians and the
# ratio of (3) to (4).
set -euo pipefail
cd "$(dirname "$0")/.."

capplan=$(command -v capplan || true)
[ -n "$capplan" ] || { echo "capplan is not installed (pip install -e .)" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 2; }
apache2=$(command -v apache2 || echo /usr/sbin/apache2)

out=bench/out
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A copy of the Debian example whose envvars point run and log directories into the copy.
cp -r examples/debian/apache2 "$work/apache2"
mkdir -p "$work/run" "$work/www/html" "$work/www/shop/public"
grep -rl /var/www "$work/apache2" | xargs sed -i "s#/var/www#$work/www#g"
cat >>"$work/apache2/envvars" <<EOF
export APACHE_RUN_DIR=$work/run
export APACHE_LOCK_DIR=$work/run
export APACHE_PID_FILE=$work/run/apache2.pid
export APACHE_LOG_DIR=$work
EOF
conf="$work/apache2/apache2.conf"
apache_t=". '$work/apache2/envvars' && exec '$apache2' -d '$work/apache2' -f apache2.conf -t"

hyperfine --warmup 3 --runs "${RUNS:-30}" --shell=none \
    --export-json "$out/inspect_startup.json" --export-markdown "$out/inspect_startup.md" \
    -n "capplan inspect --help" "$capplan inspect --help" \
    -n "capplan --help" "$capplan --help" \
    -n "capplan inspect (Debian example)" "$capplan inspect $conf --somaxconn 4096" \
    -n "apache2 -t (Debian example)" "bash -c \"$apache_t\""

python3 - "$out/inspect_startup.json" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
for name, r in results.items():
    print(f"{name:36s} median {r['median'] * 1000:7.1f} ms")
help_s = results["capplan inspect --help"]["median"]
print(f"inspect --help under 0.15 s: {'yes' if help_s < 0.15 else 'NO'} ({help_s * 1000:.1f} ms)")
ratio = results["capplan inspect (Debian example)"]["median"] / results["apache2 -t (Debian example)"]["median"]
print(f"capplan inspect / apache2 -t on the same tree: {ratio:.2f}x")
PY
