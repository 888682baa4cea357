"""Wilson 95% intervals against values computed by hand, and the tally behind every rate."""

from __future__ import annotations

import math

import pytest

from cineflow.eval.stats import Rate, Tally, newcombe, wilson


@pytest.mark.parametrize(
    ("hits", "trials", "lo", "hi"),
    [  # reference values: scipy.stats.binomtest(hits, trials).proportion_ci(0.95, "wilson")
        (0, 10, 0.0, 0.27753),
        (10, 10, 0.72247, 1.0),
        (5, 10, 0.23659, 0.76341),
        (81, 100, 0.72221, 0.87485),
    ],
)
def test_wilson_matches_the_formula(hits, trials, lo, hi):
    got = wilson(hits, trials)
    assert got == pytest.approx((lo, hi), abs=2e-5)


def test_interval_contains_the_rate_and_narrows_with_trials():
    widths = []
    for n in (10, 100, 1000):
        lo, hi = wilson(int(0.3 * n), n)
        assert lo < 0.3 < hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]


def test_no_trials_is_the_whole_unit_interval_and_bad_counts_are_refused():
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="hits"):
        wilson(3, 2)
    with pytest.raises(ValueError, match="hits"):
        wilson(-1, 2)


def test_tally_counts_hits_and_trials_per_name():
    tally = Tally()
    for ok in (True, True, False):
        tally.add("color", ok)
    tally.add("shape", False)
    rates = tally.rates()
    assert rates["color"] == Rate(2, 3) and rates["shape"] == Rate(0, 1)
    assert rates["color"].value == pytest.approx(2 / 3)
    assert rates["color"].to_dict()["ci95"] == [round(x, 4) for x in wilson(2, 3)]
    assert str(rates["color"]).startswith("0.67 [")
    assert math.isnan(Rate(0, 0).value) and str(Rate(0, 0)) == "n/a"


def test_difference_of_rates_matches_newcombes_worked_example():
    # Newcombe (1998), Statistics in Medicine 17:873, table II: 56/70 - 48/80, method 10 -> 0.0524, 0.3339
    d, lo, hi = newcombe(Rate(56, 70), Rate(48, 80))
    assert d == pytest.approx(0.2) and (lo, hi) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    d, lo, hi = newcombe(Rate(3, 10), Rate(3, 10))
    assert d == 0 and lo < 0 < hi and lo == pytest.approx(-hi)
    assert all(math.isnan(x) for x in newcombe(Rate(1, 2), Rate(0, 0)))
