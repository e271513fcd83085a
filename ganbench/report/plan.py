"""The analysis plan a comparison runs under: which metric ranks, on which scale, at which equivalence margin and
alpha, and where that plan came from.

A study file declares its plan before the first trial (`ganbench study` records a hash of it in study.json when
stage 1 starts); a report made under a plan whose hash differs from the recorded one is *post hoc*, and says so on
every verdict that depends on it. Results without a declared plan (studies of the first protocol, sweeps, plain
runs) are analysed under the first protocol's rule, which is not a plan fixed in advance: the raw scale, a margin
of 10% of the gap between the best group and the random floor (`ganbench report --margin` overrides it), and the
report adds the ratio-scale analysis beside it, labelled as a post hoc re-analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ganbench.stats import scale as sc
from ganbench.stats.welch import ALPHA, MARGIN_FRACTION

DECLARED, FIRST_PROTOCOL, GIVEN, REANALYSIS, BORROWED = "declared", "first protocol", "given", "re-analysis", "borrowed"


@dataclass(frozen=True)
class Plan:
    scale: str = sc.RAW  # raw | log
    margin: float | tuple[float, float] | None = None  # fixed in advance: a ratio (pair) on log, absolute on raw
    margin_fraction: float | None = MARGIN_FRACTION  # else: this share of the best-to-floor gap (raw scale only)
    alpha: float = ALPHA
    metric: str | None = None  # the metric's base (kid) or full name (kid500); None: the runs' protocol decides
    source: str = FIRST_PROTOCOL  # DECLARED (a study file), FIRST_PROTOCOL, GIVEN (--margin/--scale), REANALYSIS,
    # BORROWED (the declared plan on another metric)
    post_hoc: bool = False  # the declared plan differs from the one recorded before the first trial
    log_floor: float | None = sc.DEFAULT_LOG_FLOOR  # log scale: a value <= 0 is taken as this (counted)

    def bounds(self, best: float = math.nan, floor: float = math.nan) -> tuple[float, float] | None:
        """The margin as bounds of a - b on the analysis scale; None when there is none (then no tie is
        claimed). A fraction of the gap needs the best group's and the floor's centres."""
        if self.margin is not None:
            return sc.margin_bounds(self.margin, self.scale)
        if self.margin_fraction is None or self.scale != sc.RAW:
            return None
        gap = abs(floor - best)
        return (-self.margin_fraction * gap, self.margin_fraction * gap) if math.isfinite(gap) and gap > 0 else None

    def margin_text(self, best: float = math.nan, floor: float = math.nan) -> str:
        """'0.8-1.25 (a ratio, fixed in advance)', '±0.0532 (10% of the gap ... set after the results)', 'none'."""
        b = self.bounds(best, floor)
        if b is None:
            return "none (no margin: no pair is called tied)"
        if self.scale == sc.LOG:
            return f"ratio {math.exp(b[0]):.3g}-{math.exp(b[1]):.3g}" + self._when()
        if self.margin is not None:
            return f"±{b[1]:.3g}" + self._when()
        return (
            f"±{b[1]:.3g} ({self.margin_fraction:.0%} of the gap between the best group, {best:.3g}, and the random "
            f"floor, {floor:.3g}: set after seeing the results)"
        )

    def _when(self) -> str:
        return {
            DECLARED: " (declared in the study file)",
            BORROWED: " (declared in the study file, for the primary metric)",
            GIVEN: " (given to the report)",
        }.get(self.source, " (chosen after the results)")

    @property
    def label(self) -> str:
        """How a section names its plan: 'declared plan', 'post hoc', 'first-protocol rule', ..."""
        if self.post_hoc:
            return "post hoc: the analysis plan changed after the first trial"
        return {
            DECLARED: "the declared plan",
            FIRST_PROTOCOL: "the first protocol's rule (raw scale, margin from the results)",
            GIVEN: "the plan given to the report",
            REANALYSIS: "post hoc re-analysis on the ratio scale (not the plan these results were made under)",
            BORROWED: "the declared plan's scale, margin and α carried over from the primary metric (exploratory)",
        }[self.source]

    def describe(self) -> str:
        words = "log scale: effects are ratios" if self.scale == sc.LOG else "raw scale: effects are differences"
        return f"{words}; α {self.alpha:g}"


def ratio_reanalysis(plan: Plan) -> Plan:
    """The ratio-scale re-analysis of a plan that was not declared on it: log scale, margin 0.8-1.25."""
    return replace(plan, scale=sc.LOG, margin=sc.RATIO_MARGIN, margin_fraction=None, source=REANALYSIS)


def from_declaration(declared: dict | None, recorded_hash: str | None, declared_hash: str | None) -> Plan | None:
    """A study's declared plan (its study file's analysis block as recorded: metric, scale, margin, alpha), post
    hoc when the hash recorded at the first trial differs from the hash of the plan declared now. None when the
    study declared no plan (the first protocol)."""
    if not declared:
        return None
    scale = sc.check(str(declared.get("scale", sc.RAW)))
    margin = declared.get("margin")
    margin = tuple(float(x) for x in margin) if isinstance(margin, (list, tuple)) else margin
    return Plan(
        scale=scale,
        margin=margin,
        margin_fraction=None,
        alpha=float(declared.get("alpha", ALPHA)),
        metric=declared.get("metric"),
        source=DECLARED,
        post_hoc=bool(recorded_hash and declared_hash and recorded_hash != declared_hash),
    )


def borrowed(plan: Plan) -> Plan:
    """The declared plan carried over to a metric it was not declared for (a second lens's): the same scale, margin
    and α, labelled exploratory."""
    return replace(plan, source=BORROWED, metric=None) if plan.source == DECLARED else plan


def first_protocol(fraction: float | None = MARGIN_FRACTION, metric: str | None = None) -> Plan:
    """The first protocol's rule: raw scale, margin `fraction` of the best-to-floor gap."""
    return Plan(scale=sc.RAW, margin=None, margin_fraction=fraction, metric=metric, source=FIRST_PROTOCOL)


def given(margin: float | None, scale: str | None) -> Plan | None:
    """A plan given to `ganbench report` (--margin, --scale); None when neither was given."""
    if margin is None and scale is None:
        return None
    scale = sc.check(scale or sc.RAW)
    return Plan(
        scale=scale, margin=margin, margin_fraction=None if margin is not None else MARGIN_FRACTION, source=GIVEN
    )
