"""The one comparison owner: groups of per-seed values in, a `Comparison` out (every section of a report is one or
a composition of these: a cohort of runs, the study's selected arms, selected against recipe, a rung of the search,
each evaluated budget, two studies or two metrics side by side).

    compare(values_by_group, plan, family, ...) -> Comparison

What it does, in order (a plan fixes the scale, the margin and alpha; `ganbench.report.plan`):
1. Each group's seeds: failed seeds (stalled, collapsed, diverged; `ganbench.report.failures`) are counted with a
   Clopper-Pearson interval for the rate, and the group's centre and 95% t-interval come from its successful
   seeds only (the mean on the raw scale, the geometric mean on the log scale), never widened by nor hiding a
   failure. An arm whose every seed failed has no interval: its centre (over all its seeds) only places it, and
   its failure count is what is said of it. The interval is never narrower than the runs' own evaluation noise
   allows (`ganbench.stats.welch`).
2. Every pair: Welch on the plan's scale (the effect a ratio a / b on the log scale, a difference on the raw one,
   with its 95% interval), TOST at the margin (90% interval inside it) where neither group has a failed seed;
   where a group mixes failed and successful seeds, the exact Mann-Whitney test over all its seeds (a rank test
   stays valid for a bimodal arm) and no equivalence claim; where every seed of a group failed, no test at all
   (the pair is listed untested, with the failure count). p-values Holm-corrected over the family's tested pairs,
   TOST p-values likewise. P(A better than B) with a bootstrap interval beside each pair (over every seed).
3. Letters from the Holm-corrected decisions, for the groups with a successful seed; groups ordered best first.
On the log scale a value <= 0 is taken as the plan's log floor and counted; without a floor its group stays raw and
its pairs are not ratio-compared, and the comparison says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ganbench.report.plan import Plan
from ganbench.stats import scale as sc
from ganbench.stats.letters import letters as letter_display
from ganbench.stats.ranktest import mann_whitney
from ganbench.stats.rates import clopper_pearson
from ganbench.stats.resample import Estimate, prob_improvement
from ganbench.stats.welch import finite, hedges_g, holm, t_interval, tost, welch

WELCH, RANK, NONE = "Welch", "Mann-Whitney", "none"
TIED, OPEN, UNTESTED = "tied", "open", "untested"


@dataclass(frozen=True)
class Obs:
    """One seed's final value of the ranking metric."""

    value: float  # NaN or inf where the run diverged
    run: str = ""  # the run folder, relative to the results folder
    seed: int | None = None
    failure: str = ""  # "", or stalled / collapsed / diverged
    why: str = ""  # the failure in words: "stalled from 50 to 225 kimg, took off by 250"
    noise_se: float = math.nan  # the run's evaluation noise: bootstrap standard error of the metric


@dataclass(frozen=True)
class Group:
    name: str
    obs: tuple[Obs, ...]
    centre: float  # mean (raw) or geometric mean (log) of the successful seeds, in the metric's units
    low: float  # its 95% t-interval, back in the metric's units; NaN below 2 seeds
    high: float
    n: int  # successful seeds with a finite value
    failed: int  # failed seeds
    rate: tuple[float, float]  # Clopper-Pearson 95% interval of the failure rate
    scale: str  # the scale this group was analysed on (raw where a value <= 0 forbids the log)
    widened: bool = False  # the interval was widened to the evaluation noise
    floored: int = 0  # values <= 0 taken as the plan's log floor
    noise: str = "not recorded"  # "recorded" when every run recorded its evaluation noise

    @property
    def total(self) -> int:
        return len(self.obs)

    def values(self, successful: bool = True) -> list[float]:
        """The seeds' values; `successful`: only those the centre and interval are made of."""
        return [o.value for o in self.obs if not (successful and o.failure)]

    @property
    def all_failed(self) -> bool:
        """Every seed failed: no interval, no test; the failure count is what is said of this group."""
        return self.total > 0 and self.failed == self.total


@dataclass(frozen=True)
class PairResult:
    a: str  # ranked before b
    b: str
    n_a: int
    n_b: int
    test: str  # WELCH, RANK or NONE
    effect: float  # a / b on the log scale, a - b on the raw one (successful seeds)
    low: float  # 95% interval of the effect (Welch only)
    high: float
    low90: float  # 90% interval: the TOST decision
    high90: float
    p: float
    p_holm: float
    different: bool
    p_tost: float = math.nan
    p_tost_holm: float = math.nan
    tied: bool = False
    hedges_g: float = math.nan
    prob: Estimate = Estimate(math.nan, math.nan, math.nan)  # P(a better than b), bootstrap interval
    better: str | None = None  # the better group where `different`
    note: str = ""  # why a rank test or no test

    @property
    def call(self) -> str:
        """The better group's name, TIED, OPEN or UNTESTED."""
        if self.test == NONE:
            return UNTESTED
        return self.better if self.different else TIED if self.tied else OPEN


@dataclass
class Comparison:
    key: str  # the metric compared (kid500)
    plan: Plan
    family: str  # the family of comparisons its Holm correction covers, in words
    primary: bool  # the study's primary family (the selected arms at the final budget)
    groups: list[Group]  # best first (by centre)
    pairs: list[PairResult]
    letters: dict[str, str]
    bounds: tuple[float, float] | None  # the margin on the analysis scale
    margin_text: str
    lower_is_better: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def order(self) -> list[str]:
        return [g.name for g in self.groups]

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)

    def pair(self, x: str, y: str) -> PairResult | None:
        return next((p for p in self.pairs if {p.a, p.b} == {x, y}), None)

    @property
    def scale(self) -> str:
        return self.plan.scale

    @property
    def tested(self) -> list[PairResult]:
        return [p for p in self.pairs if p.test != NONE]


def _noise_floor(obs: list[Obs], scale: str) -> tuple[float, bool]:
    """The mean evaluation-noise variance of the seeds on the analysis scale, and whether every run had one."""
    var = [sc.noise_variance(o.value, o.noise_se, scale) for o in obs]
    known = [v for v in var if math.isfinite(v)]
    return (float(np.mean(known)) if known else 0.0), bool(obs) and len(known) == len(obs)


def mixed(g: Group) -> bool:
    """Some seeds failed and some did not: a bimodal arm, compared by ranks."""
    return 0 < g.failed < g.total


def summarise(name: str, obs: list[Obs], scale: str, log_floor: float | None = None) -> Group:
    """One group: centre and interval from its successful seeds on `scale` (a value <= 0 taken as `log_floor` on
    the log scale; without a floor such a group stays raw), failures counted with their Clopper-Pearson interval."""
    failed = sum(bool(o.failure) for o in obs)
    # a mixture (some seeds failed, some not) is bimodal: its successful seeds make the interval; an arm whose
    # every seed failed gets none (its seeds and its failure count are shown)
    good = [o for o in obs if not o.failure]
    values = [o.value for o in good] or [o.value for o in obs]
    scale = scale if log_floor or sc.log_ok(values) else sc.RAW
    x = finite(sc.forward(values, scale, log_floor))
    rate = clopper_pearson(failed, len(obs)) if obs else (math.nan, math.nan)
    floor, all_known = _noise_floor(good or obs, scale)
    noise = "recorded" if all_known else "not recorded"
    floored = sc.floored(values, log_floor) if scale == sc.LOG else 0
    if not good:  # every seed failed: the centre of all of them gives the group a place, with no interval
        centre = sc.back(float(x.mean()), scale) if len(x) else math.nan
        return Group(name, tuple(obs), centre, math.nan, math.nan, 0, failed, rate, scale, noise=noise, floored=floored)
    plain, iv = t_interval(x), t_interval(x, var_floor=floor)
    return Group(
        name,
        tuple(obs),
        sc.back(iv.mean, scale),
        sc.back(iv.low, scale),
        sc.back(iv.high, scale),
        len(x),
        failed,
        rate,
        scale,
        widened=bool(iv.n >= 2 and iv.high - iv.low > (plain.high - plain.low) * (1 + 1e-9)),
        noise=noise,
        floored=floored,
    )


def _ordered(groups: list[Group], lower_is_better: bool) -> list[Group]:
    key = lambda g: (math.isnan(g.centre), g.centre if lower_is_better else -g.centre)  # noqa: E731
    return sorted(groups, key=key)


def _pair(ga: Group, gb: Group, plan: Plan, bounds, lower_is_better: bool) -> dict:
    """The tests of one pair, before the family's correction."""
    out = dict(a=ga.name, b=gb.name, n_a=ga.total, n_b=gb.total, low90=math.nan, high90=math.nan)
    nan5 = dict(effect=math.nan, low=math.nan, high=math.nan, p=math.nan)
    worst = math.inf if lower_is_better else -math.inf
    everything = lambda g: [o.value if math.isfinite(o.value) else worst for o in g.obs]  # noqa: E731
    out["prob"] = prob_improvement(everything(ga), everything(gb), lower_is_better)  # descriptive: every seed
    failed = [g for g in (ga, gb) if g.all_failed]
    if failed:  # no test claims anything about an arm whose every seed failed: its failure count is the comparison
        counts = "; ".join(f"{g.name} {g.failed} of {g.total}, rate {g.rate[0]:.0%}-{g.rate[1]:.0%}" for g in failed)
        return out | nan5 | dict(test=NONE, note=f"every seed failed ({counts}): compared by failure counts only")
    scale = plan.scale
    if ga.scale != scale or gb.scale != scale:
        return out | nan5 | dict(test=NONE, note=f"a value <= 0 has no logarithm: not compared on the {scale} scale")
    lf = plan.log_floor
    a, b = finite(sc.forward(ga.values(), scale, lf)), finite(sc.forward(gb.values(), scale, lf))
    if mixed(ga) or mixed(gb):  # a bimodal arm: ranks over every seed, failures included, no equivalence claim
        ra, rb = sc.forward(everything(ga), scale, lf), sc.forward(everything(gb), scale, lf)
        p = mann_whitney(ra, rb)
        diff = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
        return out | dict(
            test=RANK if math.isfinite(p) else NONE,
            effect=sc.effect(diff, scale),
            low=math.nan,
            high=math.nan,
            p=p,
            note="an arm has a failed seed: exact Mann-Whitney over every seed, no equivalence test",
        )
    if len(a) < 2 or len(b) < 2:
        return out | nan5 | dict(test=NONE, note="fewer than 2 seeds on a side: not testable")
    fa, _ = _noise_floor([o for o in ga.obs if o.value in ga.values()], scale)
    fb, _ = _noise_floor([o for o in gb.obs if o.value in gb.values()], scale)
    diff, low, high, p, _ = (float(v) for v in welch(a, b, floor_a=fa, floor_b=fb))
    result = out | dict(
        test=WELCH if math.isfinite(p) else NONE,
        effect=sc.effect(diff, scale),
        low=sc.effect(low, scale),
        high=sc.effect(high, scale),
        p=p,
        hedges_g=hedges_g(a, b),
        note="" if math.isfinite(p) else "no spread on either side: not testable",
    )
    if bounds is not None and math.isfinite(p):
        _, lo90, hi90, pt = (float(v) for v in tost(a, b, bounds, plan.alpha, floor_a=fa, floor_b=fb))
        result |= dict(low90=sc.effect(lo90, scale), high90=sc.effect(hi90, scale), p_tost=pt)
    return result


def compare(
    values: dict[str, list[Obs]],
    plan: Plan,
    family: str,
    primary: bool = False,
    key: str = "",
    lower_is_better: bool = True,
    floor: Group | str | None = None,
    baselines: tuple[str, ...] = (),
    only: list[tuple[str, str]] | None = None,
) -> Comparison:
    """Compare the groups of `values` (group -> its seeds) under `plan`; `family` names what the Holm correction
    covers. `floor`: the random floor (a Group, or the name of one of `values`' groups), for a margin set as a
    share of the gap between the best group that is not one of `baselines` and the floor. `only`: the pairs that
    make the family (e.g. each variant's selected arm against its recipe); default every pair, with letters."""
    groups = _ordered(
        [summarise(g, obs, plan.scale, plan.log_floor) for g, obs in values.items() if obs], lower_is_better
    )
    floor_group = next((g for g in groups if g.name == floor), None) if isinstance(floor, str) else floor
    floor_centre = floor_group.centre if floor_group is not None else math.nan
    best = next((g.centre for g in groups if g.n and g.name not in baselines), math.nan)
    bounds = plan.bounds(best, floor_centre)
    margin_text = plan.margin_text(best, floor_centre)
    wanted = {frozenset(p) for p in only} if only is not None else None
    raw = [
        _pair(ga, gb, plan, bounds, lower_is_better)
        for i, ga in enumerate(groups)
        for gb in groups[i + 1 :]
        if wanted is None or frozenset((ga.name, gb.name)) in wanted
    ]
    tested_pairs = sum(math.isfinite(r["p"]) for r in raw)
    if tested_pairs < len(raw):  # Holm corrects over the pairs with a test; the family's text says how many
        family = f"{family}: {tested_pairs} of its {len(raw)} pairs tested"
    p_holm = holm(np.array([r["p"] for r in raw])) if raw else []
    q_holm = holm(np.array([r.get("p_tost", math.nan) for r in raw])) if raw else []
    pairs = []
    for r, ph, qh in zip(raw, p_holm, q_holm, strict=True):
        different = bool(ph < plan.alpha)
        a_first = (r["effect"] < (1.0 if plan.scale == sc.LOG else 0.0)) == lower_is_better
        if r["test"] == RANK:  # no effect on successful seeds alone decides a rank test's direction
            a_first = r["prob"].value > 0.5
        pairs.append(
            PairResult(
                **{k: v for k, v in r.items()},
                p_holm=float(ph),
                different=different,
                p_tost_holm=float(qh),
                tied=bool(qh < plan.alpha),
                better=(r["a"] if a_first else r["b"]) if different else None,
            )
        )
    tested = [g.name for g in groups if g.total >= 2 and not g.all_failed]
    letters = (
        letter_display(tested, [(p.a, p.b) for p in pairs if p.different]) if len(tested) >= 2 and only is None else {}
    )
    notes = [
        f"{g.name} has a value <= 0 (at or below two sets of real images at this sample count): no logarithm, so "
        "it is shown on the raw scale and not ratio-compared"
        for g in groups
        if g.scale != plan.scale
    ] + [
        f"{g.name}: {g.floored} value{'s' if g.floored != 1 else ''} <= 0 taken as {plan.log_floor:g} before the "
        "logarithm (an unbiased KID at or below two sets of real images)"
        for g in groups
        if g.floored
    ]
    return Comparison(key, plan, family, primary, groups, pairs, letters, bounds, margin_text, lower_is_better, notes)


def changed_calls(before: Comparison, after: Comparison) -> list[tuple[str, str, str, str]]:
    """(a, b, call before, call after) for every pair whose call differs between two comparisons of the same
    groups (e.g. the declared plan and the ratio-scale re-analysis)."""
    out = []
    for p in before.pairs:
        q = after.pair(p.a, p.b)
        if q is not None and p.call != q.call:
            out.append((p.a, p.b, p.call, q.call))
    return out


def said(call: str) -> str:
    """A pair's call in words."""
    return {TIED: "equivalent", OPEN: "not distinguishable", UNTESTED: "not testable"}.get(call, f"{call} better")
