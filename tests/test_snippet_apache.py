"""Real apache2 accepts every snippet the coherent builder produces, with no AH warning at all."""

from __future__ import annotations

import random
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from capplan.mpm_names import Mpm
from capplan.mpm_settings import MPM_NAMES, CommonSettings
from capplan.recommend import coherent_common, coherent_settings
from capplan.snippet import keepalive_directives, render_snippet
from tests.httpd import base_config, configtest, free_port, prepare_root

AH_CODE = re.compile(r"AH\d{5}")


def _cases(seed: int, count: int) -> list[tuple[Mpm, int, int, float, int, float]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        out.append(
            (
                rng.choice(MPM_NAMES),
                rng.choice([1, 2, rng.randint(1, 50), rng.randint(50, 3000)]),
                rng.choice([1, 25, 32, 50, 64, rng.randint(65, 300)]),
                rng.choice([0.0, rng.uniform(0, 40), rng.uniform(40, 4000)]),
                rng.choice([1, 2, 3]),
                rng.choice([5.0, 2.0, 1.0, 0.5, 15.0]),
            )
        )
    return out


@pytest.mark.apache
def test_apache2_accepts_coherent_snippets_without_warnings(apache2: str, tmp_path: Path) -> None:
    cases = _cases(seed=7, count=48)
    port = free_port()

    def run(index: int) -> tuple[int, int, str, str]:
        mpm, processes, tpc, busy, factor, keepalive_s = cases[index]
        root = tmp_path / f"case{index}"
        prepare_root(root)
        common = coherent_common(
            CommonSettings(keep_alive_timeout_s=keepalive_s, listen_backlog=511)
        )
        settings = coherent_settings(
            mpm,
            processes=processes,
            threads_per_child=tpc,
            busy_workers_mean=busy,
            common=common,
            async_request_worker_factor=factor,
        )
        changes = keepalive_directives(settings) if keepalive_s != 5.0 else ()
        snippet = render_snippet(settings, changes)
        conf = root / "conf" / "httpd.conf"
        conf.write_text(base_config(root, mpm, port) + snippet)
        code, output = configtest(conf)
        return index, code, output, snippet

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, range(len(cases))))
    failures = [
        f"case {index} {cases[index]}: exit {code}\n{output}\n{snippet}"
        for index, code, output, snippet in results
        if code != 0 or AH_CODE.search(output)
    ]
    assert failures == []
