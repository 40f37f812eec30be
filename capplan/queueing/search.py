"""Monotone integer searches shared by the queueing sizing and the recommendation.

Stage: numeric helper. Input: a predicate monotone in an integer (False … False True … True, or the
reverse) and bounds; output: the boundary, found with few predicate evaluations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

__all__ = ["largest_passing", "smallest_passing"]


def smallest_passing(
    ok: Callable[[int], bool], low: int, high: int, guess: int | None = None
) -> int | None:
    """Smallest n in [low, high] with ok(n), for ok monotone (False … False True … True).

    Gallops from `guess` (default `low`) — one step, then steps of guess/64 doubling; down while
    ok holds, up while it fails — and then bisects between the last failure and the first
    success, so an answer near the guess costs few evaluations; after two failing steps up it
    tries `high` once, so a predicate that fails everywhere costs four evaluations, not a gallop.
    Returns None when ok(high) is False.
    """
    if low > high:
        return None
    start = low if guess is None else min(max(guess, low), high)
    # The first step is 1 (a good guess is often off by one), then 1/64 of the guess, doubling:
    # a large search needs no 1, 2, 4, … climb.
    steps = _steps(max(2, start >> 6))
    if ok(start):
        first_pass, last_fail = start, low - 1
        while first_pass > low:
            probe = max(low, first_pass - next(steps))
            if not ok(probe):
                last_fail = probe
                break
            first_pass = probe
    else:
        last_fail = start
        climbs = 0
        while True:
            if last_fail == high:
                return None
            climbs += 1
            if climbs == 3 and not ok(high):
                # Two steps up still fail: when nothing passes (an overload no size carries), the
                # top says so at once instead of at the end of the gallop.
                return None
            probe = min(high, last_fail + next(steps))
            if ok(probe):
                first_pass = probe
                break
            last_fail = probe
    while first_pass - last_fail > 1:
        mid = (first_pass + last_fail) // 2
        if ok(mid):
            first_pass = mid
        else:
            last_fail = mid
    return first_pass


def _steps(second: int) -> Iterator[int]:
    """1, then `second`, doubling."""
    yield 1
    step = second
    while True:
        yield step
        step *= 2


def largest_passing(ok: Callable[[int], bool], low: int, high: int) -> int | None:
    """Largest n in [low, high] with ok(n), for ok monotone (True … True False … False)."""
    if low > high or not ok(low):
        return None
    if ok(high):
        return high
    good, bad = low, high
    while bad - good > 1:
        mid = (good + bad) // 2
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good
