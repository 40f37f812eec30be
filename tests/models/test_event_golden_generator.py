"""The event goldens are what their generator computes: every output cell of `event_limit.csv` and
`event_kill.csv` (all but its simulation column), recomputed with mpmath at 60 digits from the
model's definitions, matches the committed file."""

from __future__ import annotations

import pytest

from tests.data.goldens import generate_event


@pytest.mark.parametrize("table", sorted(generate_event.TABLES))
def test_committed_event_goldens_are_the_generators_output(table: str) -> None:
    assert generate_event.main(["--check", table]) == 0


def test_the_kill_generator_answers_to_its_inputs() -> None:
    # A changed input moves every derived column: the check compares computed values, not copies.
    _, rows = generate_event.read_table("event_kill")
    row = dict(rows[0])
    committed = row["kill_hazard_h_per_s"]
    row["lambda_req"] = str(float(row["lambda_req"]) * 1.01)
    (fresh,) = generate_event.kill_rows([row])
    assert not generate_event.same(committed, fresh[list(row).index("kill_hazard_h_per_s")])
