"""Outcome survey statistics, pure: the mean change of score with a 95% confidence interval from
the t-distribution. The standard library's `statistics` has the normal distribution only (and
scipy is not a dependency), so Student's t is computed here: its distribution function through
the regularized incomplete beta function (a continued fraction, evaluated by the modified Lentz
method), and its quantile by bisection on that function."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

_TINY = 1e-300
_EPSILON = 1e-15
_MAX_TERMS = 500


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    numerator_c = 1.0
    denominator_d = 1.0 - (a + b) * x / (a + 1.0)
    denominator_d = 1.0 / (denominator_d if abs(denominator_d) > _TINY else _TINY)
    value = denominator_d
    for m in range(1, _MAX_TERMS + 1):
        for coefficient in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            denominator_d = 1.0 + coefficient * denominator_d
            denominator_d = 1.0 / (denominator_d if abs(denominator_d) > _TINY else _TINY)
            numerator_c = 1.0 + coefficient / numerator_c
            numerator_c = numerator_c if abs(numerator_c) > _TINY else _TINY
            step = numerator_c * denominator_d
            value *= step
        if abs(step - 1.0) < _EPSILON:
            break
    return value


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    # the fraction converges fast on this side of the mean; the symmetry gives the other
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_upper_tail(t: float, df: int) -> float:
    """P(T > t) for Student's t with `df` degrees of freedom, t >= 0."""
    return 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


@lru_cache(maxsize=4096)
def t_quantile(probability: float, df: int) -> float:
    """The t with P(T <= t) = probability, for probability in [0.5, 1): bisection to 1e-12."""
    if not 0.5 <= probability < 1.0 or df < 1:
        raise ValueError("a quantile of the upper half, with at least one degree of freedom")
    tail = 1.0 - probability
    low, high = 0.0, 1.0
    while t_upper_tail(high, df) > tail:
        high *= 2.0
    while high - low > 1e-12 * max(1.0, high):
        middle = (low + high) / 2.0
        if t_upper_tail(middle, df) > tail:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


@dataclass(frozen=True)
class MeanChange:
    """The mean change with its 95% confidence interval (None with fewer than two pairs)."""

    count: int
    mean: float
    low: float | None
    high: float | None


def mean_change(count: int, total: int, squares: int, scale: int) -> MeanChange | None:
    """From the count, sum and sum of squares of changes kept as integers in 1/`scale` of a
    point: the mean and the t interval mean ± t(0.975, n-1) · s / √n. None with no pairs."""
    if count < 1:
        return None
    mean = total / count / scale
    if count < 2:
        return MeanChange(count, mean, None, None)
    # exact integer arithmetic up to the one division: no cancellation for large sums
    variance = (count * squares - total * total) / (count * (count - 1)) / (scale * scale)
    half = t_quantile(0.975, count - 1) * math.sqrt(max(variance, 0.0) / count)
    return MeanChange(count, mean, mean - half, mean + half)
