"""A study's analysis plan: what the report will test, declared in the study file before the first trial.

    [analysis]
    metric = "kid"            # the primary metric (a distance: kid | fid | fidinf) at the study's eval_samples
    scale = "log"             # log: ratio-scale statistics (Welch and TOST on log values, intervals as ratios);
                              # raw: differences
    margin = [0.8, 1.25]      # equivalence bounds on that scale: a ratio B/A (log) or a difference B - A (raw);
                              # declared, never derived from results
    alpha = 0.05
    family = "tuned"          # the primary family of comparisons (see FAMILIES); every other one is exploratory
    log_floor = 1e-4          # log scale: a value at or below 0 (an unbiased KID can be) is taken as this before
                              # the logarithm, and the report counts such values
    goals = {kid = 0.05, precision = 0.4}   # figures the primary arm is measured against (direction: the metric's)

`study.json` records the plan and its hash when stage 1 starts; a report made under a plan whose hash differs says
"post hoc" on every verdict that depends on it. Studies written before plans were declared (format 1) carry the
plan they implied: raw scale, a margin of `V1_MARGIN_SHARE` of the gap between the best tuned mean and the random
floor (derived from the results), alpha 0.05, every pair of the tuned arms, issue 18's goal figures.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from ganbench import spec
from ganbench.errors import ConfigError
from ganbench.metrics import names
from ganbench.registry import unknown

LOG, RAW = "log", "raw"
SCALES = (LOG, RAW)
RATIO, DIFFERENCE, GAP_SHARE = "ratio", "difference", "gap_share"  # what a margin's bounds are
ALPHA = 0.05
V1_MARGIN_SHARE = 0.1  # format 1: "tied" within this share of the gap between the best tuned mean and the floor
V1_GOALS = {names.KID: 0.05, names.PRECISION: 0.4}  # format 1: issue 18's goal figures for the best GAN
DEFAULT_LOG_FLOOR = 1e-4
# The primary family of comparisons, by name: what the study's headline verdicts are made of.
FAMILIES = {
    "tuned": "every pair of the variants' tuned arms (each variant's selected setting) at the final budget, on the "
    "report split",
}
ANALYSIS_KEYS = ("metric", "scale", "margin", "alpha", "family", "log_floor", "goals")


@dataclass(frozen=True)
class Margin:
    """Equivalence bounds. ratio (log scale): B/A within [low, high], e.g. 0.8-1.25; difference (raw scale): B - A
    within [low, high]; gap_share (format 1 only): |B - A| within `high` x (floor mean - best tuned mean), a bound
    the report derives from the results."""

    kind: str
    low: float
    high: float

    def text(self) -> str:
        if self.kind == RATIO:
            return f"ratio {self.low:g}-{self.high:g}"
        if self.kind == GAP_SHARE:
            return f"±{self.high:.0%} of the gap between the best tuned mean and the random floor (from the results)"
        return f"difference {self.low:+g} to {self.high:+g}"


@dataclass(frozen=True)
class Goal:
    metric: str  # the full name at the study's sample count: kid500
    bound: float
    lower_is_better: bool

    def met(self, value: float) -> bool:
        return value <= self.bound if self.lower_is_better else value >= self.bound


@dataclass(frozen=True)
class AnalysisPlan:
    metric: str  # the base name: kid
    metric_name: str  # at the study's sample count: kid500
    scale: str  # log | raw
    margin: Margin
    alpha: float
    family: str  # a key of FAMILIES
    goals: tuple[Goal, ...]
    log_floor: float  # log scale: values <= 0 are taken as this
    declared: bool = True  # False: a format-1 study's implied plan (nothing was declared)

    @property
    def family_text(self) -> str:
        return FAMILIES.get(self.family, self.family)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sha256(self) -> str:
        """The plan's hash: a report compares the one recorded when stage 1 started with the file's now."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def plan_from_dict(d: dict[str, Any]) -> AnalysisPlan:
    """The plan as study.json records it (to_dict)."""
    return AnalysisPlan(
        **{k: v for k, v in d.items() if k not in ("margin", "goals")},
        margin=Margin(**d["margin"]),
        goals=tuple(Goal(**g) for g in d.get("goals", [])),
    )


def _goals(value: Any, n: int, where: str) -> tuple[Goal, ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"[analysis] goals must be a table of metric = figure, e.g. {{kid = 0.05}} (in {where})")
    goals = []
    for base, bound in value.items():
        if base not in names.BASES:
            raise ConfigError(f"{unknown('[analysis] goals metric', base, list(names.BASES))} (in {where})")
        goals.append(
            Goal(
                names.name(base, n), float(spec.number(bound, f"[analysis] goals.{base}")), names.LOWER_IS_BETTER[base]
            )
        )
    return tuple(goals)


def parse_plan(table: dict[str, Any], n: int, where: str) -> AnalysisPlan:
    """The [analysis] table of a study file; `n` is the study's eval_samples (the metric's sample count)."""
    spec.check_keys(table, ANALYSIS_KEYS, "[analysis] key", where)
    for key in ("metric", "scale", "margin"):
        if key not in table:
            raise ConfigError(
                f"[analysis] {key} is missing (in {where}): declare the primary metric, its scale and the equivalence "
                'margin before the first trial, e.g. metric = "kid", scale = "log", margin = [0.8, 1.25]'
            )
    metric = table["metric"]
    if metric not in names.DISTANCES:
        raise ConfigError(f"{unknown('[analysis] metric', str(metric), list(names.DISTANCES))} (in {where})")
    scale = table["scale"]
    if scale not in SCALES:
        raise ConfigError(f"{unknown('[analysis] scale', str(scale), list(SCALES))} (in {where})")
    bounds = table["margin"]
    if isinstance(bounds, (int, float)) and not isinstance(bounds, bool):
        bounds = [1 / bounds, bounds] if scale == LOG else [-bounds, bounds]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise ConfigError(f"[analysis] margin must be [low, high], e.g. [0.8, 1.25] (in {where})")
    low, high = (float(spec.number(b, "[analysis] margin")) for b in bounds)
    if scale == LOG and not 0 < low < 1 < high:
        raise ConfigError(
            f"[analysis] margin on the log scale is a ratio range around 1, e.g. [0.8, 1.25]; got {bounds}"
        )
    if scale == RAW and not low < 0 < high:
        raise ConfigError(
            f"[analysis] margin on the raw scale is a difference range around 0, e.g. [-0.01, 0.01]; got {bounds}"
        )
    alpha = float(spec.number(table.get("alpha", ALPHA), "[analysis] alpha"))
    if not 0 < alpha < 0.5:
        raise ConfigError(f"[analysis] alpha must be between 0 and 0.5, got {alpha}")
    family = table.get("family", next(iter(FAMILIES)))
    if family not in FAMILIES:
        raise ConfigError(f"{unknown('[analysis] family', str(family), list(FAMILIES))} (in {where})")
    log_floor = float(spec.number(table.get("log_floor", DEFAULT_LOG_FLOOR), "[analysis] log_floor"))
    if log_floor <= 0:
        raise ConfigError(f"[analysis] log_floor must be positive, got {log_floor}")
    return AnalysisPlan(
        metric=metric,
        metric_name=names.name(metric, n),
        scale=scale,
        margin=Margin(RATIO if scale == LOG else DIFFERENCE, low, high),
        alpha=alpha,
        family=family,
        goals=_goals(table.get("goals", {}), n, where),
        log_floor=log_floor,
    )


def v1_plan(metric: str, n: int, share: float = V1_MARGIN_SHARE) -> AnalysisPlan:
    """The plan a format-1 study implied (it declared only its metric and `equivalence_margin`)."""
    return AnalysisPlan(
        metric=metric,
        metric_name=names.name(metric, n),
        scale=RAW,
        margin=Margin(GAP_SHARE, -share, share),
        alpha=ALPHA,
        family="tuned",
        goals=tuple(Goal(names.name(b, n), v, names.LOWER_IS_BETTER[b]) for b, v in V1_GOALS.items()),
        log_floor=DEFAULT_LOG_FLOOR,
        declared=False,
    )
