"""Rank against budget: where runs were evaluated along the way, each variant's rank at each evaluated budget, and
whether the order has settled between the last two budgets.

Ranks are taken at ONE protocol: the ranking metric's base (KID) at the sample count that the evaluations along
the way share (`budget_metric`: kid100 when curve points use 100 images, even where the end adds kid1000), so a
rank at 20 kimg and one at 50 kimg are made the same way. At each budget the variants are ranked by their mean
over seeds (lower is better) and compared pairwise (`stats.pairwise`: Welch, Holm over the pairs at that
budget). A variant's rank range is the set of ranks the tests allow: from 1 + the number of variants significantly
better than it, to N - the number significantly worse. With one seed per variant no test runs, so every range is
1..N.

`rank_by_budget` and `rank_stability` take plain numbers ({budget: {variant: per-seed values}}), so any caller
(the study code, a notebook) can use them; `budget_values` reads them from a report's runs.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from ganbench import families
from ganbench.metrics import names
from ganbench.report.runs import Run, group_label, number
from ganbench.report.stats import ALPHA, Pair, pairwise
from ganbench.rundir import Status

SAME_BUDGET = 0.02  # evaluations within 2% of each other's kimg are the same budget (ticks end a batch late)

Values = dict[float, dict[str, list[float]]]  # budget in kimg -> variant -> per-seed values (lower is better)


@dataclass(frozen=True)
class BudgetRanks:
    kimg: float
    order: list[str]  # variants by mean, best first
    mean: dict[str, float]
    n: dict[str, int]  # seeds with a value
    rank: dict[str, int]  # 1 = lowest mean
    low: dict[str, int]  # best rank the pairwise tests allow
    high: dict[str, int]  # worst rank the pairwise tests allow
    pairs: list[Pair] = field(default_factory=list)

    def significant(self) -> set[tuple[str, str]]:
        """(better, worse) for every pair the Holm-corrected tests order at this budget."""
        return {(p.a, p.b) if p.diff < 0 else (p.b, p.a) for p in self.pairs if p.different}


def ranks_at(values: dict[str, list[float]], kimg: float, alpha: float = ALPHA) -> BudgetRanks:
    """Rank the variants of one budget by mean (lower is better), with the range of ranks their tests allow."""
    clean = {g: [v for v in vs if v is not None and math.isfinite(v)] for g, vs in values.items()}
    clean = {g: vs for g, vs in clean.items() if vs}
    mean = {g: sum(vs) / len(vs) for g, vs in clean.items()}
    order = sorted(mean, key=lambda g: mean[g])
    pairs = pairwise({g: clean[g] for g in order}, alpha)
    better = Counter()  # variant -> how many are significantly better than it
    worse = Counter()
    for p in pairs:
        if p.different:
            winner, loser = (p.a, p.b) if p.diff < 0 else (p.b, p.a)
            better[loser] += 1
            worse[winner] += 1
    n = len(order)
    return BudgetRanks(
        kimg,
        order,
        mean,
        {g: len(clean[g]) for g in order},
        {g: i + 1 for i, g in enumerate(order)},
        {g: 1 + better[g] for g in order},
        {g: n - worse[g] for g in order},
        pairs,
    )


def rank_by_budget(values: Values, alpha: float = ALPHA) -> list[BudgetRanks]:
    """`ranks_at` for every budget, in budget order."""
    return [ranks_at(values[k], k, alpha) for k in sorted(values)]


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


def rank_stability(values: Values, alpha: float = ALPHA) -> RankStability:
    """Between the last two evaluated budgets, does any pair that the tests order (Holm over the pairs at each
    budget) change order? Only variants evaluated at both budgets are compared."""
    budgets = sorted(values)
    if len(budgets) < 2:
        return RankStability(None, budgets[-1] if budgets else None, [], [], 0, 0, 0, 0)
    k0, k1 = budgets[-2], budgets[-1]
    common = [g for g in values[k1] if g in values[k0]]
    r0 = ranks_at({g: values[k0][g] for g in common}, k0, alpha)
    r1 = ranks_at({g: values[k1][g] for g in common}, k1, alpha)
    groups = [g for g in r1.order if g in r0.mean]
    s0, s1 = r0.significant(), r1.significant()
    flips, swaps = [], []
    for i, a in enumerate(groups):
        for b in groups[i + 1 :]:  # a ahead of b at the last budget
            if r0.mean[a] <= r0.mean[b]:
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


def budget_values(runs: list[Run], key: str) -> Values:
    """{budget: {group: per-seed values of `key`}} from the evaluations of completed, trained runs. Evaluations
    whose kimg lie within SAME_BUDGET of each other are one budget (labelled by its most common kimg)."""
    points = [
        (number(e.get("kimg")), group_label(r), number(e.get(key)))
        for r in runs
        if r.status == Status.COMPLETED and families.trains(r.family)
        for e in r.evals
    ]
    points = [(k, g, v) for k, g, v in points if k is not None and v is not None and math.isfinite(v)]
    clusters: list[list[float]] = []
    for k in sorted({k for k, _, _ in points}):
        if clusters and k <= clusters[-1][0] * (1 + SAME_BUDGET):
            clusters[-1].append(k)
        else:
            clusters.append([k])
    seen = Counter(k for k, _, _ in points)
    label = {k: max(c, key=lambda x: (seen[x], -x)) for c in clusters for k in c}  # the most common kimg
    out: Values = {}
    for k, g, v in points:
        out.setdefault(label[k], {}).setdefault(g, []).append(v)
    return out
