"""The validation suite's quick subset against the real apache2 (about 3 minutes).

Each quick case drives apache2 with the open-loop generator and asserts every model.md §10.3
acceptance band that the run can resolve, and that the generator was not the bottleneck.
"""

from __future__ import annotations

import pytest

from bench.validate.casefile import Case, all_cases
from bench.validate.run import run_one

QUICK = tuple(case for case in all_cases() if case.quick)


@pytest.mark.apache
@pytest.mark.parametrize("case", QUICK, ids=[case.name for case in QUICK])
def test_quick_case_meets_the_acceptance_bands(apache2: str, case: Case) -> None:
    result, version = run_one(case)
    assert version.startswith("Apache/2.4"), version
    validity = result.measured.validity
    assert validity.valid, f"generator-limited run: {'; '.join(validity.reasons)}"
    assert result.measured.realized.requests > case.traffic.requests_per_second * 10
    judged = [c for c in result.checks if c.status in ("pass", "FAIL")]
    assert len(judged) >= 5, [(c.quantity, c.status) for c in result.checks]
    failures = [
        f"{c.quantity}: predicted {c.predicted:.4g}, measured {c.measured.value:.4g} "
        f"± {c.measured.se:.2g} ({c.band.describe()})"
        for c in result.failures
    ]
    assert not failures, "\n".join(failures)
