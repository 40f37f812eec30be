"""The validation suite's quick subset against the real apache2 (about 3 minutes).

Each quick case drives apache2 with the open-loop generator and asserts every derivations §10.3
acceptance band that the run can resolve, and that the generator was not the bottleneck. A band
is 3 standard errors wide at least, and a quick case judges about ten quantities, so a case that
fails is run once more: a model miss fails both runs, a 3-SE excursion (about 1 in 150 per
quantity with 20 batches) does not repeat.
"""

from __future__ import annotations

import pytest

from bench.validate.casefile import Case, all_cases
from bench.validate.compare import CaseResult
from bench.validate.run import run_one

QUICK = tuple(case for case in all_cases() if case.quick)


def _problems(result: CaseResult, version: str) -> list[str]:
    assert version.startswith("Apache/2.4"), version
    validity = result.measured.validity
    assert validity.valid, f"generator-limited run: {'; '.join(validity.reasons)}"
    assert result.measured.realized.requests > result.case.traffic.requests_per_second * 10
    judged = [c for c in result.checks if c.status in ("pass", "FAIL")]
    assert len(judged) >= 5, [(c.quantity, c.status) for c in result.checks]
    return [
        f"{c.quantity}: predicted {c.predicted:.4g}, measured {c.measured.value:.4g} "
        f"± {c.measured.se:.2g} ({c.band.describe()})"
        for c in result.failures
    ]


@pytest.mark.apache
@pytest.mark.parametrize("case", QUICK, ids=[case.name for case in QUICK])
def test_quick_case_meets_the_acceptance_bands(apache2: str, case: Case) -> None:
    first = _problems(*run_one(case))
    if not first:
        return
    second = _problems(*run_one(case))
    assert not second, "\n".join(["first run:", *first, "second run:", *second])
