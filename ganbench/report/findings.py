"""What one protocol cohort of runs showed: its frames, its comparison (`ganbench.report.compare`, under the
report's plan) and, where that plan is not on the ratio scale, the ratio-scale re-analysis beside it; the rank at
every evaluated budget; whether the curves levelled. The words are `ganbench.report.verdict`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from ganbench import families as fam
from ganbench.metrics import names
from ganbench.report import progress, ranks, tables
from ganbench.report.cohorts import Cohort
from ganbench.report.compare import Comparison, Obs, compare
from ganbench.report.failures import observation
from ganbench.report.plan import Plan, first_protocol, ratio_reanalysis
from ganbench.report.runs import group_label
from ganbench.report.verdict import Context, failures
from ganbench.rundir import Status
from ganbench.stats import scale as sc


@dataclass
class Findings:
    cohort: Cohort
    results: pd.DataFrame  # one row per run of the cohort (tables.results_frame)
    summary: tables.Summary
    comparison: Comparison | None  # under the report's plan; None without a ranking metric
    reanalysis: Comparison | None  # the ratio-scale re-analysis (post hoc), where the plan is not on that scale
    budget_key: str | None  # the metric ranked along the way (one sample count), None without curve points
    budgets: list[ranks.BudgetRanks]  # ranks at each evaluated budget (empty with fewer than two)
    stability: ranks.RankStability | None
    levels: list[progress.Level]

    @property
    def key(self) -> str | None:
        return self.summary.rank_by.removesuffix("_final") if self.summary.rank_by else None

    def values(self, group: str) -> list[float]:
        """Per-seed final values of the ranking metric of a group's completed runs."""
        done = self.results[(self.results["group"] == group) & (self.results["status"] == Status.COMPLETED)]
        return [float(v) for v in done[self.summary.rank_by].dropna()] if self.summary.rank_by else []


def observations(runs, key: str, group=group_label) -> dict:
    """group -> its finished runs as seeds of a comparison (`failures.observation`), in run order."""
    out: dict = {}
    for r in runs:
        o = observation(r, key)
        if o is not None:
            out.setdefault(group(r), []).append(o)
    return out


def lower_is_better(key: str | None) -> bool:
    m = names.parse(key) if key else None
    return True if m is None else names.LOWER_IS_BETTER[m.base]


def analyse(cohort: Cohort, plan: Plan | None = None) -> Findings:
    """Rank and test one cohort's runs under `plan` (None: the first protocol's rule)."""
    plan = plan or first_protocol()
    results = tables.results_frame(cohort.runs)
    rank_key = tables.rank_metric(cohort.runs)
    comparison = reanalysis = None
    if rank_key and f"{rank_key}_final" in results:
        obs = observations(cohort.runs, rank_key)
        family_of = {group_label(r): r.family for r in cohort.runs}
        floor = next((g for g in obs if fam.is_floor(family_of[g])), None)
        baselines = tuple(g for g in obs if fam.is_baseline(family_of[g]))
        better = lower_is_better(rank_key)
        what = f"the {len(obs) * (len(obs) - 1) // 2} pairs of this protocol's groups (exploratory)"
        comparison = compare(obs, plan, what, key=rank_key, lower_is_better=better, floor=floor, baselines=baselines)
        if plan.scale != sc.LOG and any(g.n >= 2 for g in comparison.groups):
            reanalysis = compare(
                obs,
                ratio_reanalysis(plan),
                what,
                key=rank_key,
                lower_is_better=better,
                floor=floor,
                baselines=baselines,
            )
    summary = tables.summarise(results, rank_key, comparison)
    budget_key = ranks.budget_metric(cohort.runs, rank_key)
    values = ranks.budget_values(cohort.runs, budget_key) if budget_key else {}
    better = lower_is_better(budget_key)
    levels = progress.levels(values, better)
    if len(values) < 2:
        return Findings(cohort, results, summary, comparison, reanalysis, budget_key, [], None, levels)
    return Findings(
        cohort,
        results,
        summary,
        comparison,
        reanalysis,
        budget_key,
        ranks.rank_by_budget(values, plan, better),
        ranks.rank_stability(values, plan, better),
        levels,
    )


# ---------------------------------------------------------------------------------------------------- context
def setup(f: Findings) -> str:
    """What was compared, in one sentence."""
    v = f.cohort.values
    runs = f.cohort.runs
    trained = sorted({group_label(r) for r in runs if fam.trains(r.family)})
    budgets = sorted({str(r.config.get("budget")) for r in runs if r.config.get("budget")})
    budgets = [re.sub(r"(\d)([a-z])", r"\1 \2", b) for b in budgets]  # 50kimg -> 50 kimg
    budget = budgets[0] if len(budgets) == 1 else f"budgets {', '.join(budgets)}"
    seeds = sorted({g.total for g in f.comparison.groups}) if f.comparison else [0]
    seed_text = f"{seeds[0]} seed{'s' if seeds[0] != 1 else ''}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]} seeds"
    res = f" {v.get('resolution')}x{v.get('resolution')}" if v.get("resolution") else ""
    counts = sorted({int(c) for r in runs if (c := (r.meta.get("data") or {}).get("count"))})
    data = f" ({counts[0]:,} training images)" if len(counts) == 1 else ""
    widths = sorted({(r.config.get("g_width"), r.config.get("d_width")) for r in runs if fam.trains(r.family)})
    width = f", widths {widths[0][0]}/{widths[0][1]} (G/D)" if len(widths) == 1 and widths[0][0] else ""
    steps = _g_steps(f)
    return (
        f"{len(trained)} trained variant{'s' if len(trained) != 1 else ''} on {v.get('dataset')}{res}{data}{width}, "
        f"{budget} each{steps}, {seed_text} per variant, ranked by {f.key} at the end ({v.get('eval_samples')} "
        f"generated vs {v.get('eval_samples')} reference images, {v.get('eval_split')} split; "
        f"{names.better(f.key) if f.key else ''})."
    )


def _g_steps(f: Findings) -> str:
    """', G steps 782 (wgan-gp: 157)' where the groups' G steps differ (n_critic), else ''."""
    steps = {
        g: int(s)
        for g, s in zip(f.summary.frame["group"], f.summary.frame.get("g_steps_mean", []), strict=False)
        if pd.notna(s) and s > 0
    }
    if len(set(steps.values())) < 2:
        return ""
    common = max(set(steps.values()), key=list(steps.values()).count)
    odd = [f"{g}: {s:,}" for g, s in steps.items() if s != common]
    return f", {common:,} G steps ({'; '.join(odd)})"


def context(f: Findings) -> Context:
    """The verdict's context: the setup, the caveats in order of importance, the scale's two ends."""
    c = f.comparison
    caveats = []
    still = progress.improving_text(f.levels, f.budget_key or "")
    single = c is not None and all(g.total < 2 for g in c.groups if not fam.is_baseline(_family(f, g.name)))
    if single:
        more = progress.more_seeds(f.cohort.runs)
        caveats.append(" ".join(x for x in (still or "One seed per variant: run more seeds to compare.", more) if x))
    elif still:
        caveats.append(still)
    failed = failed_seeds(f)
    if failed:
        trained = [o for g in c.groups if not fam.is_baseline(_family(f, g.name)) for o in g.obs]
        caveats.append(failures(failed, len(trained)))
    unfinished = [r for r in f.cohort.runs if r.status not in (Status.COMPLETED, Status.DIVERGED)]
    if unfinished:
        caveats.append(
            f"{len(unfinished)} run{'s' if len(unfinished) != 1 else ''} did not finish and "
            f"{'are' if len(unfinished) != 1 else 'is'} not counted."
        )
    extra = [f.stability.text(f.budget_key or "")] if f.stability is not None else []
    floor = c.group(f.summary.floor) if c and f.summary.floor else None
    ceiling = c.group(f.summary.ceiling) if c and f.summary.ceiling else None
    return Context(setup(f), caveats, floor, ceiling, extra)


def failed_seeds(f: Findings) -> list[tuple[str, Obs]]:
    """(group, seed) for every failed seed of the cohort's trained groups, best group first."""
    groups = f.comparison.groups if f.comparison else []
    return [(g.name, o) for g in groups if not fam.is_baseline(_family(f, g.name)) for o in g.obs if o.failure]


def _family(f: Findings, group: str) -> str:
    rows = f.summary.frame[f.summary.frame["group"] == group]
    return str(rows["family"].iloc[0]) if len(rows) else ""


def baselines(f: Findings) -> tuple[str, ...]:
    return tuple(g for g in (f.comparison.order if f.comparison else []) if fam.is_baseline(_family(f, g)))
