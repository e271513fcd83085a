"""Statistics over seeds: a t-interval for each mean, Welch's test of a difference, two one-sided tests of
equivalence, Holm's correction. Plain arrays in, plain numbers out (vectorised along the last axis, so simulations
can run many studies at once); nothing here knows about runs, metrics or reports.

Interval: mean +- t(0.975, n-1) * s / sqrt(n), s the sample standard deviation over seeds (ddof=1). One seed has no
interval. With few seeds the interval is wide (t = 12.7 for n = 2): that is the honest answer.

Variance floor (`var_floor`): each seed's value is itself measured with evaluation noise (which images were drawn;
the run's bootstrap standard error). With 3-5 seeds the sample variance can come out below that noise's variance,
which no real spread over seeds can be, so every function here takes an optional per-observation variance floor
and uses max(s^2, floor) in place of s^2 in the standard error (Welch's degrees of freedom stay those of the
seeds' own variances, so a floor can only make a test stricter): an interval is never narrower than evaluation
noise allows.

Welch's two-sided t-test on the per-seed values of every pair of groups, corrected by Holm's step-down method
(family-wise error rate <= alpha over the family of pairs), with the difference of means, its 95% Welch interval
and Hedges' g. Why Welch and not a rank or permutation test: with 5 seeds per group every exact rank or
permutation test has only C(10, 5) = 252 arrangements, so its smallest two-sided p is 2/252 = 0.0079, above the
0.05/21 = 0.0024 that Holm asks of the best of 21 pairs: such a procedure could never call anything different.
Welch's level and power at 5 seeds are checked by simulation in tests/test_report.py. It assumes roughly normal
seed noise; an arm with a failed seed (stalled, collapsed, diverged) is bimodal and is compared by a rank test
instead (`ganbench.stats.ranktest`; the report's comparison owner decides).

Equivalence (`tost`, `equivalence`): "no detectable difference" is not "the same". Two groups are equivalent only
when two one-sided Welch t-tests (TOST; Schuirmann 1987) reject both "a - b <= low" and "a - b >= high" at alpha,
i.e. when the 90% Welch interval of the difference lies inside (low, high). On a log scale the bounds are log
ratios (0.8-1.25: log 0.8, log 1.25). The margin must come from outside the data being tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
EQUIVALENCE_TEST = (
    "two one-sided Welch t-tests (TOST) over seeds at the margin, Holm-corrected over the family "
    "(alpha 0.05): tied when both reject, i.e. when the 90% Welch interval of the difference lies inside the margin"
)
PAIRWISE_TEST = (
    "Welch's two-sided t-test over seeds, Holm-corrected over the family's pairs (family-wise alpha 0.05); "
    "difference with its 95% Welch interval, Hedges' g"
)


def finite(values) -> np.ndarray:
    """The finite values as float64 (None, NaN and inf dropped: a diverged metric is not a number to average)."""
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)


@dataclass(frozen=True)
class Interval:
    mean: float  # nan when n == 0
    low: float  # nan when n < 2
    high: float
    n: int


def t_interval(values, confidence: float = 0.95, var_floor: float = 0.0) -> Interval:
    """Mean and two-sided t-interval of the finite values; `var_floor`: the smallest variance one value can have
    (its evaluation noise), used where the seeds' own variance is smaller."""
    x = finite(values)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    sd = math.sqrt(max(float(x.var(ddof=1)), var_floor))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n)


def _welch_parts(a: np.ndarray, b: np.ndarray, floor_a=0.0, floor_b=0.0):
    """(difference of means a - b, its standard error, Welch-Satterthwaite df) along the last axis, NaN where both
    variances are 0; None when a side has fewer than 2 values."""
    na, nb = a.shape[-1], b.shape[-1]
    if na < 2 or nb < 2:
        return None
    diff = a.mean(-1) - b.mean(-1)
    sa, sb = a.var(-1, ddof=1) / na, b.var(-1, ddof=1) / nb
    va, vb = np.maximum(sa * na, floor_a) / na, np.maximum(sb * nb, floor_b) / nb
    se2 = va + vb
    # A floor widens the standard error only: the degrees of freedom stay those of the seeds' own variances (a
    # floor that evened out the two variances would otherwise raise the df and could make a test less strict).
    da, db = (sa, sb) if np.all(sa + sb > 0) else (va, vb)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (da + db) ** 2 / (da**2 / (na - 1) + db**2 / (nb - 1))
    bad = se2 <= 0
    return diff, np.where(bad, math.nan, np.sqrt(se2)), np.where(bad, math.nan, df)


def welch(a, b, confidence: float = 0.95, floor_a: float = 0.0, floor_b: float = 0.0) -> tuple[np.ndarray, ...]:
    """Welch's two-sided t-test along the last axis. Returns (difference of means a - b, interval low, interval
    high, p, Welch-Satterthwaite df); NaN where a side has fewer than 2 values or both variances are 0.
    `floor_a`/`floor_b`: per-value variance floors (evaluation noise)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    parts = _welch_parts(a, b, floor_a, floor_b)
    if parts is None:
        diff = a.mean(-1) - b.mean(-1)
        nan = np.full(np.shape(diff), math.nan)
        return diff, nan, nan, nan, nan
    diff, se, df = parts
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2.0 * stats.t.sf(np.abs(diff / se), df)
        half = stats.t.ppf(0.5 + confidence / 2, df) * se
    return diff, diff - half, diff + half, p, df


def bounds(margin) -> tuple[float, float]:
    """An equivalence margin as (low, high) bounds of a - b: a number m means (-m, m)."""
    low, high = (-float(margin), float(margin)) if np.ndim(margin) == 0 else (float(margin[0]), float(margin[1]))
    if not (math.isfinite(low) and math.isfinite(high) and low < 0 < high):
        raise ValueError(f"an equivalence margin must be a positive number or bounds low < 0 < high, got {margin}")
    return low, high


def tost(a, b, margin, alpha: float = ALPHA, floor_a: float = 0.0, floor_b: float = 0.0) -> tuple[np.ndarray, ...]:
    """Two one-sided Welch t-tests of equivalence along the last axis: `margin` m (bounds -m, m) or (low, high).

    Returns (difference a - b, low and high end of its (1 - 2 alpha) Welch interval, p). p is the larger of the
    one-sided p-values for H0 "a - b <= low" and H0 "a - b >= high"; p < alpha exactly when that interval lies
    inside (low, high). NaN where a side has fewer than 2 values or both variances are 0.
    """
    low, high = bounds(margin)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    parts = _welch_parts(a, b, floor_a, floor_b)
    if parts is None:
        diff = a.mean(-1) - b.mean(-1)
        nan = np.full(np.shape(diff), math.nan)
        return diff, nan, nan, nan
    diff, se, df = parts
    with np.errstate(divide="ignore", invalid="ignore"):
        p_lower = stats.t.sf((diff - low) / se, df)  # H0: a - b <= low
        p_upper = stats.t.cdf((diff - high) / se, df)  # H0: a - b >= high
        half = stats.t.ppf(1 - alpha, df) * se
    return diff, diff - half, diff + half, np.maximum(p_lower, p_upper)


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values along the last axis: p_(i) * (k - i + 1), made monotone, capped at 1.
    A pair is different at family-wise level alpha when its adjusted p < alpha. NaNs stay NaN and do not count."""
    p = np.asarray(p, dtype=np.float64)
    finite_ = np.isfinite(p)
    k = finite_.sum(-1, keepdims=True)
    order = np.argsort(np.where(finite_, p, np.inf), axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, -1)
    factor = k - np.arange(p.shape[-1])
    adjusted = np.minimum(np.maximum.accumulate(np.where(np.isfinite(ranked), ranked * factor, -np.inf), -1), 1.0)
    out = np.empty_like(p)
    np.put_along_axis(out, order, adjusted, -1)
    return np.where(finite_, out, math.nan)


def hedges_g(a, b) -> float:
    """Standardised difference of means (pooled sd), small-sample corrected; NaN below 2 values a side."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if pooled == 0:
        return math.nan
    return float((a.mean() - b.mean()) / pooled * (1 - 3 / (4 * (na + nb) - 9)))


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


def pairwise(groups: dict[str, list[float]], alpha: float = ALPHA, margin: float | None = None) -> list[Pair]:
    """Every pair of groups (in the given order: a before b), Welch-tested and Holm-corrected together.
    Non-finite values are dropped; a group with fewer than 2 values is reported with NaN p, never different.
    With a `margin`, each pair is also tested for equivalence within +-margin (TOST, Holm-corrected over the
    pairs): `tied` says where that holds."""
    clean = {g: finite(vs) for g, vs in groups.items()}
    keys = list(clean)
    raw, tosts = [], []
    for i, ga in enumerate(keys):
        for gb in keys[i + 1 :]:
            a, b = clean[ga], clean[gb]
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
    low: float  # its 90% Welch interval (1 - 2 alpha): inside the margin exactly when equivalent
    high: float
    margin: float | tuple[float, float]
    p: float  # TOST: the larger of the two one-sided p-values; NaN when untestable (fewer than 2 values a side)
    equivalent: bool  # p < alpha


def equivalence(a, b, margin, alpha: float = ALPHA) -> Equivalence:
    """Are two groups' per-seed values equivalent within the margin (m: +-m; or (low, high) bounds of a - b), in
    the values' own units? Two one-sided Welch t-tests (TOST); non-finite values are dropped. One pair,
    uncorrected: a caller testing several pairs corrects them (Holm)."""
    bounds(margin)
    x, y = finite(a), finite(b)
    if not len(x) or not len(y):
        return Equivalence(len(x), len(y), math.nan, math.nan, math.nan, margin, math.nan, False)
    diff, low, high, p = (float(v) for v in tost(x, y, margin, alpha))
    return Equivalence(len(x), len(y), diff, low, high, margin, p, bool(p < alpha))


MARGIN_FRACTION = 0.10  # the raw-scale default margin of v1 plans: this share of the gap between best and floor


def default_margin(best_mean: float, floor_mean: float, fraction: float = MARGIN_FRACTION) -> float | None:
    """The raw-scale margin of a plan that declares a fraction of the gap (v1 studies, `ganbench report` without
    a plan): `fraction` of the distance between the best group's mean and the random floor's mean. It depends on
    the results, so it is not a margin fixed in advance. None when either is unknown or they coincide."""
    gap = abs(floor_mean - best_mean)
    return fraction * gap if math.isfinite(gap) and gap > 0 else None
