"""Student's t and the mean change's interval, against published table values and the standard
library's `statistics` on the same data. No I/O."""

from __future__ import annotations

import math
import statistics

import pytest

from services.advisory.domain.statistics import incomplete_beta, mean_change, t_quantile


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (29, 2.0452), (120, 1.9799)],
)
def test_the_two_sided_95_percent_t_values_are_the_tables(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_with_many_degrees_of_freedom_t_is_the_normal() -> None:
    normal = statistics.NormalDist().inv_cdf(0.975)
    assert t_quantile(0.975, 1_000_000) == pytest.approx(normal, abs=1e-5)


def test_the_incomplete_beta_meets_its_closed_forms() -> None:
    assert incomplete_beta(1, 1, 0.3) == pytest.approx(0.3)
    assert incomplete_beta(2, 1, 0.5) == pytest.approx(0.25)
    assert incomplete_beta(0.5, 0.5, 0.5) == pytest.approx(0.5)
    assert (incomplete_beta(3, 4, 0.0), incomplete_beta(3, 4, 1.0)) == (0.0, 1.0)


def test_refuses_a_lower_quantile_or_no_degrees_of_freedom() -> None:
    with pytest.raises(ValueError):
        t_quantile(0.4, 5)
    with pytest.raises(ValueError):
        t_quantile(0.975, 0)


def test_the_interval_is_the_mean_plus_minus_t_times_the_standard_error() -> None:
    changes = [0.5, 1.0, -0.25, 0.75, 1.5, 0.0]
    scaled = [round(change * 10_000) for change in changes]
    result = mean_change(len(scaled), sum(scaled), sum(c * c for c in scaled), 10_000)
    assert result is not None
    half = t_quantile(0.975, 5) * statistics.stdev(changes) / math.sqrt(len(changes))
    assert result.mean == pytest.approx(statistics.fmean(changes))
    assert result.low == pytest.approx(statistics.fmean(changes) - half)
    assert result.high == pytest.approx(statistics.fmean(changes) + half)


def test_one_pair_has_a_mean_and_no_interval_and_none_has_nothing() -> None:
    result = mean_change(1, 5_000, 25_000_000, 10_000)
    assert result is not None and (result.mean, result.low, result.high) == (0.5, None, None)
    assert mean_change(0, 0, 0, 10_000) is None


def test_identical_changes_have_a_zero_width_interval() -> None:
    result = mean_change(3, 30_000, 3 * 10_000**2, 10_000)
    assert result is not None and result.low == result.high == 1.0
