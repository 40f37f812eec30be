"""Profiles for the recommendation tests: the shipped ones and a seeded random set.

Random profiles go through the real loader (`profile_from_text`), so they are validated and
completed exactly like a user's file.
"""

from __future__ import annotations

import random
from pathlib import Path

from capplan.profile import TrafficProfile, load_profile, profile_from_text

PROFILES_DIR = Path(__file__).resolve().parents[2] / "profiles"


def shipped_profiles() -> list[tuple[str, TrafficProfile]]:
    return [(path.stem, load_profile(path)) for path in sorted(PROFILES_DIR.glob("*.yaml"))]


def random_profile_text(rng: random.Random, index: int) -> str:
    """A plausible profile: light to heavy traffic, short to long keep-alive, 1 to 32 GiB."""
    rate = rng.choice([0.5, 5, 40, 150, 600, 2500])
    service_ms = rng.choice([2, 15, 80, 300, 1200])
    scv = rng.choice([0.3, 1.0, 4.0])
    visits = rng.choice([1, 3, 10, 40])
    think_s = rng.choice([0.2, 2, 8, 30])
    hold = rng.choice([0.0, 0.5, 1.0])
    share = rng.choice([0.3, 1.0])
    ram_gib = rng.choice([1, 4, 16, 32])
    wait = rng.choice([0.001, 0.01, 0.05])
    block = rng.choice([0.0001, 0.001])
    return f"""version: 1
name: random-{index}
traffic:
  requests_per_second: {rate}
  service_time: {service_ms}ms
  service_time_scv: {scv}
  worker_share: {share}
visits:
  requests_per_visit: {visits}
  think_time: {think_s}s
  idle_hold_probability: {hold}
memory:
  ram: {ram_gib}GiB
targets:
  max_wait_probability: {wait}
  max_block_probability: {block}
"""


def random_profiles(seed: int, count: int) -> list[tuple[str, TrafficProfile]]:
    rng = random.Random(seed)
    out = []
    for index in range(count):
        text = random_profile_text(rng, index)
        out.append((f"random-{index}", profile_from_text(text, f"random-{index}.yaml")))
    return out
