"""The worst-case memory's margin for children that differ in size (memory.process_spread)."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest

from capplan.models import evaluate
from capplan.models.memory import spread_margin_bytes
from capplan.mpm_settings import EventSettings, PreforkSettings, WorkerSettings
from capplan.profile import profile_from_text

MIB = 1 << 20
PROFILE = profile_from_text(
    "traffic: {requests_per_second: 100, service_time: 50ms}\n"
    "memory: {ram: 4GiB, parent: 20MiB, shared: 100MiB, prefork_process: 40MiB,\n"
    "         threaded_process: 30MiB, thread: 1MiB}\n",
    "spread.yaml",
)
SPREAD = replace(PROFILE, memory=replace(PROFILE.memory, process_spread_bytes=4 * MIB))
SETTINGS = (
    PreforkSettings(server_limit=300, max_request_workers=200),
    WorkerSettings(server_limit=20, max_request_workers=400),
    EventSettings(server_limit=32, max_request_workers=400),
)


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: type(s).__name__)
def test_the_worst_case_adds_the_spread_of_its_children(
    settings: PreforkSettings | WorkerSettings | EventSettings,
) -> None:
    plain = evaluate(settings, PROFILE).memory
    spread = evaluate(settings, SPREAD).memory
    n = plain.worst_processes
    # 1.645 x 4 MiB x sqrt(N): a 95 % bound on how far N children's sum exceeds N x the mean.
    assert spread.worst_bytes - plain.worst_bytes == math.ceil(1.645 * 4 * MIB * math.sqrt(n))
    # Typical and all-workers figures are means: the spread leaves them alone.
    assert (spread.typical_bytes, spread.full_bytes) == (plain.typical_bytes, plain.full_bytes)
    assert spread_margin_bytes(PROFILE.memory, n) == 0


def test_the_margin_covers_the_sum_of_children_that_differ() -> None:
    """Draw children around the mean with the spread: their sum stays under the bound 95 % of
    the time (the normal quantile the margin uses), and often goes over N x mean alone."""
    rng = random.Random(20261202)
    mean, sd, n = 50 * MIB, 6 * MIB, 40
    memory = replace(PROFILE.memory, process_spread_bytes=sd)
    margin = spread_margin_bytes(memory, n)
    trials = 4000
    sums = [sum(rng.gauss(mean, sd) for _ in range(n)) for _ in range(trials)]
    over_bound = sum(total > n * mean + margin for total in sums) / trials
    over_mean = sum(total > n * mean for total in sums) / trials
    assert 0.035 < over_bound < 0.065
    assert over_mean > 0.4


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("spread_mib", [0, 1, 4, 64])
def test_max_workers_is_the_most_whose_worst_case_fits(
    settings: PreforkSettings | WorkerSettings | EventSettings, spread_mib: int
) -> None:
    profile = replace(
        PROFILE, memory=replace(PROFILE.memory, process_spread_bytes=spread_mib * MIB)
    )
    fit = evaluate(settings, profile).memory
    assert fit.max_workers is not None
    assert fit.available_bytes is not None

    def worst(workers: int) -> int:
        if isinstance(settings, PreforkSettings):
            sized: PreforkSettings | WorkerSettings | EventSettings = replace(
                settings, server_limit=workers, max_request_workers=workers
            )
        else:
            # As `recommend` writes it: event's ServerLimit leaves a whole generation of room.
            tpc = settings.threads_per_child
            processes = workers // tpc
            limit = 2 * processes if isinstance(settings, EventSettings) else processes
            sized = replace(settings, server_limit=limit, max_request_workers=workers)
        return evaluate(sized, profile).memory.worst_bytes

    step = 1 if isinstance(settings, PreforkSettings) else settings.threads_per_child
    assert worst(fit.max_workers) <= fit.available_bytes
    assert worst(fit.max_workers + step) > fit.available_bytes
