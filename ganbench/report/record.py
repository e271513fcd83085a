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

from ganbench.report import plan as P
from ganbench.study.layout import FINAL, RECIPE, STUDY, TUNED

__all__ = ["RECIPE", "TUNED", "Candidate", "Rung", "Study", "is_study", "read"]


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
                    float(c.value) if c.status == "completed" and c.value is not None else math.nan,
                    c.tag in (sel.chosen.get(v) or ()),
                )
                for c in cs
            ]
            for v, cs in sel.candidates.items()
        }
        rungs.append(Rung(stage.name, stage.budget, sel.split or stage.split, sel.metric, candidates))
    return rungs


def read(root: Path) -> Study:
    """The study in results folder `root` (raises FileNotFoundError when it is not one)."""
    from ganbench.study.record import load_record

    record = load_record(Path(root))
    raw = (record.raw or {}).get("study") or {}
    final = record.final
    first = record.stages[0] if len(record.stages) > 1 else None
    trials = sum(len(cs) for cs in (first.selection.candidates.values() if first and first.selection else [])) or 0
    per_variant = trials // max(1, len(record.variants))
    search_text = (
        f"{per_variant or raw.get('trials', '?')} {raw.get('mode', 'search')} draws at {first.budget}, "
        f"{len(first.seeds) or 1} seed{'s' if len(first.seeds) > 1 else ''}, chosen by {record.metric_name} on "
        f"the {first.split} split"
        if first
        else "no search"
    )
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
        arms=arms,
        final_planned=len(final.trials),
    )
