"""Statistics across seeds: a 95% t-interval for each mean, and a test of whether adjacent ranks differ.

Interval: mean +- t(0.975, n-1) * s / sqrt(n), s the sample standard deviation over seeds (ddof=1). One seed has no
interval. With few seeds the interval is wide (t = 12.7 for n = 2): that is the honest answer.

Adjacent ranks: an exact two-sided Mann-Whitney U test on the per-seed values of the two variants (SciPy's
`mannwhitneyu`, exact when there are no ties, its normal approximation otherwise), at alpha = 0.05. It assumes no
distribution and is exact at these sample sizes, so it never claims more than the seeds support: with n and m
seeds the smallest two-sided p it can reach is 2 / C(n+m, n), which is 0.33 for 2 vs 2 and 0.10 for 3 vs 3 seeds;
at least 4 seeds per variant (or 3 vs 5) are needed before any two variants can be told apart at 5%. The report
says so instead of ranking noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
TEST_NAME = "two-sided Mann-Whitney U test over seeds (exact for small samples without ties), alpha 0.05"


@dataclass(frozen=True)
class Interval:
    mean: float  # nan when n == 0
    low: float  # nan when n < 2
    high: float
    n: int


def t_interval(values, confidence: float = 0.95) -> Interval:
    """Mean and two-sided t-interval of the finite values; non-finite values (a diverged metric) are dropped."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n)


@dataclass(frozen=True)
class Comparison:
    p: float  # nan when the test cannot run (a variant without values)
    min_p: float  # the smallest p-value these sample sizes can produce
    distinct: bool  # p < ALPHA
    text: str  # for the table: "distinct (p=0.029)", "not distinguishable (p=0.33; ...)"


def smallest_p(n: int, m: int) -> float:
    """Smallest two-sided exact Mann-Whitney p-value with n and m untied observations: 2 / C(n+m, n)."""
    return min(1.0, 2 / math.comb(n + m, n)) if n and m else 1.0


def compare(a, b, alpha: float = ALPHA) -> Comparison:
    """Can the seeds tell variant a's values from variant b's? Two-sided, no distributional assumption."""
    a = [v for v in a if v is not None and math.isfinite(v)]
    b = [v for v in b if v is not None and math.isfinite(v)]
    min_p = smallest_p(len(a), len(b))
    seeds = f"{len(a)} vs {len(b)} seeds"
    if not a or not b:
        return Comparison(math.nan, min_p, False, f"not testable ({seeds})")
    p = float(stats.mannwhitneyu(a, b, alternative="two-sided", method="auto").pvalue)
    if p < alpha:
        return Comparison(p, min_p, True, f"distinct (p={p:.2g}, {seeds})")
    if min_p >= alpha:
        return Comparison(p, min_p, False, f"not distinguishable: {seeds} cannot reach p<{alpha:g} "
                                           f"(smallest possible p={min_p:.2g})")
    return Comparison(p, min_p, False, f"not distinguishable (p={p:.2g}, {seeds})")
