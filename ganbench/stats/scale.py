"""The scale an analysis runs on: `raw` (differences in the metric's units) or `log` (differences of log values,
read back as ratios).

FID and a positive KID are ratio-scale quantities: their seed-to-seed spread grows with the mean (coefficient of
variation 8-18% across the GAN arms of the fair study), so a difference of 0.01 KID means much more at 0.05 than at
0.3. On the log scale that spread is about constant, Welch's test compares like with like, and an effect reads as
a ratio: "hinge / dcgan = 1.01, 90% CI 0.86-1.18". An equivalence margin on that scale is a ratio fixed in advance
(0.8-1.25, the bioequivalence convention), never a number derived from the results.

A value <= 0 has no logarithm. KID is an unbiased estimate and can come out at or below 0 when two sets are
statistically indistinguishable at this sample count (the real-vs-real line, ~0.00003 here). A plan may declare a
`log_floor` (the study file's `[analysis] log_floor`, 1e-4 by default there): such a value is taken as the floor
before the logarithm, and the report counts how many were. Without a floor the group it belongs to is analysed on
the raw scale only and is not ratio-compared (`log_ok`).
"""

from __future__ import annotations

import math

import numpy as np

RAW, LOG = "raw", "log"
SCALES = (RAW, LOG)
RATIO_MARGIN = (0.8, 1.25)  # the default ratio margin: bioequivalence's 80-125%


def check(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"unknown analysis scale '{scale}': use one of {', '.join(SCALES)}")
    return scale


def log_ok(values) -> bool:
    """Every finite value is positive, so the group can be analysed on the log scale."""
    return all(v > 0 for v in values if v is not None and math.isfinite(v))


DEFAULT_LOG_FLOOR = 1e-4  # what a value <= 0 is taken as on the log scale, where a plan declares no other


def floored(values, log_floor: float | None) -> int:
    """How many finite values are <= 0 (taken as `log_floor` on the log scale)."""
    return sum(1 for v in values if v is not None and math.isfinite(v) and v <= 0) if log_floor else 0


def forward(values, scale: str, log_floor: float | None = None) -> np.ndarray:
    """Values on the analysis scale: the log of each for `log`, a value <= 0 taken as `log_floor` first (without
    one it becomes NaN: see `log_ok`)."""
    x = np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)
    if check(scale) == RAW:
        return x
    if log_floor:
        x = np.where(np.isfinite(x) & (x <= 0), log_floor, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.where(np.isinf(x), np.inf, math.nan))


def back(value: float, scale: str) -> float:
    """A location on the analysis scale, back in the metric's units (the geometric mean for `log`)."""
    return float(math.exp(value)) if check(scale) == LOG and math.isfinite(value) else float(value)


def effect(diff: float, scale: str) -> float:
    """A difference a - b on the analysis scale as the reader's effect: the ratio a / b on `log`, else a - b."""
    return float(math.exp(diff)) if check(scale) == LOG and math.isfinite(diff) else float(diff)


def noise_variance(value: float, se: float, scale: str) -> float:
    """The evaluation-noise variance of one value on the analysis scale: se^2 raw, (se / value)^2 on the log scale
    (the delta method; se is the run's bootstrap standard error of the metric). NaN when unknown."""
    if se is None or not math.isfinite(se) or not math.isfinite(value):
        return math.nan
    if check(scale) == LOG:
        return (se / value) ** 2 if value > 0 else math.nan
    return se**2


def margin_bounds(margin, scale: str) -> tuple[float, float]:
    """A declared margin as bounds of a - b on the analysis scale: a ratio pair (0.8, 1.25) or one ratio r
    (1/r, r) on `log`; an absolute m (-m, m) or a pair on `raw`."""
    pair = (1 / float(margin), float(margin)) if np.ndim(margin) == 0 and check(scale) == LOG else margin
    if check(scale) == LOG:
        low, high = (float(x) for x in pair)
        if not 0 < low < 1 < high:
            raise ValueError(f"a ratio margin must satisfy 0 < low < 1 < high, got {margin}")
        return math.log(low), math.log(high)
    if np.ndim(margin) == 0:
        return -float(margin), float(margin)
    return float(margin[0]), float(margin[1])
