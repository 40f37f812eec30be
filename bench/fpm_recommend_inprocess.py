"""In-process time of `recommend_report` with and without PHP-FPM on the same profile (the
part of `capplan recommend` that PHP-FPM adds to, without process start-up): medians of 15.

Usage: python bench/fpm_recommend_inprocess.py   (from the project root)
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from capplan.pipeline import recommend_report

CONFIG = "examples/debian/apache2/apache2.conf"
PHP = Path("bench/fpm/wordpress-fpm.yaml")
POOL = "tests/data/fpm/debian/pool.d/www.conf"


def median_ms(profile: str, pool: str | None) -> float:
    recommend_report(CONFIG, profile, somaxconn=4096, fpm_pool=pool)
    times = []
    for _ in range(15):
        start = time.perf_counter()
        recommend_report(CONFIG, profile, somaxconn=4096, fpm_pool=pool)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "no-php.yaml"
        plain.write_text(PHP.read_text().split("\nphp:")[0] + "\n")
        without = median_ms(str(plain), None)
        with_php = median_ms(str(PHP), POOL)
    print(f"recommend_report, no php:        {without:6.1f} ms")
    print(f"recommend_report, php + pool:    {with_php:6.1f} ms  ({with_php / without:.2f}x)")


if __name__ == "__main__":
    main()
