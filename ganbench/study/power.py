"""Seeds from a power calculation: how many seeds per arm a study needs to detect a given ratio between two arms, and
to show two arms equivalent within the plan's margin, with the wanted power, on the log scale.

Planning assumes what the analysis does on a log scale: per arm, n seeds whose log values have the standard deviation
sigma = sqrt(log(1 + cv^2)) (a coefficient of variation cv of the raw values; sigma ~ cv for small cv), compared
by a two-sample t test with 2n - 2 degrees of freedom (Welch's test with equal spreads).

- Detecting a ratio r (two-sided, level alpha): power = P(|T| > t(1 - alpha/2)) with T noncentral t of parameter
  log(r) / (sigma sqrt(2/n)).
- Equivalence (two one-sided tests at level alpha within [log low, log high]) when the true ratio is 1: power is
  at least P(T_low > t(1 - alpha)) + P(T_high < -t(1 - alpha)) - 1, the two tests' noncentral t parameters being
  -log(low) / se and -log(high) / se. This bound is the usual planning formula (Chow, Shao & Wang, "Sample Size
  Calculations in Clinical Research", ch. 3.2); `simulate_tost` checks it by simulation in the tests.

A measured cv, once a study has runs, replaces the declared one: `measured_cv` pools the spread of log values over
the arms with at least two completed seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

MAX_SEEDS = 200


@dataclass(frozen=True)
class PowerPlan:
    cv: float
    cv_source: str  # "declared" | "measured over N arms"
    alpha: float
    power: float
    ratio: float  # the ratio to detect
    margin: tuple[float, float]  # equivalence bounds on the ratio
    detect: int  # seeds per arm to detect `ratio` (per pair, at alpha)
    equivalent: int  # seeds per arm to show equivalence at the margin when the true ratio is 1
    pairs: int  # the primary family's size
    detect_family: int  # the same at alpha / pairs (Holm's first step; Bonferroni)
    equivalent_family: int

    @property
    def needed(self) -> int:
        return max(self.detect, self.equivalent)


def log_sd(cv: float) -> float:
    """Standard deviation of log values for a lognormal variable with coefficient of variation `cv`."""
    return math.sqrt(math.log1p(cv * cv))


def power_detect(n: int, sigma: float, ratio: float, alpha: float) -> float:
    """Power of the two-sided two-sample t test (n per arm) to find a ratio `ratio` between arms."""
    df, se = 2 * n - 2, sigma * math.sqrt(2 / n)
    t = stats.t.ppf(1 - alpha / 2, df)
    ncp = math.log(ratio) / se
    return float(stats.nct.sf(t, df, ncp) + stats.nct.cdf(-t, df, ncp))


def power_equivalent(n: int, sigma: float, low: float, high: float, alpha: float, true_ratio: float = 1.0) -> float:
    """Power of two one-sided tests (n per arm) to show the ratio within [low, high] (a lower bound, see above)."""
    df, se = 2 * n - 2, sigma * math.sqrt(2 / n)
    t = stats.t.ppf(1 - alpha, df)
    theta = math.log(true_ratio)
    p_low = stats.nct.sf(t, df, (theta - math.log(low)) / se)
    p_high = stats.nct.cdf(-t, df, (theta - math.log(high)) / se)
    return float(max(0.0, p_low + p_high - 1))


def simulate_tost(
    n: int, sigma: float, low: float, high: float, alpha: float, reps: int = 20000, seed: int = 0
) -> float:
    """The TOST power by simulation (pooled-variance t, true ratio 1): the check of `power_equivalent`."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, sigma, (reps, n))
    b = rng.normal(0, sigma, (reps, n))
    d = b.mean(1) - a.mean(1)
    se = np.sqrt((a.var(1, ddof=1) + b.var(1, ddof=1)) / n)
    t = stats.t.ppf(1 - alpha, 2 * n - 2)
    return float(np.mean(((d - math.log(low)) / se > t) & ((d - math.log(high)) / se < -t)))


def seeds_needed(power_of, target: float) -> int:
    """The smallest n >= 2 with power_of(n) >= target (MAX_SEEDS when none up to it)."""
    for n in range(2, MAX_SEEDS + 1):
        if power_of(n) >= target:
            return n
    return MAX_SEEDS


def plan_seeds(
    cv: float, alpha: float, power: float, ratio: float, margin: tuple[float, float], pairs: int, source: str
) -> PowerPlan:
    sigma = log_sd(cv)
    low, high = margin
    family = alpha / max(1, pairs)
    return PowerPlan(
        cv=cv,
        cv_source=source,
        alpha=alpha,
        power=power,
        ratio=ratio,
        margin=margin,
        detect=seeds_needed(lambda n: power_detect(n, sigma, ratio, alpha), power),
        equivalent=seeds_needed(lambda n: power_equivalent(n, sigma, low, high, alpha), power),
        pairs=pairs,
        detect_family=seeds_needed(lambda n: power_detect(n, sigma, ratio, family), power),
        equivalent_family=seeds_needed(lambda n: power_equivalent(n, sigma, low, high, family), power),
    )


def measured_cv(values_by_arm: dict[str, list[float]], floor: float) -> tuple[float, int] | None:
    """(cv, arms) from the pooled standard deviation of log values over arms with >= 2 values, or None."""
    ss, df, arms = 0.0, 0, 0
    for values in values_by_arm.values():
        logs = [math.log(max(v, floor)) for v in values if v is not None and math.isfinite(v)]
        if len(logs) >= 2:
            ss += float(np.var(logs, ddof=1)) * (len(logs) - 1)
            df += len(logs) - 1
            arms += 1
    if not df:
        return None
    sigma = math.sqrt(ss / df)
    return math.sqrt(math.expm1(sigma * sigma)), arms


def power_text(p: PowerPlan, seeds: int) -> str:
    """The --dry-run lines: the seeds needed, against the final stage's."""
    lines = [
        f"  power (seed-to-seed cv {p.cv:.3f}, {p.cv_source}; {p.power:.0%} power, alpha {p.alpha:g}, log scale):",
        f"    detect a {p.ratio:g}x ratio: {p.detect} seeds per arm ({p.detect_family} at alpha/{p.pairs}, Holm's "
        "first step over the primary family)",
        f"    equivalence within {p.margin[0]:g}-{p.margin[1]:g} (true ratio 1): {p.equivalent} seeds per arm "
        f"({p.equivalent_family} at alpha/{p.pairs})",
    ]
    verdict = "enough" if seeds >= p.needed else f"FEWER than the {p.needed} the calculation asks for"
    lines.append(f"    the final stage runs {seeds} seeds per tuned arm: {verdict}")
    return "\n".join(lines)
