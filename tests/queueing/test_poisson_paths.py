"""The summed Poisson tails (means up to PURE_MAX_MEAN) agree with scipy's incomplete gamma."""

from __future__ import annotations

import math

import pytest
import scipy.special

from capplan.queueing.poisson import PURE_MAX_MEAN, poisson_cdf, poisson_sf

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
