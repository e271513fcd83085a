"""What the runs showed, per protocol cohort: the ranking, the pairwise tests, ties at the margin, letters, the
random floor, the rank against budget, and the verdict: one paragraph that says it in words.

The verdict claims only what the tests support: "better" where the Holm-corrected Welch test says so, "tied" where
TOST at the stated margin says so, and otherwise "not distinguishable" with the interval of the difference. With
one seed per variant it says that no comparison is possible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from ganbench.report import ranks, tables
from ganbench.report.cohorts import Cohort
from ganbench.report.display import fmt
from ganbench.report.stats import Pair
from ganbench.rundir import Status

ALPHA_TEXT = "Welch's t over seeds, Holm-corrected, family-wise α = 0.05"


@dataclass
class Findings:
    cohort: Cohort
    results: pd.DataFrame  # one row per run of the cohort (tables.results_frame)
    summary: tables.Summary
    budget_key: str | None  # the metric ranked along the way (one sample count), None without curve points
    budgets: list[ranks.BudgetRanks]  # ranks at each evaluated budget (empty with fewer than two)
    stability: ranks.RankStability | None

    @property
    def key(self) -> str | None:
        return self.summary.rank_by.removesuffix("_final") if self.summary.rank_by else None

    def values(self, group: str) -> list[float]:
        """Per-seed final values of the ranking metric of a group's completed runs."""
        done = self.results[(self.results["group"] == group) & (self.results["status"] == Status.COMPLETED)]
        return [float(v) for v in done[self.summary.rank_by].dropna()] if self.summary.rank_by else []


def analyse(cohort: Cohort, margin: float | None = None) -> Findings:
    """Rank and test one cohort's runs; `margin` None: the default margin from the random floor (if any)."""
    results = tables.results_frame(cohort.runs)
    rank_key = tables.rank_metric(cohort.runs)
    summary = tables.summarise(results, rank_key, margin)
    budget_key = ranks.budget_metric(cohort.runs, rank_key)
    values = ranks.budget_values(cohort.runs, budget_key) if budget_key else {}
    if len(values) < 2:
        return Findings(cohort, results, summary, budget_key, [], None)
    return Findings(cohort, results, summary, budget_key, ranks.rank_by_budget(values), ranks.rank_stability(values))


# ---------------------------------------------------------------------------------------------------- words
def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def _pairs(f: Findings) -> dict[frozenset[str], Pair]:
    return {frozenset((p.a, p.b)): p for p in f.summary.pairs}


def _value(f: Findings, group: str) -> str:
    iv = f.summary.intervals[(group, f.summary.rank_by)]
    return f"{group} {fmt(iv.mean)}" + (f" ± {fmt(iv.high - iv.mean)}" if iv.n >= 2 else "")


def _setup(f: Findings, trained: list[str], seeds: list[int]) -> str:
    v = f.cohort.values
    budgets = sorted({str(r.config.get("budget")) for r in f.cohort.runs if r.config.get("budget")})
    budgets = [re.sub(r"(\d)([a-z])", r"\1 \2", b) for b in budgets]  # 50kimg -> 50 kimg
    budget = budgets[0] if len(budgets) == 1 else f"budgets {', '.join(budgets)}"
    seed_text = (
        f"{seeds[0]} seed{'s' if seeds[0] != 1 else ''} per variant"
        if len(set(seeds)) == 1
        else f"{min(seeds)}-{max(seeds)} seeds per variant"
    )
    res = f" {v.get('resolution')}x{v.get('resolution')}" if v.get("resolution") else ""
    return (
        f"{len(trained)} trained variant{'s' if len(trained) != 1 else ''} on {v.get('dataset')}{res}, "
        f"{budget} each, {seed_text}, ranked by {f.key} at the end ({v.get('eval_samples')} generated vs "
        f"{v.get('eval_samples')} reference images, {v.get('eval_split')} split; lower is better)."
    )


def verdict(f: Findings) -> str:
    """The paragraph a reader reads first."""
    s = f.summary
    if s.rank_by is None:
        return (
            "No evaluations in these runs, so nothing is ranked: run without --no-eval to compare the "
            "variants. Training curves, samples and costs follow."
        )
    trained = s.trained()
    floor = s.floor
    floor_text = f"the random floor is {fmt(s.mean(floor))}" if floor else "there is no random floor in these runs"
    if not trained:
        return f"Only the random floor was evaluated ({fmt(s.mean(floor)) if floor else '–'}): nothing to compare."
    seeds = [s.intervals[(g, s.rank_by)].n for g in trained]
    out = [_setup(f, trained, seeds)]
    if max(seeds) < 2:
        out.append(
            f"By single values the order is {_join([_value(f, g) for g in trained])}; {floor_text}. With "
            "one seed per variant no comparison is possible: no difference can be called significant and no "
            "tie claimed (run more seeds, e.g. --seeds 0,1,2,3,4, to compare)."
        )
        return " ".join(out + _caveats(f, seeds))
    pairs = _pairs(f)

    def differ(a: str, b: str) -> bool:
        p = pairs.get(frozenset((a, b)))
        return bool(p and p.different)

    best = trained[0]
    tested = [g for g in trained if s.intervals[(g, s.rank_by)].n >= 2]
    close = [g for g in trained[1:] if g in tested and not differ(best, g)]
    if not close:
        others = [g for g in trained[1:] if g in tested]
        whom = "every other trained variant" if len(others) == len(trained) - 1 else _join(others) if others else ""
        out.append(
            f"Best: {_value(f, best)}" + (f", significantly better than {whom} ({ALPHA_TEXT})" if whom else "") + "."
        )
    else:
        out.append(
            f"Best: {_value(f, best)}; {_join([_value(f, g) for g in close])} "
            f"{'is' if len(close) == 1 else 'are'} not distinguishable from it."
        )
    beats = {g: tuple(h for h in trained if differ(g, h) and s.mean(g) < s.mean(h)) for g in trained}
    statements: dict[tuple[str, ...], list[str]] = {}
    for g in trained:
        if beats[g]:
            statements.setdefault(beats[g], []).append(g)
    n_pairs = len(trained) * (len(trained) - 1) // 2
    n_diff = sum(differ(a, b) for i, a in enumerate(trained) for b in trained[i + 1 :])
    said = [
        f"{_join(w)} {'is' if len(w) == 1 else 'are each'} better than {_join(list(losers))}"
        for losers, w in list(statements.items())[:3]
    ]
    out.append(
        f"{n_diff} of {n_pairs} pairs of trained variants differ significantly ({ALPHA_TEXT})"
        + (": " + "; ".join(said) + ("; …" if len(statements) > 3 else "") if said else "")
        + "."
    )
    if floor:
        above = [g for g in trained if differ(g, floor) and s.mean(g) < s.mean(floor)]
        rest = [g for g in trained if g not in above]
        if not rest:
            out.append(f"Every trained variant is significantly better than the random floor ({fmt(s.mean(floor))}).")
        else:
            out.append(
                f"{_join(rest)} {'is' if len(rest) == 1 else 'are'} not significantly better than the random "
                f"floor ({fmt(s.mean(floor))})"
                + (f"; {_join(above)} {'is' if len(above) == 1 else 'are'}" if above else "")
                + "."
            )
    if s.ceiling:
        out.append(
            f"Two sets of real images score {fmt(s.mean(s.ceiling))} at this protocol (the real-vs-real "
            "line): the best a model of the training images could reach here."
        )
    out += _ties(f, trained, pairs)
    if f.stability is not None:
        out.append(f.stability.text(f.budget_key or ""))
    return " ".join(out + _caveats(f, seeds))


def _ties(f: Findings, trained: list[str], pairs: dict[frozenset[str], Pair]) -> list[str]:
    s = f.summary
    inside = [
        pairs[frozenset((a, b))] for i, a in enumerate(trained) for b in trained[i + 1 :] if frozenset((a, b)) in pairs
    ]
    open_ = [p for p in inside if not p.different and not p.tied and p.n_a >= 2 and p.n_b >= 2]
    out = []
    if open_:
        groups = {}
        for g in trained:
            for letter in s.letters.get(g, ""):
                groups.setdefault(letter, []).append(g)
        sets = [(letter, members) for letter, members in groups.items() if len(members) >= 2]
        top = pairs.get(frozenset(trained[:2]))
        first = top if top in open_ else min(open_, key=lambda p: abs(p.diff))
        out.append(
            "Not distinguishable: "
            + ("; ".join(f"{_join(m)} ({letter})" for letter, m in sets) if sets else f"{len(open_)} pairs")
            + f"; for example {first.a} − {first.b} lies between {fmt(first.low)} and {fmt(first.high)} "
            "(95% interval)."
        )
    if s.margin is None:
        out.append(f"No pair is called tied: there is no equivalence margin ({s.margin_note}).")
        return out
    tied = [p for p in inside if p.tied]
    margin = f"±{fmt(s.margin)} ({s.margin_note}; TOST, Holm-corrected over the {len(s.pairs)} pairs)"
    if tied:
        out.append(
            f"Tied within {margin}: " + "; ".join(f"{p.a} and {p.b} (TOST p={p.p_tost_holm:.2g})" for p in tied) + "."
        )
    elif open_:
        near = min(open_, key=lambda p: p.p_tost)
        out.append(
            f"No pair is tied within {margin}; the closest, {near.a} and {near.b}, has TOST p = "
            f"{near.p_tost:.2g} before the correction and {near.p_tost_holm:.2g} after. Not distinguishable "
            "is not equal."
        )
    return out


def _caveats(f: Findings, seeds: list[int]) -> list[str]:
    out = []
    unfinished = [r for r in f.cohort.runs if r.status != Status.COMPLETED]
    if unfinished:
        kinds = sorted({r.status for r in unfinished})
        out.append(
            f"{len(unfinished)} run{'s' if len(unfinished) != 1 else ''} did not complete "
            f"({', '.join(kinds)}) and {'are' if len(unfinished) != 1 else 'is'} not averaged in."
        )
    if 2 <= min(seeds) <= 3:
        out.append(f"With {min(seeds)} seeds the intervals are wide; 5 or more separate smaller differences.")
    if max(seeds) >= 2:
        out.append("All of this holds for this budget and protocol only.")
    return out
