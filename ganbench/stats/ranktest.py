"""The exact Mann-Whitney U test over seeds: a distribution-free comparison of two groups.

Two uses: beside a ranking, each group against the next one (`adjacent`, uncorrected: a check, never the basis of
a significance statement), and as the valid test for a pair in which an arm has a failed seed (stalled, collapsed,
diverged): a bimodal arm breaks Welch's normal model, while a rank test only asks whether one arm's seeds tend to
be better. With n and m seeds its smallest two-sided p is 2 / C(n+m, n): 0.33 for 2 vs 2, 0.10 for 3 vs 3, 0.036
for 3 vs 5, 0.0079 for 5 vs 5, so few seeds can only ever report "not distinguishable", and say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ganbench.stats.welch import ALPHA

TEST_NAME = "two-sided Mann-Whitney U test over seeds (exact for small samples without ties), alpha 0.05"


def smallest_p(n: int, m: int) -> float:
    """Smallest two-sided exact Mann-Whitney p-value with n and m untied observations: 2 / C(n+m, n)."""
    return min(1.0, 2 / math.comb(n + m, n)) if n and m else 1.0


def mann_whitney(a, b) -> float:
    """Two-sided Mann-Whitney p of two samples (exact for small samples without ties); +inf is a legal value (a
    diverged seed ranked last), NaN and None are dropped. NaN when a side is empty."""
    x = np.asarray([v for v in a if v is not None and not math.isnan(v)], dtype=np.float64)
    y = np.asarray([v for v in b if v is not None and not math.isnan(v)], dtype=np.float64)
    if not len(x) or not len(y):
        return math.nan
    if len(np.unique(np.concatenate([x, y]))) == 1:
        return 1.0  # every value the same on both sides: nothing to rank
    return float(stats.mannwhitneyu(x, y, alternative="two-sided", method="auto").pvalue)


@dataclass(frozen=True)
class AdjacentTest:
    p: float  # nan when the test cannot run (a group without values)
    min_p: float  # the smallest p-value these sample sizes can produce
    distinct: bool  # p < ALPHA
    text: str  # for the table: "distinct (p=0.029)", "not distinguishable (p=0.33; ...)"


def adjacent(a, b, alpha: float = ALPHA) -> AdjacentTest:
    """Can the seeds tell group a's values from group b's? Two-sided, no distributional assumption."""
    a = [v for v in a if v is not None and math.isfinite(v)]
    b = [v for v in b if v is not None and math.isfinite(v)]
    min_p = smallest_p(len(a), len(b))
    seeds = f"{len(a)} vs {len(b)} seeds"
    if not a or not b:
        return AdjacentTest(math.nan, min_p, False, f"not testable ({seeds})")
    p = mann_whitney(a, b)
    if p < alpha:
        return AdjacentTest(p, min_p, True, f"distinct (p={p:.2g}, {seeds})")
    if min_p >= alpha:
        return AdjacentTest(
            p, min_p, False, f"not distinguishable: {seeds} cannot reach p<{alpha:g} (smallest possible p={min_p:.2g})"
        )
    return AdjacentTest(p, min_p, False, f"not distinguishable (p={p:.2g}, {seeds})")
