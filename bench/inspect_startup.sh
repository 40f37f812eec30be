#!/usr/bin/env bash
# Start-up and end-to-end time of `capplan inspect`, side by side with apache2 in one hyperfine run.
#
# Run from the project root with capplan installed (pip install -e .): bash bench/inspect_startup.sh
#
#   1. `capplan inspect --help`   the target: under 0.15 s
#   2. `capplan --help`           typer and the command table, no command code
#   3. a one-option typer command's `--help`: the floor every typer subcommand pays (typer 0.29
#      builds its parameter adapters with pydantic)
#   4. `capplan inspect CONF`     the Debian example end to end (evaluator, MPM stage, table)
#   5. `apache2 -t` on CONF       the peer: httpd reading and checking the same tree
#
# Results (hyperfine's JSON and markdown) go to bench/out/; the script prints the medians and the
# ratio of (4) to (5). RUNS sets the number of runs (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."

capplan=$(command -v capplan || true)
[ -n "$capplan" ] || { echo "capplan is not installed (pip install -e .)" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 2; }
apache2=$(command -v apache2 || echo /usr/sbin/apache2)
python=$(head -n 1 "$capplan" | sed 's/^#!//')

out=bench/out
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A copy of the Debian example whose envvars point run and log directories into the copy.
cp -r examples/debian/apache2 "$work/apache2"
mkdir -p "$work/run" "$work/www/html" "$work/www/shop/public"
grep -rl /var/www "$work/apache2" | xargs sed -i "s#/var/www#$work/www#g"
{
    echo "export APACHE_RUN_DIR=$work/run"
    echo "export APACHE_LOCK_DIR=$work/run"
    echo "export APACHE_PID_FILE=$work/run/apache2.pid"
    echo "export APACHE_LOG_DIR=$work"
} >>"$work/apache2/envvars"
conf="$work/apache2/apache2.conf"
apache_t=". '$work/apache2/envvars' && exec '$apache2' -d '$work/apache2' -f apache2.conf -t"

# The smallest typer application with a subcommand that has one option.
printf '%s\n' \
    'import typer' \
    'app = typer.Typer(add_completion=False, rich_markup_mode=None)' \
    '@app.command()' \
    'def cmd(name: str = typer.Option("x", help="a name")) -> None: ...' \
    '@app.command()' \
    'def other() -> None: ...' \
    'app()' >"$work/floor.py"

hyperfine --warmup 3 --runs "${RUNS:-30}" --shell=none \
    --export-json "$out/inspect_startup.json" --export-markdown "$out/inspect_startup.md" \
    -n "capplan inspect --help" "$capplan inspect --help" \
    -n "capplan --help" "$capplan --help" \
    -n "typer subcommand --help (floor)" "$python $work/floor.py cmd --help" \
    -n "capplan inspect (Debian example)" "$capplan inspect $conf --somaxconn 4096" \
    -n "apache2 -t (Debian example)" "bash -c \"$apache_t\""

"$python" - "$out/inspect_startup.json" <<'PY'
import json
import sys

with open(sys.argv[1]) as handle:
    results = {r["command"]: r for r in json.load(handle)["results"]}
for name, result in results.items():
    print(f"{name:36s} median {result['median'] * 1000:7.1f} ms")
help_s = results["capplan inspect --help"]["median"]
print(f"inspect --help under 0.15 s: {'yes' if help_s < 0.15 else 'NO'} ({help_s * 1000:.1f} ms)")
floor_s = results["typer subcommand --help (floor)"]["median"]
print(f"inspect --help minus the typer floor: {(help_s - floor_s) * 1000:.1f} ms")
ratio = (
    results["capplan inspect (Debian example)"]["median"]
    / results["apache2 -t (Debian example)"]["median"]
)
print(f"capplan inspect / apache2 -t on the same tree: {ratio:.2f}x")
PY
