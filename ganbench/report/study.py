"""The study section's analysis: a composition of comparisons (`ganbench.report.compare`) read from the study's
record (`ganbench.report.record`), under the plan the study declared.

- **primary** (the plan's family): the selected (tuned) arms at the final budget, on the report split; the plan's
  scale, margin and alpha; "post hoc" on every verdict when the plan changed after the first trial;
- **re-analysis** (post hoc), where the plan was not on the ratio scale: the same groups on the log scale at the
  0.8-1.25 margin, with the verdicts it changes;
- exploratory, each its own family: each variant's selected arm against its recipe (Holm over the variants); the
  rank at every evaluated budget (Holm per budget); the search (every candidate at every rung, the rank correlation
  of each rung with the final ranking, the expected best of k candidates); two lenses on the same runs, and each
  metric of the second lens (a mode count, its KL) compared as the primary metric is, under the declared plan's
  scale, margin and alpha, each its own exploratory family.
Beside them: the random floor and the real-vs-real line, the goal figures for each selected arm, and where the
curves stood at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ganbench import families as fam
from ganbench.metrics import names
from ganbench.report import lens, progress, ranks
from ganbench.report.compare import Comparison, Group, compare, summarise
from ganbench.report.failures import observation
from ganbench.report.findings import observations
from ganbench.report.plan import borrowed, ratio_reanalysis
from ganbench.report.record import RECIPE, TUNED, Study, is_study, read
from ganbench.report.runs import Run
from ganbench.stats import scale as sc
from ganbench.stats.resample import RankCorrelation, expected_best, rank_correlation

__all__ = ["StudyFindings", "analyse", "is_study"]


def arm_label(variant: str, arm: str) -> str:
    return f"{variant} · {arm}"


@dataclass
class Secondary:
    """A metric of the second lens over the selected arms: its comparison and its two ends (random, real)."""

    comparison: Comparison
    floor: Group | None
    ceiling: Group | None
    levels: list[progress.Level] = field(default_factory=list)  # where its curves stood at the end


@dataclass
class StudyFindings:
    study: Study
    runs: dict[tuple[str, str], list[Run]]  # (variant, arm) -> its final-stage runs
    primary: Comparison  # the selected arms at the final budget, under the declared plan
    reanalysis: Comparison | None  # on the ratio scale, post hoc, where the plan is not
    vs_recipe: Comparison | None  # each variant's selected arm against its recipe, Holm over the variants
    floor: Group | None
    ceiling: Group | None
    budgets: list[ranks.BudgetRanks] = field(default_factory=list)
    stability: ranks.RankStability | None = None
    levels: list[progress.Level] = field(default_factory=list)
    levels_key: str | None = None  # the metric the curves were read on: the primary one, else its curve points'
    rung_scores: dict[str, list[list[float]]] = field(default_factory=dict)  # variant -> per candidate, per rung
    rung_correlation: list[tuple[str, RankCorrelation]] = field(default_factory=list)  # rung vs the final ranking
    best_of_k: dict[str, tuple] = field(default_factory=dict)  # variant -> (curve, low, high)
    lenses: lens.LensAgreement | None = None
    second_lens: list[Secondary] = field(default_factory=list)  # each metric of the other lens, its own family
    goals: list[list[str]] = field(default_factory=list)  # rows: variant, metric, value, goal, met

    @property
    def key(self) -> str:
        return self.study.key

    @property
    def order(self) -> list[str]:
        return self.primary.order

    def gans(self) -> list[str]:
        return [v for v in self.order if self.runs.get((v, TUNED)) and fam.adversarial(self.runs[(v, TUNED)][0].family)]


def _by_arm(study: Study, runs: list[Run]) -> dict[tuple[str, str], list[Run]]:
    out: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        arm = study.arm(r.name)
        if arm is not None:
            out.setdefault(arm, []).append(r)
    return out


def _baseline(key: str, by_arm, test) -> Group | None:
    for (v, _), rs in by_arm.items():
        if rs and test(rs[0].family):
            obs = [o for r in rs if (o := observation(r, key)) is not None]
            if obs:
                return summarise(v, obs, sc.RAW)
    return None


def _search(f: StudyFindings) -> None:
    """Every candidate's score at every rung; each rung's ranking of the variants (by their chosen candidate)
    against the final ranking; the expected best of k over the first rung's candidates."""
    rungs = f.study.rungs
    if not f.study.searched or not rungs:
        return
    final = {g.name: g.centre for g in f.primary.groups}
    for v in f.study.variants:
        tags = list(dict.fromkeys(c.tag for r in rungs for c in r.candidates.get(v, [])))
        by_tag = [{c.tag: c.value for c in r.candidates.get(v, [])} for r in rungs]
        f.rung_scores[v] = [[s.get(t, math.nan) for s in by_tag] for t in tags]
        first = [c.value for c in rungs[0].candidates.get(v, [])]
        if first:
            floor = f.floor.centre if f.floor is not None else None
            f.best_of_k[v] = expected_best(first, failed_as=floor)
    for r in rungs:  # does this rung's ranking of the variants (their chosen candidates) predict the final one?
        chosen = {
            v: min((c.value for c in cs if c.chosen and math.isfinite(c.value)), default=math.nan)
            for v, cs in r.candidates.items()
        }
        rc = _correlation(chosen, final, [v for v in final if v in chosen])
        if rc.n >= 2:
            f.rung_correlation.append((f"{r.name} vs the final ranking (variants)", rc))
    # candidate by candidate (a candidate is a variant's setting: tags repeat across variants), each rung against
    # the next and against the last: does a short run rank the settings as a longer one does?
    scores = [{(v, c.tag): c.value for v, cs in r.candidates.items() for c in cs} for r in rungs]
    pairs = {(i, i + 1) for i in range(len(rungs) - 1)} | {(i, len(rungs) - 1) for i in range(len(rungs) - 1)}
    for i, j in sorted(pairs):
        rc = _correlation(scores[i], scores[j], [k for k in scores[i] if k in scores[j]])
        if rc.n >= 2:
            f.rung_correlation.append((f"{rungs[i].name} vs {rungs[j].name} (candidates, pooled over variants)", rc))


def _correlation(a: dict, b: dict, keys: list) -> RankCorrelation:
    return rank_correlation([a[k] for k in keys], [b[k] for k in keys])


def _goals(f: StudyFindings) -> None:
    """Each selected arm against the study's goal figures (never the best of several arms picked on test)."""
    for v in f.order:
        for metric, (bound, lower) in f.study.goals.items():
            obs = [o for r in f.runs.get((v, TUNED), []) if (o := observation(r, metric)) is not None]
            if not obs:
                continue
            g = summarise(v, obs, f.primary.scale, f.primary.plan.log_floor)
            met = g.centre <= bound if lower else g.centre >= bound
            f.goals.append(
                [v, metric, f"{g.centre:.3g}", f"{'≤' if lower else '≥'} {bound:g}", "met" if met else "missed"]
            )


def analyse(root: Path, runs: list[Run]) -> StudyFindings:
    study = read(Path(root))
    plan = study.plan
    by_arm = _by_arm(study, runs)
    key = study.key
    better = names.LOWER_IS_BETTER[names.parse(key).base]
    floor = _baseline(key, by_arm, fam.is_floor)
    ceiling = _baseline(key, by_arm, fam.is_ceiling)
    tuned = {v: by_arm.get((v, TUNED), []) for v in study.variants}
    obs = {v: [o for r in rs if (o := observation(r, key)) is not None] for v, rs in tuned.items()}
    obs = {v: o for v, o in obs.items() if o}
    n_pairs = len(obs) * (len(obs) - 1) // 2
    family = f"the {n_pairs} pairs of selected arms at {study.final_budget} (the primary family)"
    primary = compare(obs, plan, family, primary=True, key=key, lower_is_better=better, floor=floor)
    reanalysis = None
    if plan.scale != sc.LOG and any(g.n >= 2 for g in primary.groups):
        reanalysis = compare(
            obs, ratio_reanalysis(plan), family, primary=True, key=key, lower_is_better=better, floor=floor
        )
    arms = {arm_label(v, a): rs for (v, a), rs in by_arm.items() if v in study.variants}
    both = [v for v in study.variants if by_arm.get((v, TUNED)) and by_arm.get((v, RECIPE))]
    vs_recipe = None
    if both:
        values = observations(
            [r for v in both for a in (TUNED, RECIPE) for r in by_arm[(v, a)]],
            key,
            group=lambda r: arm_label(*study.arm(r.name)),
        )
        vs_recipe = compare(
            values,
            plan,
            f"each variant's selected arm against its recipe ({len(both)} pairs, exploratory)",
            key=key,
            lower_is_better=better,
            floor=floor,
            only=[(arm_label(v, TUNED), arm_label(v, RECIPE)) for v in both],
        )
    f = StudyFindings(study, by_arm, primary, reanalysis, vs_recipe, floor, ceiling)
    curve = ranks.budget_values([r for rs in tuned.values() for r in rs], key, group=lambda r: r.variant)
    if len(curve) >= 2:
        f.budgets = ranks.rank_by_budget(curve, plan, better)
        f.stability = ranks.rank_stability(curve, plan, better)
    arm_runs = [r for rs in arms.values() for r in rs]
    for k in [
        x for x in (key, _curve_key(arm_runs, key)) if x
    ]:  # the curve points' own metric where the final's has none
        arms_curve = ranks.budget_values(arm_runs, k, group=lambda r: arm_label(*study.arm(r.name)))
        f.levels, f.levels_key = progress.levels(arms_curve, better), k
        if f.levels:
            break
    _search(f)
    _goals(f)
    tuned_runs = [r for rs in tuned.values() for r in rs]
    f.lenses = lens.agreement(tuned, key, plan, f"the selected arms ({len(obs)} groups, exploratory)")
    f.second_lens = [_second(k, tuned, by_arm, plan, study.final_budget) for k in lens.other_lens(tuned_runs, key)]
    return f


def _curve_key(runs: list[Run], key: str) -> str | None:
    """Where the curve points measure the primary metric's base at another sample count than the final value (a
    study evaluating 100 images along the way and 500 at the end), the name of that metric (kid100), else None."""
    m = names.parse(key)
    counts: dict[str, int] = {}
    for r in runs:
        for e in r.evals:
            for k in e:
                p = names.parse(k)
                if k != key and p is not None and p.base == m.base and not p.part and not p.g:
                    counts[k] = counts.get(k, 0) + 1
    return max(counts, key=counts.get) if counts else None


def _second(key: str, tuned: dict, by_arm, plan, budget: str) -> Secondary:
    """`key` (a metric of the other lens) over the selected arms, as the primary metric is compared, its own
    exploratory family under the declared plan's scale, margin and alpha."""
    obs = {v: [o for r in rs if (o := observation(r, key)) is not None] for v, rs in tuned.items()}
    obs = {v: o for v, o in obs.items() if o}
    floor = _baseline(key, by_arm, fam.is_floor)
    family = f"the {len(obs) * (len(obs) - 1) // 2} pairs of selected arms at {budget} on {key} (exploratory)"
    better = names.LOWER_IS_BETTER[names.parse(key).base]
    c = compare(obs, borrowed(plan), family, key=key, lower_is_better=better, floor=floor)
    curve = ranks.budget_values([r for rs in tuned.values() for r in rs], key, group=lambda r: r.variant)
    return Secondary(c, floor, _baseline(key, by_arm, fam.is_ceiling), progress.levels(curve, better))
