"""The study section of a report (results of `ganbench study`): what a reader of a fair comparison came for.

Primary comparison: the tuned arms (each variant's setting chosen in stage 1), on the report split at the final
budget, ranked by the study's metric; every pair Welch-tested and TOST-tested at the study's equivalence margin
(`equivalence_margin` x the gap between the best tuned mean and the random floor), both Holm-corrected over the
pairs. Secondary: each variant's tuned arm against its own recipe (Welch and TOST at the same margin, Holm over
the variants). Beside them: the random floor and the real-vs-real line (the scale's two ends), the settings chosen
and each variant's spread over its search draws (Lucic et al. 2018's figure), the rank at every evaluated budget
with a stability statement, and the issue's goal figures for the best GAN.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganbench import families as fam
from ganbench.io import read_json
from ganbench.metrics import names
from ganbench.report import ranks, stats
from ganbench.report.display import fmt
from ganbench.report.runs import Run
from ganbench.rundir import Status, number
from ganbench.study.layout import FINAL, RECIPE, SEARCH, SELECTION, STUDY, TUNED

# The goal figures of issue 18 for the best GAN at the final budget (500 test images): quality that shows faces.
GOAL_KID, GOAL_PRECISION = 0.05, 0.4


def is_study(root: Path) -> bool:
    return (Path(root) / STUDY).is_file()


@dataclass
class StudyFindings:
    meta: dict[str, Any]  # study.json's "study"
    key: str  # the ranking metric: kid500
    values: dict[tuple[str, str], list[float]]  # (variant, arm) -> per-seed final values of completed runs
    precision: dict[tuple[str, str], list[float]]
    runs: dict[tuple[str, str], list[Run]]
    order: list[str]  # variants by their tuned mean, best first (those with a value)
    pairs: list[stats.Pair]  # tuned arms, every pair
    letters: dict[str, str]
    margin: float | None
    vs_recipe: dict[str, stats.Pair]  # per variant: tuned (a) against recipe (b), Holm over the variants
    floor: stats.Interval | None
    ceiling: stats.Interval | None
    budgets: list[ranks.BudgetRanks] = field(default_factory=list)
    stability: ranks.RankStability | None = None
    selection: dict[str, Any] = field(default_factory=dict)
    search: list[Run] = field(default_factory=list)

    def interval(self, variant: str, arm: str = TUNED) -> stats.Interval:
        return stats.t_interval(self.values.get((variant, arm), []))

    def gans(self) -> list[str]:
        return [v for v in self.order if fam.adversarial(self.runs[(v, TUNED)][0].family)]


def _arm(run: Run) -> str:
    return str((run.trial or {}).get("trial") or run.run_dir.parent.name)


def budget_bucket(kimg: float, every: float) -> float:
    """An evaluation's budget: ticks end a batch late (75.008 kimg), n_critic shifts it further; the nearest
    multiple of the evaluation interval names it."""
    return round(kimg / every) * every if every > 0 else round(kimg, 1)


def analyse(root: Path, runs: list[Run]) -> StudyFindings:
    root = Path(root)
    meta = read_json(root / STUDY).get("study") or {}
    selection = read_json(root / SELECTION).get("variants", {}) if (root / SELECTION).is_file() else {}
    key = str(meta.get("metric_name") or names.name(names.KID, 500))
    n = names.parse(key).n
    precision_key = names.name(names.PRECISION, n)
    stage = lambda r: r.run_dir.resolve().relative_to(root.resolve()).parts[0]  # noqa: E731
    final = [r for r in runs if stage(r) == FINAL]
    by_arm: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for r in final:
        by_arm[(r.variant, _arm(r))].append(r)
    done = lambda rs, k: [  # noqa: E731
        v
        for r in rs
        if r.status == Status.COMPLETED and (v := r.final_metrics().get(k)) is not None and math.isfinite(v)
    ]
    values = {a: done(rs, key) for a, rs in by_arm.items()}
    precision = {a: done(rs, precision_key) for a, rs in by_arm.items()}
    variants = [v for v in meta.get("variants", []) if values.get((v, TUNED))]
    order = sorted(variants, key=lambda v: np.mean(values[(v, TUNED)]))
    baseline = lambda test: next(  # noqa: E731
        (stats.t_interval(values[a]) for a in values if test(by_arm[a][0].family) and values[a]),
        None,
    )
    floor, ceiling = baseline(fam.is_floor), baseline(fam.is_ceiling)
    margin = None
    if order and floor is not None:
        margin = stats.default_margin(
            float(np.mean(values[(order[0], TUNED)])),
            floor.mean,
            float(meta.get("equivalence_margin", stats.MARGIN_FRACTION)),
        )
    pairs = stats.pairwise({v: values[(v, TUNED)] for v in order}, margin=margin)
    tested = [v for v in order if len(values[(v, TUNED)]) >= 2]
    letters = stats.letters(tested, [(p.a, p.b) for p in pairs if p.different]) if len(tested) >= 2 else {}
    vs_recipe = _tuned_vs_recipe(order, values, margin)
    every = float((meta.get("final") or {}).get("settings", {}).get("eval_every_kimg", 0) or 0)
    curve: ranks.Values = defaultdict(lambda: defaultdict(list))
    for v in order:
        for r in by_arm[(v, TUNED)]:
            if r.status != Status.COMPLETED:
                continue
            for e in r.evals:
                value = number(e.get(key))
                if value is not None and math.isfinite(value):
                    curve[budget_bucket(float(e["kimg"]), every)][v].append(value)
    curve = {k: dict(v) for k, v in curve.items()}
    budgets = ranks.rank_by_budget(curve) if len(curve) >= 2 else []
    stability = ranks.rank_stability(curve) if len(curve) >= 2 else None
    search = [r for r in runs if stage(r) == SEARCH]
    return StudyFindings(
        meta,
        key,
        values,
        precision,
        dict(by_arm),
        order,
        pairs,
        letters,
        margin,
        vs_recipe,
        floor,
        ceiling,
        budgets,
        stability,
        selection,
        search,
    )


def _tuned_vs_recipe(order: list[str], values: dict, margin: float | None) -> dict[str, stats.Pair]:
    """Each variant's tuned arm against its recipe: Welch (and TOST at the margin), Holm over the variants."""
    raw = {}
    for v in order:
        a, b = values.get((v, TUNED), []), values.get((v, RECIPE), [])
        if len(a) >= 2 and len(b) >= 2:
            raw[v] = stats.pairwise({f"{v} tuned": a, f"{v} recipe": b}, margin=margin)[0]
    if not raw:
        return {}
    p = stats.holm(np.array([x.p for x in raw.values()]))
    q = stats.holm(np.array([x.p_tost for x in raw.values()]))
    return {
        v: stats.Pair(
            **(
                vars(x)
                | {
                    "p_holm": float(pv),
                    "different": bool(pv < stats.ALPHA),
                    "p_tost_holm": float(qv),
                    "tied": bool(qv < stats.ALPHA),
                }
            )
        )
        for (v, x), pv, qv in zip(raw.items(), p, q, strict=True)
    }


# ---------------------------------------------------------------------------------------------------- words
def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def _v(f: StudyFindings, variant: str, arm: str = TUNED) -> str:
    iv = f.interval(variant, arm)
    return f"{variant} {fmt(iv.mean)}" + (f" ± {fmt(iv.high - iv.mean)}" if iv.n >= 2 else "")


def goals(f: StudyFindings) -> dict[str, Any]:
    """The best GAN arm (either arm, by mean) against the goal figures, and whether a GAN beats the VAE."""
    arms = [(v, a) for v in f.gans() for a in (TUNED, RECIPE) if f.values.get((v, a))]
    if not arms:
        return {}
    v, a = min(arms, key=lambda va: np.mean(f.values[va]))
    kid, prec = float(np.mean(f.values[(v, a)])), float(np.mean(f.precision.get((v, a)) or [math.nan]))
    vae = [
        p
        for p in f.pairs
        if p.different and {p.a, p.b} & {x for x in f.order if not fam.adversarial(f.runs[(x, TUNED)][0].family)}
    ]
    beats_vae = sorted({(p.a if p.diff < 0 else p.b) for p in vae} & set(f.gans()))
    return {
        "variant": v,
        "arm": a,
        "kid": kid,
        "precision": prec,
        "kid_met": kid <= GOAL_KID,
        "precision_met": prec >= GOAL_PRECISION,
        "beats_vae": beats_vae,
    }


def _planned(seeds: list[int] | None) -> str:
    n = len(seeds or [])
    return f"{n} seed{'s' if n != 1 else ''}"


def verdict(f: StudyFindings) -> str:
    m = f.meta
    search, final = m.get("search") or {}, m.get("final") or {}
    data = m.get("settings") or {}
    out = [
        f"A fair comparison on {data.get('dataset')} {data.get('resolution')}x{data.get('resolution')}: every "
        f"variant got the same search ({m.get('trials')} {m.get('mode')} draws at {search.get('budget')}, one "
        f"seed, chosen by {f.key} on the {search.get('split')} split); each chosen setting was then trained for "
        f"{final.get('budget')} over {_planned(final.get('seeds'))} (the recipes over "
        f"{_planned(m.get('recipe_seeds'))}) and scored on "
        f"{names.parse(f.key).n} generated against {names.parse(f.key).n} images of the {final.get('split')} "
        f"split, never used for selection ({f.key}, lower is better)."
    ]
    if not f.order:
        return " ".join(out + ["No tuned arm has finished yet: nothing to compare."])
    pairs = {frozenset((p.a, p.b)): p for p in f.pairs}
    best = f.order[0]
    testable = lambda v: len(f.values[(v, TUNED)]) >= 2  # noqa: E731
    close = [v for v in f.order[1:] if not (p := pairs.get(frozenset((best, v)))) or not p.different]
    if len(f.order) == 1:
        out.append(f"Only {best} has a tuned arm so far ({_v(f, best)}).")
    elif not testable(best) or not any(testable(v) for v in f.order[1:]):
        out.append(
            "So far the tuned means order "
            + _join([f"{_v(f, v)} (n={len(f.values[(v, TUNED)])})" for v in f.order])
            + f"; {best}'s comparison with the others needs at least 2 seeds on both sides, so no pair can "
            "be called different or tied yet."
        )
    elif any(not testable(v) for v in close):
        untested = [v for v in close if not testable(v)]
        tested = [v for v in close if testable(v)]
        out.append(
            f"Best: {_v(f, best)}; "
            + (
                f"{_join([_v(f, v) for v in tested])} "
                f"{'is' if len(tested) == 1 else 'are'} not distinguishable from it; "
                if tested
                else ""
            )
            + f"{_join(untested)} {'has' if len(untested) == 1 else 'have'} fewer than 2 seeds so far "
            "(not testable yet)."
        )
    elif close:
        out.append(
            f"Best: {_v(f, best)}; {_join([_v(f, v) for v in close])} "
            f"{'is' if len(close) == 1 else 'are'} not distinguishable from it."
        )
    else:
        out.append(
            f"Best: {_v(f, best)}, significantly better than every other variant (Welch, Holm over "
            f"{len(f.pairs)} pairs, α 0.05)."
        )
    diff = [p for p in f.pairs if p.different]
    if diff:
        out.append(f"{len(diff)} of {len(f.pairs)} pairs differ significantly.")
    tied = [p for p in f.pairs if p.tied and not p.different]
    small = [p for p in f.pairs if p.tied and p.different]  # a real difference, smaller than the margin
    if f.margin is not None:
        out.append(
            f"Tied within ±{fmt(f.margin)} ({float(m.get('equivalence_margin', 0.1)):.0%} of the gap to the "
            f"random floor; TOST, Holm): "
            + ("; ".join(f"{p.a} and {p.b}" for p in tied) if tied else "none")
            + (
                f"; different but by less than the margin: {'; '.join(f'{p.a} and {p.b}' for p in small)}"
                if small
                else ""
            )
            + "."
        )
        open_ = [p for p in f.pairs if not p.different and not p.tied and p.n_a >= 2 and p.n_b >= 2]
        if open_:
            p = min(open_, key=lambda p: abs(p.diff))
            out.append(
                f"{len(open_)} pair{'s are' if len(open_) != 1 else ' is'} neither different nor tied, e.g. "
                f"{p.a} − {p.b} between {fmt(p.low)} and {fmt(p.high)} (95% interval)."
            )
    better = [v for v, p in f.vs_recipe.items() if p.different and p.diff < 0]
    worse = [v for v, p in f.vs_recipe.items() if p.different and p.diff > 0]
    equal = [v for v, p in f.vs_recipe.items() if v not in better + worse and p.tied]
    same = [v for v in f.vs_recipe if v not in better + worse + equal]
    if f.vs_recipe:
        out.append(
            "Tuning against each variant's own recipe: "
            + "; ".join(
                t
                for t in (
                    f"the tuned setting is better for {_join(better)}" if better else "",
                    f"the recipe is better for {_join(worse)}" if worse else "",
                    f"equivalent within the margin for {_join(equal)}" if equal else "",
                    f"no significant difference for {_join(same)}" if same else "",
                )
                if t
            )
            + "."
        )
    if f.floor is not None or f.ceiling is not None:
        out.append(
            "Scale: "
            + ", ".join(
                t
                for t in (
                    f"random noise {fmt(f.floor.mean)}" if f.floor else "",
                    f"two sets of real images {fmt(f.ceiling.mean)}" if f.ceiling else "",
                )
                if t
            )
            + "."
        )
    g = goals(f)
    if g:
        n = len(f.values[(g["variant"], g["arm"])])
        vae_n = [len(f.values[(v, TUNED)]) for v in f.order if v not in f.gans()]
        out.append(
            f"Best GAN: {g['variant']} ({g['arm']}) {f.key} {fmt(g['kid'])} "
            f"({'mean of ' + str(n) + ' seeds' if n != 1 else 'one seed'}; goal ≤ {GOAL_KID}: "
            f"{'met' if g['kid_met'] else 'missed'}), precision {fmt(g['precision'])} (goal ≥ {GOAL_PRECISION}: "
            f"{'met' if g['precision_met'] else 'missed'}); "
            + (
                f"significantly better than the VAE: {_join(g['beats_vae'])}."
                if g["beats_vae"]
                else "no GAN is significantly better than the VAE."
                if vae_n and min(vae_n) >= 2
                else "whether a GAN is better than the VAE cannot be tested yet (the VAE needs 2 seeds)."
            )
        )
    if f.stability is not None:
        out.append(f.stability.text(f.key))
    unfinished = [r for rs in f.runs.values() for r in rs if r.status != Status.COMPLETED]
    if unfinished:
        out.append(
            f"{len(unfinished)} stage-2 run{'s have' if len(unfinished) != 1 else ' has'} not completed and "
            f"{'are' if len(unfinished) != 1 else 'is'} not averaged in: the study is still running."
        )
    return " ".join(out)
