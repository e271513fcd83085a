"""A study's record as the report reads it: the one module that knows the layout of a study's results folder.

The report needs, from a study: its name, variants and baselines, the shared settings, the analysis plan (and
whether it changed after the first trial), the goal figures, each candidate stage's candidates with their scores
(stage 1's draws, or every rung of a successive halving), and which run of the final stage belongs to which
variant and arm. `read(root)` returns exactly that, from `ganbench.study.record.load_record` (every format a
study has been written in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganbench.metrics import names
from ganbench.report import plan as P
from ganbench.stats import scale as sc
from ganbench.study.layout import FINAL, RECIPE, STUDY, TUNED

__all__ = ["RECIPE", "TUNED", "Candidate", "Rung", "Study", "is_study", "read"]


NO_SEARCH = "no search"  # how a study without candidates to choose between describes its search


def is_study(root: Path) -> bool:
    return (Path(root) / STUDY).is_file()


@dataclass(frozen=True)
class Candidate:
    variant: str
    tag: str
    params: dict[str, Any]
    completed: bool
    value: float  # the candidate's score at this rung (NaN: failed or not finished)
    chosen: bool  # carried on to the next rung (or selected for the final stage)


@dataclass(frozen=True)
class Rung:
    name: str
    budget: str
    split: str
    metric: str
    candidates: dict[str, list[Candidate]]  # per variant


@dataclass(frozen=True)
class Study:
    root: Path
    name: str
    variants: list[str]
    baselines: list[str]
    settings: dict[str, Any]  # the settings every trial got (data set, resolution, widths, eval_samples)
    key: str  # the primary metric at the study's sample count: kid500
    plan: P.Plan
    goals: dict[str, tuple[float, bool]]  # metric name -> (figure, lower is better)
    rungs: list[Rung]  # the candidate stages, in order (one for a top-1 search)
    final_budget: str
    final_split: str
    final_seeds: list[int]
    recipe_seeds: list[int]
    search_text: str  # "4 lhs draws at 100kimg, one seed, chosen by kid500 on the val split"
    arms: dict[str, tuple[str, str]] = field(default_factory=dict)  # final-stage run folder -> (variant, arm)
    final_planned: int = 0  # the final stage's trials as recorded (baselines included); 0 while not planned
    pending: list[str] = field(default_factory=list)  # candidate stages that have not chosen yet (still running)
    searched: bool = True  # False: no candidate stage, or every variant's only candidate was its recipe

    def arm(self, run_name: str) -> tuple[str, str] | None:
        """(variant, arm) of a final-stage run (its folder relative to the results folder), else None. A run the
        record does not list is placed by the layout: final/<variant>/<arm>/seed<k>."""
        if run_name in self.arms:
            return self.arms[run_name]
        parts = run_name.split("/")
        return (parts[1], parts[2]) if len(parts) == 4 and parts[0] == FINAL else None


def _plan(record) -> P.Plan:
    """The report's plan from the study's recorded one (study.analysis.AnalysisPlan)."""
    ap = record.plan
    if not ap.declared:  # a format-1 study implied a plan: raw scale, a share of the gap set from the results
        return P.first_protocol(ap.margin.high, ap.metric_name)
    margin = (ap.margin.low, ap.margin.high)
    return P.Plan(
        scale=ap.scale,
        margin=margin,
        margin_fraction=None,
        alpha=ap.alpha,
        metric=ap.metric_name,
        source=P.DECLARED,
        post_hoc=bool(record.plan_changed),
        log_floor=ap.log_floor,
    )


def _value(c, plan) -> float:
    """A candidate's value over its seeds as selection saw it: the mean on the plan's scale, back in the metric's
    units (the geometric mean on the log scale); NaN without a value."""
    x = sc.forward([v for v in c.values if v is not None and math.isfinite(v)], plan.scale, plan.log_floor)
    x = x[np.isfinite(x)]
    return sc.back(float(x.mean()), plan.scale) if x.size else math.nan


def _rungs(record) -> list[Rung]:
    rungs = []
    for stage in record.stages:
        sel = stage.selection
        if sel is None:
            continue
        candidates = {
            v: [
                Candidate(
                    v,
                    c.tag,
                    dict(c.params),
                    c.status == "completed",
                    _value(c, record.plan) if c.status == "completed" else math.nan,
                    c.tag in (sel.chosen.get(v) or ()),
                )
                for c in cs
            ]
            for v, cs in sel.candidates.items()
        }
        rungs.append(Rung(stage.name, stage.budget, sel.split or stage.split, sel.metric, candidates))
    return rungs


def _count(stage, variants) -> int:
    """Candidates per variant in a candidate stage (from its selection, else its planned trials); 0 if unknown."""
    if stage.selection is not None:
        n = sum(len(cs) for cs in stage.selection.candidates.values())
    else:
        n = len({(t.variant, t.candidate) for t in stage.trials})
    return n // max(1, len(variants))


def _seeds(stage) -> str:
    return f"{len(stage.seeds) or 1} seed{'s' if len(stage.seeds) > 1 else ''}"


def _search_text(record, raw: dict[str, Any]) -> tuple[str, bool]:
    """How the candidates were chosen, for the headline: "the recipe + 16 lhs draws per variant at 25kimg, 1 seed,
    chosen by kid250 on the val split", or with successive halving every rung's budget, candidates and seeds; and
    whether anything was searched."""
    rungs = list(record.stages[:-1])
    if not rungs:
        return NO_SEARCH, False
    search = raw.get("search") if isinstance(raw.get("search"), dict) else {}
    draws = search.get("trials", raw.get("trials"))
    mode = search.get("mode", raw.get("mode", "search"))
    first = _count(rungs[0], record.variants)
    if draws is None:
        draws = first or "?"
    if draws == 0:  # the recipe as the only candidate (issue 28's study): nothing was searched
        return f"{NO_SEARCH}: each variant's own recipe", False
    what = f"the recipe + {draws} {mode} draws" if search.get("recipe") else f"{draws} {mode} draws"
    if len(rungs) == 1:
        return (
            f"{what} at {rungs[0].budget}, {_seeds(rungs[0])}, chosen by {record.metric_name} on the {rungs[0].split} "
            "split"
        ), True
    steps = [f"{rungs[0].budget} ({first or '?'} per variant, {_seeds(rungs[0])})"]
    steps += [
        f"{r.budget} (best {_share(r.keep)}: {_count(r, record.variants) or '?'}, {_seeds(r)})" for r in rungs[1:]
    ]
    last = rungs[-1]
    metric = last.selection.metric if last.selection is not None else _metric(record, last)
    return (
        f"{what} per variant, narrowed by successive halving on the {last.split} split: {' → '.join(steps)}; the "
        f"setting chosen by {metric} at {last.budget}"
    ), True


def _metric(record, stage) -> str:
    """The primary metric at a stage's own sample count (a stage may evaluate on fewer images)."""
    n = (stage.settings or {}).get("eval_samples", record.settings.get("eval_samples"))
    return names.name(record.plan.metric, int(n)) if n else record.metric_name


def _share(keep: float | None) -> str:
    names = {0.5: "half", 0.25: "quarter", 1 / 3: "third"}
    return next((n for k, n in names.items() if keep is not None and abs(keep - k) < 1e-9), f"{keep:g} share")


def read(root: Path) -> Study:
    """The study in results folder `root` (raises FileNotFoundError when it is not one)."""
    from ganbench.study.record import load_record

    record = load_record(Path(root))
    raw = (record.raw or {}).get("study") or {}
    final = record.final
    search_text, searched = _search_text(record, raw)
    arms = {t.run_dir.as_posix(): (t.variant, t.arm or RECIPE) for t in final.trials}
    recipe = sorted({t.seed for t in final.trials if t.arm == RECIPE and t.variant in record.variants})
    tuned = sorted({t.seed for t in final.trials if t.arm == TUNED})
    return Study(
        root=Path(root),
        name=record.name,
        variants=list(record.variants),
        baselines=list(record.baselines),
        settings=dict(record.settings),
        key=record.metric_name,
        plan=_plan(record),
        goals={g.metric: (g.bound, g.lower_is_better) for g in record.plan.goals},
        rungs=_rungs(record),
        final_budget=final.budget,
        final_split=final.split,
        final_seeds=tuned or list(final.seeds),
        recipe_seeds=recipe,
        search_text=search_text,
        searched=searched,
        arms=arms,
        final_planned=len(final.trials),
        pending=[
            s.name
            for s in record.stages[:-1]
            if s.selection is None or any(s.selection.waiting.get(v) for v in record.variants)
        ],
    )
