"""Benchmark: evaluate a 10,000-vhost config in 1,000 included files, side by side with httpd.

Generates the tree under a temporary directory, then times, in one run and alternating, inside
`command_runtime()` as the command line runs it (the cyclic collector paused):
  * `evaluate_config()` in this process (the evaluator alone),
  * a fresh `python -c evaluate_config(...)` process (interpreter start-up included),
  * `apache2 -t` on the same tree (httpd's own read of the same files, start-up included).
Prints medians and the ratios. Target: capplan under 1 s and faster than `apache2 -t`.
`--style debian` (default) writes vhosts as Debian's a2ensite template does; `--style heavy`
gives every vhost a continuation line, quotes, a ${VAR}, an <IfModule> and a <Directory>.

Usage: python bench/config_speed.py [--style heavy|debian] [--vhosts 10000] [--files 1000]
                                    [--runs 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from capplan.config.evaluator import evaluate_config
from capplan.runtime import command_runtime

MODULES = Path("/usr/lib/apache2/modules")


# A vhost as Debian's a2ensite template writes it.
DEBIAN_VHOST = """<VirtualHost *:8080>
\tServerName site{number}.example.com
\tServerAdmin webmaster@localhost
\tDocumentRoot {root}/htdocs
\tErrorLog ${{APACHE_LOG_DIR}}/site{number}-error.log
\tCustomLog ${{APACHE_LOG_DIR}}/site{number}-access.log combined
</VirtualHost>
"""
# A vhost that uses most of what the evaluator handles: continuation, quotes, ${VAR}, an
# <IfModule> and a <Directory> section.
HEAVY_VHOST = """# site {number}
<VirtualHost 127.0.0.1:8080>
    ServerName site{number}.example.com
    ServerAlias www.site{number}.example.com \\
        static.site{number}.example.com
    DocumentRoot "{root}/${{DOCROOT}}"
    <IfModule mpm_event_module>
        KeepAliveTimeout 5
    </IfModule>
    <Directory "{root}/htdocs/site{number}">
        Require all granted
    </Directory>
</VirtualHost>
"""
STYLES = {"debian": DEBIAN_VHOST, "heavy": HEAVY_VHOST}


def build_tree(root: Path, vhosts: int, files: int, style: str = "debian") -> Path:
    """A main config plus `files` files under sites/, `vhosts` vhosts spread evenly over them."""
    (root / "run").mkdir()
    (root / "logs").mkdir()
    (root / "htdocs").mkdir()
    (root / "sites").mkdir()
    main = root / "httpd.conf"
    main.write_text(
        "\n".join(
            [
                f'ServerRoot "{root}"',
                f'DefaultRuntimeDir "{root}/run"',
                f'PidFile "{root}/run/httpd.pid"',
                f'ErrorLog "{root}/logs/error.log"',
                "ServerName localhost",
                "Define DOCROOT htdocs",
                f"Define APACHE_LOG_DIR {root}/logs",
                'LogFormat "%h %l %u %t \\"%r\\" %>s %O" combined',
                f"LoadModule mpm_event_module {MODULES}/mod_mpm_event.so",
                f"LoadModule authz_core_module {MODULES}/mod_authz_core.so",
                "<IfModule mpm_event_module>",
                "    ThreadsPerChild 25",
                "    MaxRequestWorkers 400",
                "</IfModule>",
                "Listen 127.0.0.1:8080",
                "IncludeOptional sites/*.conf",
                "",
            ]
        )
    )
    per_file = vhosts // files
    template = STYLES[style]
    number = 0
    for index in range(files):
        blocks = []
        for _ in range(per_file):
            number += 1
            blocks.append(template.format(number=number, root=root))
        (root / "sites" / f"site{index:04d}.conf").write_text("".join(blocks))
    return main


def _time_command(args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vhosts", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--style", choices=sorted(STYLES), default="debian")
    options = parser.parse_args()
    apache2 = shutil.which("apache2") or "/usr/sbin/apache2"
    with tempfile.TemporaryDirectory(prefix="capplan-bench-") as tmp:
        root = Path(tmp)
        main_file = build_tree(root, options.vhosts, options.files, options.style)
        with command_runtime():
            result = evaluate_config(main_file, environ={})
        print(
            f"tree: {options.vhosts} {options.style} vhosts in {options.files} files, "
            f"{len(result.directives)} directives, {len(result.files_read)} files read"
        )
        in_process: list[float] = []
        capplan_process: list[float] = []
        httpd: list[float] = []
        script = (
            "from capplan.config.evaluator import evaluate_config; "
            "from capplan.runtime import command_runtime\n"
            "with command_runtime():\n"
            f"    evaluate_config({str(main_file)!r}, environ={{}})"
        )
        for _ in range(options.runs):
            with command_runtime():
                start = time.perf_counter()
                kept = evaluate_config(main_file, environ={})
                in_process.append(time.perf_counter() - start)
            del kept  # freeing the result is not part of evaluating
            capplan_process.append(_time_command([sys.executable, "-c", script]))
            httpd.append(_time_command([apache2, "-t", "-d", str(root), "-f", str(main_file)]))
    rows = [
        ("capplan evaluate_config (in process)", statistics.median(in_process)),
        ("capplan evaluate_config (new process)", statistics.median(capplan_process)),
        ("apache2 -t", statistics.median(httpd)),
    ]
    for label, value in rows:
        print(f"{label:40s} median {value * 1000:8.1f} ms  over {options.runs} runs")
    base = statistics.median(httpd)
    print(f"ratio apache2 -t / capplan (in process): {base / statistics.median(in_process):.2f}")
    print(
        f"ratio apache2 -t / capplan (new process): {base / statistics.median(capplan_process):.2f}"
    )


if __name__ == "__main__":
    main()
