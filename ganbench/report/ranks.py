"""Rank against budget: where runs were evaluated along the way, each variant's rank at each evaluated budget, and
whether the order has settled between the last two budgets.

Ranks are taken at ONE protocol: the ranking metric's base (KID) at the sample count that the evaluations along the
way share (`budget_metric`: kid100 when curve points use 100 images, even where the end adds kid1000), so a rank at
20 kimg and one at 50 kimg are made the same way. At each budget the variants are ranked and compared by the
report's one comparison owner (`ganbench.report.compare`, under the section's plan: Welch on its scale, Holm over
the pairs at that budget). Evaluations belong to one budget by ONE rule (`budget_of`): kimg values within
SAME_BUDGET of each other are the same budget (ticks end a batch late: 75.008 kimg; n_critic shifts it further:
75.2), labelled by the most common of them. A variant's rank range is the set of ranks the tests allow: from 1 + the
number of variants significantly better than it, to N - the number significantly worse. With one seed per variant no
test runs, so every range is 1..N.

`rank_by_budget` and `rank_stability` take plain numbers ({budget: {variant: per-seed values}}), so any caller
(the study code, a notebook) can use them; `budget_values` reads them from a report's runs.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from ganbench import families
from ganbench.metrics import names
from ganbench.report.compare import Comparison, Obs, compare
from ganbench.report.plan import Plan, first_protocol
from ganbench.report.runs import Run, group_label, number
from ganbench.rundir import Status

SAME_BUDGET = 0.02  # evaluations within 2% of each other's kimg are the same budget (ticks end a batch late)

Values = dict[float, dict[str, list[float]]]  # budget in kimg -> variant -> per-seed values (lower is better)


@dataclass(frozen=True)
class BudgetRanks:
    kimg: float
    order: list[str]  # variants best first
    mean: dict[str, float]  # each variant's centre (the mean; the geometric mean on a log scale)
    n: dict[str, int]  # seeds with a value
    rank: dict[str, int]  # 1 = best
    low: dict[str, int]  # best rank the pairwise tests allow
    high: dict[str, int]  # worst rank the pairwise tests allow
    comparison: Comparison | None = None

    def significant(self) -> set[tuple[str, str]]:
        """(better, worse) for every pair the Holm-corrected tests order at this budget."""
        if self.comparison is None:
            return set()
        return {(p.better, p.b if p.better == p.a else p.a) for p in self.comparison.pairs if p.different}


def ranks_at(
    values: dict[str, list[float]], kimg: float, plan: Plan | None = None, lower_is_better: bool = True
) -> BudgetRanks:
    """Rank the variants of one budget, with the range of ranks their tests allow (plan: the first protocol's
    raw-scale tests unless given; no margin is needed to rank)."""
    obs = {g: [Obs(v) for v in vs if v is not None and math.isfinite(v)] for g, vs in values.items()}
    c = compare(
        {g: o for g, o in obs.items() if o},
        plan or first_protocol(None),
        f"the pairs at {kimg:.3g} kimg",
        lower_is_better=lower_is_better,
    )
    better, worse = Counter(), Counter()  # variant -> how many are significantly better / worse than it
    for winner, loser in BudgetRanks(kimg, [], {}, {}, {}, {}, {}, c).significant():
        better[loser] += 1
        worse[winner] += 1
    order, n = c.order, len(c.order)
    return BudgetRanks(
        kimg,
        order,
        {g.name: g.centre for g in c.groups},
        {g.name: g.n for g in c.groups},
        {g: i + 1 for i, g in enumerate(order)},
        {g: 1 + better[g] for g in order},
        {g: n - worse[g] for g in order},
        c,
    )


def rank_by_budget(values: Values, plan: Plan | None = None, lower_is_better: bool = True) -> list[BudgetRanks]:
    """`ranks_at` for every budget, in budget order."""
    return [ranks_at(values[k], k, plan, lower_is_better) for k in sorted(values)]


@dataclass(frozen=True)
class RankStability:
    before: float | None  # the second-to-last evaluated budget (kimg); None with fewer than two budgets
    after: float | None  # the last one
    flips: list[tuple[str, str]]  # pairs ordered significantly at one of the two budgets, the other way round at
    #                               the other (by means): the order has not settled
    swaps: list[tuple[str, str]]  # pairs no test separates at either budget whose means swapped order
    significant_before: int  # pairs the tests order at each budget, of `pairs` compared
    significant_after: int
    pairs: int
    seeds: int  # the fewest seeds any variant has at the two budgets

    @property
    def settled(self) -> bool:
        """Two budgets, tests possible (2+ seeds each), and no pair the tests order changed order."""
        return self.before is not None and self.seeds >= 2 and not self.flips

    def text(self, metric: str = "") -> str:
        """One sentence for a reader."""
        of = f", {metric}" if metric else ""
        if self.before is None or self.after is None:
            return f"Rank against budget{of}: only one evaluated budget, nothing to compare."
        span = f"from {fmt_kimg(self.before)} to {fmt_kimg(self.after)} kimg{of}"
        swaps = (
            f"; {len(self.swaps)} pair{'s' if len(self.swaps) != 1 else ''} the tests cannot separate swapped "
            f"means ({', '.join(f'{a} vs {b}' for a, b in self.swaps[:4])}"
            f"{', …' if len(self.swaps) > 4 else ''})"
            if self.swaps
            else ""
        )
        if self.seeds < 2:
            return (
                f"Rank against budget ({span}): one seed, so no pair can be tested and the order cannot be "
                f"called settled{swaps}."
            )
        tests = (
            f"the tests order {self.significant_before} of {self.pairs} pairs at {fmt_kimg(self.before)} kimg "
            f"and {self.significant_after} at {fmt_kimg(self.after)}"
        )
        if self.flips:
            flips = ", ".join(f"{a} and {b}" for a, b in self.flips)
            return f"Rank against budget ({span}): the order is not settled: {flips} changed order ({tests}){swaps}."
        return f"Rank against budget ({span}): no pair the tests order changes order ({tests}){swaps}."


def rank_stability(values: Values, plan: Plan | None = None, lower_is_better: bool = True) -> RankStability:
    """Between the last two evaluated budgets, does any pair that the tests order (Holm over the pairs at each
    budget) change order? Only variants evaluated at both budgets are compared."""
    budgets = sorted(values)
    if len(budgets) < 2:
        return RankStability(None, budgets[-1] if budgets else None, [], [], 0, 0, 0, 0)
    k0, k1 = budgets[-2], budgets[-1]
    common = [g for g in values[k1] if g in values[k0]]
    r0 = ranks_at({g: values[k0][g] for g in common}, k0, plan, lower_is_better)
    r1 = ranks_at({g: values[k1][g] for g in common}, k1, plan, lower_is_better)
    groups = [g for g in r1.order if g in r0.mean]
    s0, s1 = r0.significant(), r1.significant()
    flips, swaps = [], []
    for i, a in enumerate(groups):
        for b in groups[i + 1 :]:  # a ahead of b at the last budget
            if r0.rank[a] < r0.rank[b]:
                continue  # same order at both
            if (a, b) in s1 or (b, a) in s0:
                flips.append((a, b))
            else:
                swaps.append((a, b))
    n_pairs = len(groups) * (len(groups) - 1) // 2
    seeds = min([*r0.n.values(), *r1.n.values()], default=0)
    return RankStability(k0, k1, flips, swaps, len(s0), len(s1), n_pairs, seeds)


def fmt_kimg(kimg: float) -> str:
    return f"{kimg:.3g}"


# ---------------------------------------------------------------------------------------------------- from runs
def budget_metric(runs: list[Run], rank_key: str | None) -> str | None:
    """The metric to rank along the way: the ranking metric's base at the sample count found in the most
    evaluation records of trained runs (the curve points' count); None without evaluations along the way."""
    base = names.parse(rank_key) if rank_key else None
    if base is None:
        return None
    counts = Counter(
        k
        for r in runs
        if families.trains(r.family)
        for e in r.evals
        for k in e
        if names.is_value(k, base.base) and names.parse(k).g == base.g
    )
    return max(counts, key=lambda k: (counts[k], names.parse(k).n)) if counts else None


def budget_of(kimgs) -> dict[float, float]:
    """The one bucketing rule: each evaluated kimg -> the budget it belongs to. kimg values within SAME_BUDGET of
    the first of a cluster are one budget, labelled by its most common kimg (the smaller one on a tie)."""
    kimgs = [k for k in kimgs if k is not None and math.isfinite(k)]
    clusters: list[list[float]] = []
    for k in sorted(set(kimgs)):
        if clusters and k <= clusters[-1][0] * (1 + SAME_BUDGET):
            clusters[-1].append(k)
        else:
            clusters.append([k])
    seen = Counter(kimgs)
    return {k: max(c, key=lambda x: (seen[x], -x)) for c in clusters for k in c}


def budget_values(runs: list[Run], key: str, group=group_label) -> Values:
    """{budget: {group: per-seed values of `key`}} from the evaluations of completed, trained runs, bucketed by
    `budget_of`. `group`: how runs are grouped (the report's group label by default)."""
    points = [
        (number(e.get("kimg")), group(r), number(e.get(key)))
        for r in runs
        if r.status == Status.COMPLETED and families.trains(r.family)
        for e in r.evals
    ]
    points = [(k, g, v) for k, g, v in points if k is not None and v is not None and math.isfinite(v)]
    label = budget_of([k for k, _, _ in points])
    out: Values = {}
    for k, g, v in points:
        out.setdefault(label[k], {}).setdefault(g, []).append(v)
    return out
