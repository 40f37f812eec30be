"""The recommended-sizes bench: what it reads from `capplan recommend` and what it simulates."""

from __future__ import annotations

from bench.validate.recommended import PROFILES, _meets, recommended, row, sim_config
from capplan.profile import load_profile
from tests.models.event_sim import simulate_events


def test_it_simulates_the_event_size_recommend_proposes() -> None:
    profile = load_profile(PROFILES / "wordpress-prefork.yaml")
    sized = recommended("wordpress-prefork")
    # recommend sizes event for the rate plus its 25 % headroom, in whole children.
    assert sized.rate_per_s == 1.25 * profile.traffic.requests_per_second
    assert sized.processes * sized.threads_per_child >= 1
    assert sized.factor >= 1
    config = sim_config(profile, sized, sized.processes)
    assert config.requests_per_s == sized.rate_per_s
    assert config.service_s == profile.traffic.worker_time_s
    assert config.requests_per_visit == profile.visits.requests_per_visit
    assert config.keepalive_timeout_s == sized.keepalive_timeout_s
    assert profile.targets.max_wait is not None
    assert config.wait_threshold_s == profile.targets.max_wait.time_s


def test_a_size_short_of_slots_misses_the_targets() -> None:
    # One child of 25 for wordpress-prefork's 208 open connections: every new connection waits
    # (or, with a larger event budget, the queue outgrows it: "overloaded").
    profile = load_profile(PROFILES / "wordpress-prefork.yaml")
    sized = recommended("wordpress-prefork")
    short = sim_config(profile, sized, 1)
    line = row("short", profile, short, 100_000)
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert len(cells) == 12
    assert cells[3] in ("1 ± 0", "overloaded")
    assert cells[-1] == "no"
    fits = sim_config(profile, sized, sized.processes)
    assert _meets(profile, simulate_events(fits, 100_000, seed=3))
