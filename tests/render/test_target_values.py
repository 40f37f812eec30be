"""A target's value is never shown as its limit when the two differ: `0.01 > 0.01` would leave an
operator to guess why the target was missed."""

from __future__ import annotations

import pytest

from capplan.models.targets import Target, TargetResult
from capplan.profile import load_profile
from capplan.render.format import distinct_from, format_bytes, format_probability
from capplan.render.words import describe_target, target_value_against

PROFILES = "profiles"


@pytest.mark.parametrize(
    ("value", "limit", "shown"),
    [
        (0.010066542362703669, 0.01, "0.0101"),  # 2 digits read 0.01
        (0.0100004, 0.01, "0.0100004"),  # the first digits that differ
        (0.01, 0.01, "0.01"),  # equal: as usual
        (0.56, 0.01, "0.56"),  # already distinct: as usual
        (0.0099, 0.01, "0.0099"),
        (1e-12, 1e-9, "< 1e-9"),  # below the floor, the limit at it: they read apart
        (0.01 + 1e-12, 0.01, "0.01"),  # closer than six digits tell: left as it reads
    ],
)
def test_a_probability_reads_apart_from_its_limit(value: float, limit: float, shown: str) -> None:
    assert distinct_from(value, limit, format_probability) == shown


def test_bytes_read_apart_from_their_limit() -> None:
    gib = 1024.0**3
    assert format_bytes(1.8 * gib) == format_bytes(1.802 * gib) == "1.8 GiB"
    assert distinct_from(1.802 * gib, 1.8 * gib, format_bytes) == "1.802 GiB"
    assert distinct_from(1.8 * gib, 1.8 * gib, format_bytes) == "1.8 GiB"


def test_a_missed_target_says_by_how_much() -> None:
    profile = load_profile(f"{PROFILES}/wordpress-prefork.yaml")
    missed = TargetResult(Target.max_wait, 0.01, 0.010066542362703669, met=False)
    words = describe_target(missed, profile)
    assert words.endswith("0.0101 > 0.01"), words
    met = TargetResult(Target.max_wait_probability, 0.01, 0.0099, met=True)
    assert describe_target(met, profile).endswith("0.0099 ≤ 0.01")


def test_memory_reads_apart_from_its_limit_with_and_without_ram() -> None:
    profile = load_profile(f"{PROFILES}/wordpress-prefork.yaml")
    ram = profile.memory.ram_bytes
    assert ram is not None
    limit = 0.9
    value = limit * 1.001
    shown = target_value_against(Target.max_memory_fraction, value, limit, profile)
    assert shown != target_value_against(Target.max_memory_fraction, limit, limit, profile)
    without = target_value_against(Target.max_memory_fraction, 0.901, 0.9, None)
    assert without == "90.1 % of RAM"
    assert target_value_against(Target.max_memory_fraction, 0.9, 0.9, None) == "90 % of RAM"
