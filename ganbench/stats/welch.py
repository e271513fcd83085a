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

Equivalence (`equivalence`, and `pairwise(..., margin=m)` for every pair): "no detectable difference" is not "the
same". Two variants are called tied only when two one-sided Welch t-tests (TOST; Schuirmann 1987) reject both
"a - b <= -m" and "a - b >= m" at alpha, i.e. when the 90% Welch interval of the difference lies inside (-m, m).
The margin m is absolute, in the metric's units, and must come from outside the data being tested: the report takes
`--margin`, or by default MARGIN_FRACTION (10%) of the gap between the best variant's mean and the random floor's
mean (`default_margin`), and claims no tie at all when it has neither. Over the pairs of a report the TOST p-values
are Holm-corrected like the difference tests. Its level (a pair whose true difference is exactly the margin is
called tied in at most 5% of studies) is checked by simulation in tests/test_report.py.

Compact letter display (`letters`): variants that share a letter are not distinguishable by the pairwise tests;
two variants without a common letter differ significantly (Piepho 2004, insert-and-absorb).

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
EQUIVALENCE_TEST = (
    "two one-sided Welch t-tests (TOST) over seeds at a margin ±m, Holm-corrected over all pairs "
    "(family-wise alpha 0.05): tied when both reject, i.e. when the 90% Welch interval of the "
    "difference lies inside ±m"
)
PAIRWISE_TEST = (
    "Welch's two-sided t-test over seeds, Holm-corrected over all pairs compared (family-wise "
    "alpha 0.05); difference of means with its 95% Welch interval, Hedges' g"
)


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
        return Comparison(
            p, min_p, False, f"not distinguishable: {seeds} cannot reach p<{alpha:g} (smallest possible p={min_p:.2g})"
        )
    return Comparison(p, min_p, False, f"not distinguishable (p={p:.2g}, {seeds})")


# ---------------------------------------------------------------------------------------------------- pairwise
def _welch_parts(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(difference of means a - b, its standard error, Welch-Satterthwaite df) along the last axis, NaN where both
    variances are 0; None when a side has fewer than 2 values."""
    na, nb = a.shape[-1], b.shape[-1]
    if na < 2 or nb < 2:
        return None
    diff = a.mean(-1) - b.mean(-1)
    va, vb = a.var(-1, ddof=1) / na, b.var(-1, ddof=1) / nb
    se2 = va + vb
    with np.errstate(divide="ignore", invalid="ignore"):
        df = se2**2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    bad = se2 <= 0
    return diff, np.where(bad, math.nan, np.sqrt(se2)), np.where(bad, math.nan, df)


def welch(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, ...]:
    """Welch's two-sided t-test along the last axis (vectorised, so simulations can run many studies at once).

    Returns (difference of means a - b, interval low, interval high, p, Welch-Satterthwaite df). NaN where a side
    has fewer than 2 values or both variances are 0.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    parts = _welch_parts(a, b)
    if parts is None:
        diff = a.mean(-1) - b.mean(-1)
        nan = np.full(np.shape(diff), math.nan)
        return diff, nan, nan, nan, nan
    diff, se, df = parts
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2.0 * stats.t.sf(np.abs(diff / se), df)
        half = stats.t.ppf(0.5 + confidence / 2, df) * se
    return diff, diff - half, diff + half, p, df


def tost(a: np.ndarray, b: np.ndarray, margin: float, alpha: float = ALPHA) -> tuple[np.ndarray, ...]:
    """Two one-sided Welch t-tests of equivalence within +-margin along the last axis (vectorised).

    Returns (difference a - b, low and high end of its (1 - 2 alpha) Welch interval, p). p is the larger of the
    one-sided p-values for H0 "a - b <= -margin" and H0 "a - b >= margin"; p < alpha exactly when that interval
    lies inside (-margin, margin). NaN where a side has fewer than 2 values or both variances are 0.
    """
    if not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"an equivalence margin must be a positive number, got {margin}")
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    parts = _welch_parts(a, b)
    if parts is None:
        diff = a.mean(-1) - b.mean(-1)
        nan = np.full(np.shape(diff), math.nan)
        return diff, nan, nan, nan
    diff, se, df = parts
    with np.errstate(divide="ignore", invalid="ignore"):
        p_lower = stats.t.sf((diff + margin) / se, df)  # H0: a - b <= -margin
        p_upper = stats.t.cdf((diff - margin) / se, df)  # H0: a - b >= margin
        half = stats.t.ppf(1 - alpha, df) * se
    return diff, diff - half, diff + half, np.maximum(p_lower, p_upper)


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
    margin: float = math.nan  # equivalence margin (absolute, the metric's units); NaN: no equivalence tested
    p_tost: float = math.nan  # TOST p at that margin, unadjusted
    p_tost_holm: float = math.nan  # Holm-adjusted over every testable pair, like p_holm
    tied: bool = False  # p_tost_holm < alpha: equivalent within +-margin


def hedges_g(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if pooled == 0:
        return math.nan
    return float((a.mean() - b.mean()) / pooled * (1 - 3 / (4 * (na + nb) - 9)))


def pairwise(groups: dict[str, list[float]], alpha: float = ALPHA, margin: float | None = None) -> list[Pair]:
    """Every pair of groups (in the given order: a before b), Welch-tested and Holm-corrected together.
    Non-finite values are dropped; a group with fewer than 2 values is reported with NaN p, never different.
    With a `margin`, each pair is also tested for equivalence within +-margin (TOST, Holm-corrected over the
    pairs): `tied` says where that holds."""
    clean = {g: [v for v in vs if v is not None and math.isfinite(v)] for g, vs in groups.items()}
    keys = list(clean)
    raw, tosts = [], []
    for i, ga in enumerate(keys):
        for gb in keys[i + 1 :]:
            a, b = np.array(clean[ga]), np.array(clean[gb])
            diff, low, high, p, _ = welch(a, b) if len(a) and len(b) else (math.nan,) * 5
            raw.append((ga, gb, len(a), len(b), float(diff), float(low), float(high), hedges_g(a, b), float(p)))
            tosts.append(float(tost(a, b, margin, alpha)[3]) if margin is not None and len(a) and len(b) else math.nan)
    adjusted = holm(np.array([r[-1] for r in raw])) if raw else np.array([])
    adjusted_tost = holm(np.array(tosts)) if raw else np.array([])
    return [
        Pair(
            *r,
            p_holm=float(q),
            different=bool(q < alpha),
            margin=math.nan if margin is None else margin,
            p_tost=pt,
            p_tost_holm=float(qt),
            tied=bool(qt < alpha),
        )
        for r, q, pt, qt in zip(raw, adjusted, tosts, adjusted_tost, strict=True)
    ]


@dataclass(frozen=True)
class Equivalence:
    n_a: int
    n_b: int
    diff: float  # mean(a) - mean(b)
    low: float  # its 90% Welch interval (1 - 2 alpha): inside (-margin, margin) exactly when equivalent
    high: float
    margin: float
    p: float  # TOST: the larger of the two one-sided p-values; NaN when untestable (fewer than 2 values a side)
    equivalent: bool  # p < alpha


def equivalence(a, b, margin: float, alpha: float = ALPHA) -> Equivalence:
    """Are two variants' per-seed values (lower or higher is better, it does not matter) equivalent within
    +-margin, in the metric's own units? Two one-sided Welch t-tests (TOST); non-finite values are dropped. One
    pair, uncorrected: a caller testing several pairs corrects them (`pairwise(..., margin=)` uses Holm)."""
    x = np.array([v for v in a if v is not None and math.isfinite(v)], dtype=np.float64)
    y = np.array([v for v in b if v is not None and math.isfinite(v)], dtype=np.float64)
    if not len(x) or not len(y):
        return Equivalence(len(x), len(y), math.nan, math.nan, math.nan, margin, math.nan, False)
    diff, low, high, p = (float(v) for v in tost(x, y, margin, alpha))
    return Equivalence(len(x), len(y), diff, low, high, margin, p, bool(p < alpha))


MARGIN_FRACTION = 0.10  # the default equivalence margin: this share of the gap between the best and the floor


def default_margin(best_mean: float, floor_mean: float, fraction: float = MARGIN_FRACTION) -> float | None:
    """The equivalence margin when none is given: `fraction` of the distance between the best variant's mean and
    the random floor's mean (a difference that small is a small share of what training achieved at all). None when
    either is unknown or they coincide: then no tie is claimed."""
    gap = abs(floor_mean - best_mean)
    return fraction * gap if math.isfinite(gap) and gap > 0 else None


# ---------------------------------------------------------------------------------------------------- letters
def letters(groups: list[str], different: set[frozenset[str]] | list[tuple[str, str]]) -> dict[str, str]:
    """Compact letter display: a string of letters per group such that two groups share a letter exactly when
    they are not in `different` (Piepho 2004, insert-and-absorb). Letters are assigned in `groups` order (pass
    the ranking: the best group gets 'a')."""
    pairs = [tuple(p) for p in different]
    columns: list[set[str]] = [set(groups)] if groups else []
    for x, y in pairs:
        split: list[set[str]] = []
        for col in columns:
            split += [col - {x}, col - {y}] if x in col and y in col else [col]
        # absorb: a column contained in another says nothing more
        split = [c for c in split if c]
        columns = [
            c
            for i, c in enumerate(split)
            if not any((c < d) or (c == d and j < i) for j, d in enumerate(split) if j != i)
        ]
    order = {g: i for i, g in enumerate(groups)}
    columns.sort(key=lambda c: sorted(order[g] for g in c))
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if len(columns) > len(alphabet):
        raise ValueError(f"{len(columns)} letter columns: more than {len(alphabet)} letters")
    return {g: "".join(alphabet[i] for i, c in enumerate(columns) if g in c) for g in groups}
