"""A failure rate with an exact interval: k failed seeds of n."""

from __future__ import annotations

import math

from scipy import stats


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson 1934) two-sided interval for a binomial rate from k events in n trials: the
    Beta(k, n - k + 1) and Beta(k + 1, n - k) quantiles at (1 - confidence) / 2 and (1 + confidence) / 2.
    (nan, nan) for n = 0."""
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= k <= n:
        raise ValueError(f"k must lie in 0..n, got k={k}, n={n}")
    tail = (1 - confidence) / 2
    low = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - tail, k + 1, n - k))
    return low, high
