"""The queueing goldens are what their generator computes: every output cell of every row of the
six regenerated tables, recomputed with mpmath at 60 digits, matches the committed file."""

from __future__ import annotations

import pytest

from tests.data.goldens import generate


@pytest.mark.parametrize("table", sorted(generate.TABLES))
def test_committed_goldens_are_the_generators_output(table: str) -> None:
    assert generate.main(["--check", table]) == 0


def test_a_changed_cell_is_reported() -> None:
    # The comparison itself can fail: one digit off in the 14th place is caught, the 15th is not.
    assert generate.same("0.333333333333333", "0.333333333333334")
    assert not generate.same("0.333333333333333", "0.333333333333433")
    assert not generate.same("stable", "unstable")
    assert generate.same("1.0e-4", "0.0001")
