"""What a study will cost: seconds per trial from the study file's rates (or its own measured ones), per stage and in
all, for the stages planned and those not planned yet (their trials are counted from the kinds' keep rules, each
costed as the variant's recipe, since the chosen settings are not known yet)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from ganbench import families
from ganbench.budget import parse_budget
from ganbench.config import Config, load_recipe, make_config
from ganbench.rundir import RunDir, Status, number
from ganbench.study.model import Study, stage_label
from ganbench.study.stages import KINDS, StudyTrial, stage_settings

DONE = (Status.COMPLETED, Status.DIVERGED)


def evaluations(cfg: Config, start_img: float = 0) -> list[int]:
    """Images per evaluation of a run of `cfg` that starts at `start_img` (a continued run), in order (the final
    one last)."""
    final = cfg.eval_samples
    if not families.trains(cfg.family):
        return [final]
    budget = cfg.run_budget
    during = cfg.eval_samples_during or final
    if budget.unit != "img" or cfg.eval_every_kimg <= 0:
        return [final]
    every = int(cfg.eval_every_kimg * 1000)
    points = [k * every for k in range(1, math.ceil(budget.amount / every)) if k * every > start_img]
    return [during] * len(points) + [final]


def trial_seconds(study: Study, cfg: Config, measured: dict[str, float] | None = None, start_img: float = 0) -> float:
    """Estimated wall time of one trial: training (from `start_img`) at the variant's rate, every evaluation at
    the Inception rate, plus overhead. `measured` (img/s per variant, 'eval' images/s) replaces the file's rates."""
    measured = measured or {}
    seconds = study.cost.trial_overhead_s
    if families.trains(cfg.family):
        budget = cfg.run_budget
        if budget.unit == "img":
            seconds += (budget.amount - start_img) / measured.get(cfg.variant, study.cost.train_rate(cfg.variant))
        elif budget.unit == "seconds":
            seconds += budget.amount
    return seconds + sum(evaluations(cfg, start_img)) / measured.get("eval", study.cost.eval_img_per_s)


def start_img(study: Study, t: StudyTrial) -> float:
    """Where a trial's training starts: the previous stage's budget for a continued run, else 0."""
    if t.continues is None:
        return 0
    i = [s.name for s in study.stages].index(t.stage)
    return parse_budget(study.stages[i - 1].budget).amount


def measured_rates(study: Study, trials: list[StudyTrial]) -> dict[str, float]:
    """Training images/s per variant and Inception images/s ('eval') from the completed trials: medians."""
    speed: dict[str, list[float]] = {}
    evals: list[float] = []
    for t in trials:
        s = RunDir(t.run_dir).read_summary() or {}
        if s.get("status") != Status.COMPLETED:
            continue
        if number(s.get("img_per_s")):
            speed.setdefault(t.cfg.variant, []).append(float(s["img_per_s"]))
        if number(s.get("eval_seconds")):
            evals.append(sum(evaluations(t.cfg, start_img(study, t))) / float(s["eval_seconds"]))
    return {k: statistics.median(v) for k, v in speed.items()} | ({"eval": statistics.median(evals)} if evals else {})


def _projected(study: Study, index: int, counts: dict[str, int]) -> list[tuple[Config, float]]:
    """(config, start image) of each trial stage `index` will run, before its candidates are known: each variant's
    candidates costed as its recipe."""
    stage = study.stages[index]
    settings = stage_settings(study, stage)
    return [
        (make_config(load_recipe(v), **settings, seed=seed), start)
        for v, seed, start in KINDS[stage.kind].project(study, index, counts)
    ]


def estimate(
    study: Study,
    planned: list[list[StudyTrial] | None],
    candidates: dict[str, int],
    states: dict[Path, str],
    measured: dict[str, float],
) -> dict[str, Any]:
    """Seconds of the whole program and of what is left, per stage. `planned`: each stage's trials, or None for a
    stage not planned yet; `candidates`: the first stage's candidates per variant."""
    out: dict[str, Any] = {"stages": []}
    counts = dict(candidates)
    for i, stage in enumerate(study.stages):
        if i:
            counts = {v: KINDS[stage.kind].keep(stage, n) for v, n in counts.items()}
        trials = planned[i] if i < len(planned) else None
        if trials is not None:
            rows = [(t.cfg, start_img(study, t), states.get(t.run_dir) not in DONE) for t in trials]
        else:
            rows = [(cfg, start, True) for cfg, start in _projected(study, i, counts)]
        seconds = [trial_seconds(study, cfg, measured, start) for cfg, start, _ in rows]
        out["stages"].append(
            {
                "name": stage.name,
                "kind": stage.kind,
                "trials": len(rows),
                "planned": trials is not None,
                "seconds": sum(seconds),
                "left_seconds": sum(s for s, (_, _, left) in zip(seconds, rows, strict=True) if left),
            }
        )
    out["seconds"] = sum(s["seconds"] for s in out["stages"])
    out["left_seconds"] = sum(s["left_seconds"] for s in out["stages"])
    out["rates"] = {
        "measured": measured,
        "declared": {
            "train_img_per_s": study.cost.train_img_per_s,
            "eval_img_per_s": study.cost.eval_img_per_s,
            "trial_overhead_s": study.cost.trial_overhead_s,
        },
    }
    return out


def estimate_text(est: dict[str, Any], concurrent: int = 1) -> str:
    h = lambda s: f"{s / 3600:.1f} h"  # noqa: E731
    lines = [
        f"  stage {i + 1} ({stage_label(s['name'], s['kind'])}): {s['trials']} trials"
        f"{'' if s['planned'] else ' (projected)'}, "
        f"{h(s['seconds'])} ({h(s['left_seconds'])} left)"
        for i, s in enumerate(est["stages"])
    ]
    lines.append(f"  total: {h(est['seconds'])} of trial time, {h(est['left_seconds'])} left")
    if concurrent > 1:
        lines[-1] += f"; about {h(est['left_seconds'] / concurrent)} of wall time with {concurrent} trials at once"
    rates = est["rates"]["measured"]
    lines.append(
        "  rates: "
        + (
            ", ".join(f"{k} {v:.0f} img/s" for k, v in sorted(rates.items())) + " (measured in this study)"
            if rates
            else "declared in the study file's [cost] (nothing measured yet)"
        )
    )
    return "\n".join(lines)
