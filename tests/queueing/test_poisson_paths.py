"""The summed Poisson tails (means up to PURE_MAX_MEAN) agree with scipy's incomplete gamma, and
the quantile walks to the exact count from its normal start."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
import scipy.special

from capplan.queueing.poisson import (
    PURE_MAX_MEAN,
    _normal_quantile_start,
    poisson_cdf,
    poisson_quantile,
    poisson_sf,
)

MEANS = (0.3, 1.0, 7.5, 42.0, 168.0, 680.0, 2500.0, 7300.0, 21000.0, PURE_MAX_MEAN)


@pytest.mark.parametrize("mu", MEANS, ids=lambda mu: f"mu={mu:g}")
def test_summed_tails_match_incomplete_gamma(mu: float) -> None:
    spread = max(3.0, 12.0 * math.sqrt(mu))
    ks = sorted({max(0, round(mu + f * spread)) for f in (-1.0, -0.4, -0.1, 0.0, 0.1, 0.4, 1.0)})
    for k in ks:
        want_cdf = float(scipy.special.gammaincc(k + 1.0, mu))
        want_sf = float(scipy.special.gammainc(k + 1.0, mu))
        for name, got, want in (
            ("cdf", poisson_cdf(k, mu), want_cdf),
            ("sf", poisson_sf(k, mu), want_sf),
        ):
            if want < 1e-290:
                assert got < 1e-280, (name, k, mu, got, want)
            else:
                assert math.isclose(got, want, rel_tol=1e-12), (name, k, mu, got, want)


LEVELS = (1e-300, 1e-9, 0.01, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999, 1.0 - 1e-12)


@pytest.mark.parametrize("p", LEVELS, ids=lambda p: f"p={p:g}")
def test_normal_quantile_start_is_within_its_stated_error(p: float) -> None:
    assert abs(_normal_quantile_start(p) - NormalDist().inv_cdf(p)) < 4.5e-4


QUANTILE_MEANS = (0.3, 7.5, 168.0, 7300.0, 2.5e6)
QUANTILE_LEVELS = (1e-6, 0.05, 0.5, 0.99, 1.0 - 1e-9)


@pytest.mark.parametrize("mu", QUANTILE_MEANS, ids=lambda mu: f"mu={mu:g}")
@pytest.mark.parametrize("p", QUANTILE_LEVELS, ids=lambda p: f"p={p:g}")
def test_quantile_is_the_smallest_count_reaching_the_level(mu: float, p: float) -> None:
    x = poisson_quantile(p, mu)
    assert float(scipy.special.pdtr(x, mu)) >= p * (1.0 - 1e-12)
    assert x == 0 or float(scipy.special.pdtr(x - 1, mu)) < p * (1.0 + 1e-12)
