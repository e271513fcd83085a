"""Bootstrap intervals and rank agreement over plain arrays of scores (seeded: the same input gives the same
interval). Lower is better throughout unless `lower_is_better=False`.

- `prob_improvement`: P(A better than B), the probability that a random seed of A beats a random seed of B (ties
  count half: the Mann-Whitney AUC; Agarwal et al. 2021, rliable), with a percentile bootstrap interval that
  resamples each group's seeds on its own.
- `tau_interval`: Kendall's tau between two rankings of the same groups (e.g. two metrics on the same runs), with a
  bootstrap interval over seeds: each group's runs are resampled, and both metrics move with the run they belong to.
- `expected_best`: Dodge et al. 2019's expected best score after k candidates drawn at random from those tried
  (Lucic et al. 2018 draw the same curve by resampling), E[min of k draws with replacement] in closed form, with a
  bootstrap band over the candidates.
- `rank_correlation`: Spearman's rho and Kendall's tau between two score lists of the same candidates (does a short
  run's ranking predict the long one's?).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

REPLICATES = 2000
SEED = 2024


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float  # 95% percentile bootstrap interval; NaN when there is nothing to resample
    high: float


def _percentile(draws: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return math.nan, math.nan
    tail = 50 * (1 - confidence)
    return float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))


def _auc(a: np.ndarray, b: np.ndarray, lower_is_better: bool) -> np.ndarray:
    """P(a beats b) + 0.5 P(tie) over all pairs, along the last axis."""
    x, y = (a, b) if lower_is_better else (b, a)
    less = (x[..., :, None] < y[..., None, :]).mean((-2, -1))
    ties = (x[..., :, None] == y[..., None, :]).mean((-2, -1))
    return less + 0.5 * ties


def prob_improvement(a, b, lower_is_better: bool = True, replicates: int = REPLICATES, seed: int = SEED) -> Estimate:
    """P(a random seed of A beats a random seed of B). +inf is a legal (worst) value for a diverged seed."""
    x = np.asarray([v for v in a if v is not None and not math.isnan(v)], dtype=np.float64)
    y = np.asarray([v for v in b if v is not None and not math.isnan(v)], dtype=np.float64)
    if not len(x) or not len(y):
        return Estimate(math.nan, math.nan, math.nan)
    value = float(_auc(x, y, lower_is_better))
    if len(x) < 2 and len(y) < 2:
        return Estimate(value, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    xs = x[rng.integers(0, len(x), (replicates, len(x)))]
    ys = y[rng.integers(0, len(y), (replicates, len(y)))]
    return Estimate(value, *_percentile(_auc(xs, ys, lower_is_better)))


def kendall(x, y) -> float:
    """Kendall's tau-b between two score lists; NaN below 2 items or when either list is constant."""
    if len(x) < 2:
        return math.nan
    tau = stats.kendalltau(x, y).statistic
    return float(tau) if tau is not None and math.isfinite(tau) else math.nan


def tau_interval(
    pairs_by_group: dict[str, list[tuple[float, float]]], replicates: int = REPLICATES, seed: int = SEED
) -> Estimate:
    """Kendall's tau between the groups' mean of the first and of the second score, with a bootstrap interval
    over seeds: each group's (first, second) pairs (one per run) are resampled with replacement."""
    groups = [np.asarray(v, dtype=np.float64) for v in pairs_by_group.values() if len(v)]
    if len(groups) < 2:
        return Estimate(math.nan, math.nan, math.nan)
    value = kendall([g[:, 0].mean() for g in groups], [g[:, 1].mean() for g in groups])
    if all(len(g) < 2 for g in groups):
        return Estimate(value, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = np.stack([g[rng.integers(0, len(g), (replicates, len(g)))].mean(1) for g in groups], 1)  # (R, G, 2)
    draws = np.array([kendall(m[:, 0], m[:, 1]) for m in means])
    return Estimate(value, *_percentile(draws))


def expected_best_curve(scores, lower_is_better: bool = True) -> np.ndarray:
    """E[best of k draws with replacement from `scores`] for k = 1 .. n (Dodge et al. 2019, eq. 1): with the
    scores sorted from worst to best v_(1) .. v_(n), E = sum_i v_(i) ((i/n)^k - ((i-1)/n)^k)."""
    v = np.sort(np.asarray(scores, dtype=np.float64))
    if lower_is_better:
        v = v[::-1]  # worst (largest) first
    n = len(v)
    i = np.arange(1, n + 1)
    k = np.arange(1, n + 1)[:, None]
    weights = (i / n) ** k - ((i - 1) / n) ** k
    return weights @ v


def expected_best(
    scores, lower_is_better: bool = True, failed_as: float | None = None, replicates: int = 500, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(curve, band low, band high) for k = 1 .. n: the expected best score after k candidates, and a 95%
    percentile bootstrap band from resampling the candidates. A non-finite score (a diverged or failed
    candidate) counts as `failed_as` (e.g. the random floor), by default the worst finite score: it was tried
    and did not win."""
    finite_ = [v for v in scores if v is not None and math.isfinite(v)]
    if failed_as is None:
        failed_as = (max(finite_) if lower_is_better else min(finite_)) if finite_ else math.nan
    x = np.asarray([v if v is not None and math.isfinite(v) else failed_as for v in scores], dtype=np.float64)
    if not len(x) or not np.isfinite(x).all():
        empty = np.full(len(x), math.nan)
        return empty, empty, empty
    curve = expected_best_curve(x, lower_is_better)
    rng = np.random.default_rng(seed)
    draws = np.stack(
        [expected_best_curve(x[rng.integers(0, len(x), len(x))], lower_is_better) for _ in range(replicates)]
    )
    return curve, np.percentile(draws, 2.5, axis=0), np.percentile(draws, 97.5, axis=0)


@dataclass(frozen=True)
class RankCorrelation:
    n: int
    spearman: float
    kendall: float


def rank_correlation(x, y) -> RankCorrelation:
    """Spearman's rho and Kendall's tau-b between two score lists of the same items (finite pairs only)."""
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if math.isfinite(a) and math.isfinite(b)]
    if len(pairs) < 2:
        return RankCorrelation(len(pairs), math.nan, math.nan)
    a, b = (np.array(v) for v in zip(*pairs, strict=True))
    rho = stats.spearmanr(a, b).statistic
    return RankCorrelation(len(pairs), float(rho) if math.isfinite(rho) else math.nan, kendall(a, b))
