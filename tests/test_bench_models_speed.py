"""bench/models_speed.py times event computed afresh, not its kept evaluations."""

from __future__ import annotations

from bench.models_speed import _median_s
from capplan.models import evaluate, event
from capplan.mpm_settings import EventSettings
from capplan.profile import load_profile
from tests.recommend.profiles import PROFILES_DIR


def test_every_timed_call_computes_afresh() -> None:
    profile = load_profile(PROFILES_DIR / "php-fpm-event.yaml")
    settings = EventSettings()
    evaluate(settings, profile, carried=False)
    evaluate(settings, profile, carried=False)
    assert event._evaluate.cache_info().hits >= 1  # kept: the second call reused the first
    _median_s(lambda: evaluate(settings, profile, carried=False), runs=3)
    # Cleared before each timed call (which also resets the counts): the last one computed.
    after = event._evaluate.cache_info()
    assert (after.misses, after.hits) == (1, 0)
