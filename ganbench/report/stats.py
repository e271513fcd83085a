"""Statistics across seeds: a 95% t-interval for each mean, pairwise comparisons of variants, and a rank check.

Interval: mean +- t(0.975, n-1) * s / sqrt(n), s the sample standard deviation over seeds (ddof=1). One seed has no
interval. With few seeds the interval is wide (t = 12.7 for n = 2): that is the honest answer.

Pairwise comparisons (which variants differ; `pairwise`): Welch's two-sided t-test on the per-seed values of every
pair of variants, the p-values corrected for the number of pairs by Holm's step-down method (family-wise error
rate <= alpha = 0.05 over all pairs), with the difference of means, its 95% Welch interval and Hedges' g. Why
Welch and not a rank or permutation test: with 5 seeds per variant every exact rank or permutation test has only
C(10, 5) = 252 arrangements, so its smallest two-sided p is 2/252 = 0.0079, above the 0.05/21 = 0.0024 that Holm
asks of the best of 21 pairs (7 variants): such a procedure could never call anything different. Welch's t has
continuous p-values, keeps its level close to nominal for normal seed noise with unequal variances, and its level
and power at 5 seeds are checked by simulation in tests/test_report.py (one variant under two names is called
different in about 5% of simulated studies; a shift of 2 standard deviations is found about 80% of the time).
It assumes roughly normal seed-to-seed noise: a single collapsed seed inflates its variance and makes the test
conservative (less likely to call a difference), not anti-conservative.

Adjacent ranks (`compare`): an exact two-sided Mann-Whitney U test of each variant against the next in the
ranking, uncorrected: a distribution-free check beside the pairwise table, never the basis of a significance
statement. With n and m seeds its smallest two-sided p is 2 / C(n+m, n): 0.33 for 2 vs 2, 0.10 for 3 vs 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
TEST_NAME = "two-sided Mann-Whitney U test over seeds (exact for small samples without ties), alpha 0.05"
PAIRWISE_TEST = ("Welch's two-sided t-test over seeds, Holm-corrected over all pairs compared (family-wise "
                 "alpha 0.05); difference of means with its 95% Welch interval, Hedges' g")


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


# ---------------------------------------------------------------------------------------------------- pairwise
def welch(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, ...]:
    """Welch's two-sided t-test along the last axis (vectorised, so simulations can run many studies at once).

    Returns (difference of means a - b, interval low, interval high, p, Welch-Satterthwaite df). NaN where a side
    has fewer than 2 values or both variances are 0.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = a.shape[-1], b.shape[-1]
    diff = a.mean(-1) - b.mean(-1)
    if na < 2 or nb < 2:
        nan = np.full(np.shape(diff), math.nan)
        return diff, nan, nan, nan, nan
    va, vb = a.var(-1, ddof=1) / na, b.var(-1, ddof=1) / nb
    se2 = va + vb
    with np.errstate(divide="ignore", invalid="ignore"):
        df = se2 ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
        se = np.sqrt(se2)
        t = diff / se
        p = 2.0 * stats.t.sf(np.abs(t), df)
        half = stats.t.ppf(0.5 + confidence / 2, df) * se
    bad = se2 <= 0
    p, half, df = np.where(bad, math.nan, p), np.where(bad, math.nan, half), np.where(bad, math.nan, df)
    return diff, diff - half, diff + half, p, df


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values along the last axis: p_(i) * (k - i + 1), made monotone, capped at 1.
    A pair is different at family-wise level alpha when its adjusted p < alpha. NaNs stay NaN and do not count."""
    p = np.asarray(p, dtype=np.float64)
    finite = np.isfinite(p)
    k = finite.sum(-1, keepdims=True)
    order = np.argsort(np.where(finite, p, np.inf), axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, -1)
    factor = k - np.arange(p.shape[-1])
    adjusted = np.minimum(np.maximum.accumulate(np.where(np.isfinite(ranked), ranked * factor, -np.inf), -1), 1.0)
    out = np.empty_like(p)
    np.put_along_axis(out, order, adjusted, -1)
    return np.where(finite, out, math.nan)


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    n_a: int
    n_b: int
    diff: float  # mean(a) - mean(b)
    low: float  # 95% Welch interval of the difference (not adjusted for multiplicity)
    high: float
    hedges_g: float  # standardised difference (pooled sd), small-sample corrected
    p: float  # Welch, two-sided, unadjusted
    p_holm: float  # Holm-adjusted over every testable pair of the comparison
    different: bool  # p_holm < alpha


def hedges_g(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if pooled == 0:
        return math.nan
    return float((a.mean() - b.mean()) / pooled * (1 - 3 / (4 * (na + nb) - 9)))


def pairwise(groups: dict[str, list[float]], alpha: float = ALPHA) -> list[Pair]:
    """Every pair of groups (in the given order: a before b), Welch-tested and Holm-corrected together.
    Non-finite values are dropped; a group with fewer than 2 values is reported with NaN p, never different."""
    clean = {g: [v for v in vs if v is not None and math.isfinite(v)] for g, vs in groups.items()}
    keys = list(clean)
    raw = []
    for i, ga in enumerate(keys):
        for gb in keys[i + 1:]:
            a, b = np.array(clean[ga]), np.array(clean[gb])
            diff, low, high, p, _ = welch(a, b) if len(a) and len(b) else (math.nan,) * 5
            raw.append((ga, gb, len(a), len(b), float(diff), float(low), float(high), hedges_g(a, b), float(p)))
    adjusted = holm(np.array([r[-1] for r in raw])) if raw else np.array([])
    return [Pair(*r, p_holm=float(q), different=bool(q < alpha)) for r, q in zip(raw, adjusted, strict=True)]
