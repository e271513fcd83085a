"""Choosing between a stage's candidates: every seed's value of the primary metric, each candidate's score on the
plan's scale (log values on a log scale) and failures, and the tags the next stage takes (how many: its kind's
`keep`, ganbench.study.stages). A seed that diverged, or ended without a finite value, is a failure: candidates are
ranked by their failures, then by score (ties: the earlier candidate), and one without any value is never kept."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ganbench.rundir import FINAL as FINISHED
from ganbench.rundir import RunDir, Status, number
from ganbench.study.analysis import LOG
from ganbench.study.model import Study
from ganbench.study.stages import KINDS, Candidate, StudyTrial, metric_name


def _scale(study: Study) -> Callable[[float], float]:
    if study.plan.scale == LOG:
        return lambda v: math.log(max(v, study.plan.log_floor))
    return lambda v: v


def score(study: Study, index: int, trials: list[StudyTrial]) -> dict[str, dict[str, Any]]:
    """Per variant, the candidates of stage `index` with every seed's value, their failures and score, in the order
    they were planned, and the tags still waiting (a seed not finished: completed or diverged)."""
    stage = study.stages[index]
    key, scale = metric_name(study, stage), _scale(study)
    out: dict[str, dict[str, Any]] = {v: {"candidates": {}, "waiting": []} for v in study.variants}
    for t in trials:
        summary = RunDir(t.run_dir).read_summary() or {}
        status = summary.get("status")
        value = number((summary.get("final") or {}).get(key)) if status in FINISHED else None
        entry = out[t.cfg.variant]["candidates"].setdefault(
            t.candidate, {"tag": t.candidate, "params": t.trial.params, "status": [], "values": [], "seeds": []}
        )
        entry["status"].append(status)
        entry["values"].append(value)
        entry["seeds"].append(t.cfg.seed)
        if status not in FINISHED and t.candidate not in out[t.cfg.variant]["waiting"]:
            out[t.cfg.variant]["waiting"].append(t.candidate)
    for v in out.values():
        cands = list(v["candidates"].values())
        for c in cands:
            ok = [
                scale(x)
                for x, s in zip(c["values"], c["status"], strict=True)
                if s == Status.COMPLETED and x is not None and math.isfinite(x)
            ]
            c["failed"] = sum(1 for s in c["status"] if s in FINISHED) - len(ok)
            c["score"] = sum(ok) / len(ok) if ok else math.inf
            c["status"] = (
                Status.COMPLETED
                if all(s == Status.COMPLETED for s in c["status"])
                else Status.DIVERGED
                if all(s in FINISHED for s in c["status"])
                else None
            )
        v["candidates"] = cands
    return out


def choose(study: Study, index: int, scored: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The choice stage `index + 1` makes from stage `index`'s scored results: per variant the tags it takes (by
    failures, then score; never a candidate with no value), or none while any candidate is waiting. Returns the
    selection as study.json records it on stage `index`."""
    study_stage, nxt = study.stages[index], study.stages[index + 1]
    variants = {}
    for variant, v in scored.items():
        cands = v["candidates"]
        waiting = list(v["waiting"])
        ranked = sorted((c for c in cands if math.isfinite(c["score"])), key=lambda c: (c["failed"], c["score"]))
        k = KINDS[nxt.kind].keep(nxt, len(cands))
        chosen = [] if waiting or not cands else [c["tag"] for c in ranked[:k]]
        if not waiting and cands and not ranked:
            waiting = ["(every candidate diverged or gave no value)"]
        variants[variant] = {
            "candidates": [c | {"score": c["score"] if math.isfinite(c["score"]) else None} for c in cands],
            "chosen": chosen,
            "waiting": waiting,
        }
    return {
        "metric": metric_name(study, study_stage),
        "split": study_stage.split,
        "scale": study.plan.scale,
        "by": nxt.name,
        "variants": variants,
    }


def chosen_candidates(selection: dict[str, Any], previous: dict[str, list[Candidate]]) -> dict[str, list[Candidate]]:
    """The candidates a selection carries on, in the selection's order (best first)."""
    out = {}
    for variant, v in selection["variants"].items():
        by_tag = {c.tag: c for c in previous.get(variant, [])}
        out[variant] = [by_tag[t] for t in v["chosen"]]
    return out
