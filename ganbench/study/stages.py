"""Stage kinds: what a stage runs and how it takes its candidates from the stage before it. A study is a list of
stages (`ganbench.study.model.Stage`); a new protocol is a new kind registered here.

    search   the first stage: every candidate (the search's draws per variant and, with `recipe`, the variant's own
             recipe) over the stage's seeds, scored on the stage's split
    halving  a successive-halving rung (Jamieson & Talwalkar 2016; Li et al.'s ASHA, as in Ray Tune): keeps the best
             `keep` share of the previous stage's candidates (rounded up, at least one) and trains them to its
             larger budget; a candidate's run of a seed the previous stage ran continues from that run's checkpoint
             rather than restarting (ganbench.checkpoint.extend_checkpoint), other seeds train from the start
    final    the last stage: per variant the best candidate of the previous stage (the `tuned` arm) over `seeds`,
             the recipe (the `recipe` arm) over `recipe_seeds`, and the baselines over `seeds`, reported on a split
             no stage chose on

How candidates are scored and ranked between stages is `ganbench.study.selection`'s.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench import families
from ganbench.budget import parse_budget
from ganbench.config import FIELDS, Config, load_recipe, make_config
from ganbench.errors import ConfigError
from ganbench.execution.trial import Trial
from ganbench.metrics import names
from ganbench.registry import Registry
from ganbench.rundir import RunDir, Status
from ganbench.study.layout import FINAL, RECIPE, TUNED
from ganbench.study.model import Stage, Study
from ganbench.sweep.plan import plan_sweep
from ganbench.sweep.spec import Sweep

SEARCH, HALVING = "search", "halving"  # FINAL ("final") is the layout's: the final stage's folder
CONTINUED = "continued"  # the record a continued run's metrics.jsonl holds after its predecessor's records


@dataclass(frozen=True)
class Candidate:
    """A setting of one variant: the searched hyperparameters that act on it ({} for its recipe)."""

    variant: str
    tag: str
    params: dict[str, Any]
    ignored: tuple[str, ...] = ()


@dataclass
class StudyTrial:
    """A trial of a stage: what an executor runs (`trial`), and where it stands in the study."""

    stage: str
    arm: str | None  # the final stage's arm (tuned | recipe); None in a candidate stage
    candidate: str  # the setting's tag
    trial: Trial
    continues: Path | None = None  # the previous stage's run of this candidate and seed, continued from

    @property
    def cfg(self) -> Config:
        return self.trial.cfg

    @property
    def run_dir(self) -> Path:
        return self.trial.run_dir

    @property
    def params(self) -> dict[str, Any]:
        return self.trial.params

    def row(self, out: Path) -> dict[str, Any]:
        """The trial as study.json lists it (paths relative to the results folder)."""
        return {
            "variant": self.cfg.variant,
            "arm": self.arm,
            "candidate": self.candidate,
            "params": self.trial.params,
            "seed": self.cfg.seed,
            "run_dir": str(self.run_dir.relative_to(out)),
            **({"continues": str(self.continues.relative_to(out))} if self.continues else {}),
        }


@dataclass
class Context:
    """What planning a stage needs: the study, the stage, where results go, the candidates it runs (per variant:
    every candidate for the first stage, else those the previous stage's results gave it) and that stage's trials."""

    study: Study
    index: int
    out: Path
    candidates: dict[str, list[Candidate]]
    previous: list[StudyTrial] = field(default_factory=list)

    @property
    def stage(self) -> Stage:
        return self.study.stages[self.index]


@dataclass(frozen=True)
class Kind:
    summary: str
    check: Callable[[Stage, int, tuple[Stage, ...], str], None]  # (stage, index, all stages, file): raises
    plan: Callable[[Context], list[StudyTrial]]
    keep: Callable[[Stage, int], int]  # of n candidates of the previous stage, how many this one takes (per variant)
    # before its candidates are known (for the estimate): (variant, seed, start image) of each trial it will run,
    # given how many candidates each variant brings
    project: Callable[[Study, int, dict[str, int]], list[tuple[str, int, float]]]


KINDS: Registry[Kind] = Registry("stage kind")


# ---------------------------------------------------------------------------------------------------- shared
def stage_settings(study: Study, stage: Stage) -> dict[str, Any]:
    """The config fields every trial of a stage gets: [data], [settings], the stage's budget, split and settings."""
    return study.settings | {"budget": stage.budget, "eval_split": stage.split} | stage.settings


def metric_name(study: Study, stage: Stage) -> str:
    """The primary metric at the stage's sample count (a stage may evaluate on fewer images than the final)."""
    n = int(stage_settings(study, stage).get("eval_samples", FIELDS["eval_samples"].default))
    return names.name(study.plan.metric, n)


def _config(study: Study, stage: Stage, variant: str, params: dict[str, Any], seed: int) -> Config:
    return make_config(load_recipe(variant), **stage_settings(study, stage), **params, seed=seed)


def stage_inputs(study: Study, index: int) -> list[Config]:
    """A config per variant (its recipe) and, in the final stage, per baseline, as stage `index` trains them: what
    the data pre-flight needs to find every data set and split the stage reads before its candidates are known."""
    stage = study.stages[index]
    names = (*study.variants, *(study.baselines if stage.kind == FINAL else ()))
    return [_config(study, stage, name, {}, stage.seeds[0]) for name in names]


def candidates(study: Study) -> dict[str, list[Candidate]]:
    """Every variant's candidates: the same draws for every variant (projected onto the keys that act on it; draws
    that then give the same config count once), then its recipe when the search includes it."""
    s = study.search
    sweep = Sweep(
        name=study.name,
        variants=study.variants,
        seeds=(0,),
        settings=stage_settings(study, study.stages[0]),
        mode=s.mode,
        space=s.space,
        trials=s.trials if s.space else 0,
        search_seed=s.seed,
        include_recipe=s.recipe or not s.space,
    )
    out: dict[str, list[Candidate]] = {v: [] for v in study.variants}
    for t in plan_sweep(sweep, Path("/nonexistent")):
        out[t.cfg.variant].append(Candidate(t.cfg.variant, t.tag, dict(t.params), tuple(t.ignored)))
    return out


def _candidate_trial(ctx: Context, c: Candidate, seed: int) -> StudyTrial:
    cfg = _config(ctx.study, ctx.stage, c.variant, c.params, seed)
    run_dir = ctx.out / ctx.stage.name / c.variant / c.tag / f"seed{seed}"
    trial = Trial(cfg, run_dir, c.tag, dict(c.params), c.ignored, f"{ctx.study.name}-{ctx.stage.name}")
    return StudyTrial(ctx.stage.name, None, c.tag, trial)


def _images(budget: str) -> float | None:
    b = parse_budget(budget)
    return b.amount if b.unit == "img" else None


def _after_first(stage: Stage, index: int, where: str) -> None:
    if index == 0:
        raise ConfigError(f"stage '{stage.name}' ({stage.kind}) takes the previous stage's results: it cannot be first")


# ---------------------------------------------------------------------------------------------------- search
def _check_search(stage: Stage, index: int, stages: tuple[Stage, ...], where: str) -> None:
    if index != 0:
        raise ConfigError(f"stage '{stage.name}': a {SEARCH} stage runs every candidate, so it is the first stage")
    if len(stages) < 2:
        raise ConfigError(f"a study needs a {FINAL} stage after its {SEARCH} stage (in {where})")


def _plan_search(ctx: Context) -> list[StudyTrial]:
    """Every candidate over the stage's seeds, seed-major (a stage stopped early holds a comparable set)."""
    return [_candidate_trial(ctx, c, seed) for seed in ctx.stage.seeds for cs in ctx.candidates.values() for c in cs]


def _project_candidates(study: Study, index: int, counts: dict[str, int]) -> list[tuple[str, int, float]]:
    """Each variant's candidates over the stage's seeds; on a rung, the seeds the stage before ran continue."""
    stage = study.stages[index]
    before = study.stages[index - 1] if index else None
    out = []
    for seed in stage.seeds:
        continued = stage.kind == HALVING and before is not None and seed in before.seeds
        start = _images(before.budget) if continued else 0
        out += [(v, seed, start) for v in study.variants for _ in range(counts[v])]
    return out


KINDS.register(
    SEARCH,
    Kind(
        "every candidate (the search's draws and, with recipe, the recipe)",
        _check_search,
        _plan_search,
        lambda s, n: n,
        _project_candidates,
    ),
)


# ---------------------------------------------------------------------------------------------------- halving
def _check_halving(stage: Stage, index: int, stages: tuple[Stage, ...], where: str) -> None:
    _after_first(stage, index, where)
    if index == len(stages) - 1:
        raise ConfigError(f"stage '{stage.name}': a {HALVING} rung cannot be last; a {FINAL} stage follows it")
    if stage.keep is None:
        raise ConfigError(f"stage '{stage.name}' ({HALVING}) needs keep, the share of candidates kept (e.g. 0.25)")
    before, now = _images(stages[index - 1].budget), _images(stage.budget)
    if before is None or now is None or now <= before:
        raise ConfigError(
            f"stage '{stage.name}' ({HALVING}): a rung continues the previous stage's runs, so both budgets are in "
            f"images (kimg) and this one is larger ({stages[index - 1].budget} -> {stage.budget})"
        )
    if stage.recipe_seeds:
        raise ConfigError(f"stage '{stage.name}': recipe_seeds belong to the {FINAL} stage")


def _plan_halving(ctx: Context) -> list[StudyTrial]:
    """The kept candidates over the stage's seeds; a run of a seed the previous stage ran continues from it."""
    before = {(t.cfg.variant, t.candidate, t.cfg.seed): t for t in ctx.previous}
    trials = []
    for seed in ctx.stage.seeds:
        for cs in ctx.candidates.values():
            for c in cs:
                t = _candidate_trial(ctx, c, seed)
                prev = before.get((c.variant, c.tag, seed))
                if prev is not None and _continues(t.run_dir, prev.run_dir):
                    t.continues = prev.run_dir
                trials.append(t)
    return trials


def _continues(run_dir: Path, before: Path) -> bool:
    """Whether a rung's run continues (or, not started yet, will continue) the previous stage's run `before`: a
    started run says so in its records; a new one can while `before` completed and kept its checkpoint (a results
    folder brought to another machine without checkpoints trains its next rung from the start)."""
    run = RunDir(run_dir)
    if run.is_run() or run.checkpoint.is_file():
        return any(r.get("kind") == CONTINUED for r in run.records())
    prev = RunDir(before)
    return prev.status() == Status.COMPLETED and prev.checkpoint.is_file()


KINDS.register(
    HALVING,
    Kind(
        "a successive-halving rung: the best `keep` share of the previous stage's candidates, continued to a "
        "larger budget",
        _check_halving,
        _plan_halving,
        lambda s, n: max(1, math.ceil(n * (s.keep or 1.0) - 1e-9)),
        _project_candidates,
    ),
)


# ---------------------------------------------------------------------------------------------------- final
def _check_final(stage: Stage, index: int, stages: tuple[Stage, ...], where: str) -> None:
    _after_first(stage, index, where)
    if index != len(stages) - 1:
        raise ConfigError(f"stage '{stage.name}': the {FINAL} stage is the last one")
    if stage.name != FINAL:
        raise ConfigError(f"the {FINAL} stage is named '{FINAL}' (its folder in the results), got '{stage.name}'")


def _plan_final(ctx: Context) -> list[StudyTrial]:
    """Per seed (seed-major): each variant's tuned arm (its chosen candidate) and recipe arm, then the baselines."""
    study, stage = ctx.study, ctx.stage
    seeds = sorted(set(stage.seeds) | set(stage.recipe_seeds))

    def arm(variant: str, name: str, c: Candidate, seed: int) -> StudyTrial:
        cfg = _config(study, stage, variant, c.params, seed)
        trial = Trial(cfg, ctx.out / stage.name / variant / name / f"seed{seed}", name, dict(c.params), (), study.name)
        return StudyTrial(stage.name, name, c.tag, trial)

    trials = []
    for seed in seeds:
        for variant in study.variants:
            chosen = ctx.candidates.get(variant) or []
            if chosen and seed in stage.seeds:
                trials.append(arm(variant, TUNED, chosen[0], seed))
            if seed in stage.recipe_seeds:
                trials.append(arm(variant, RECIPE, Candidate(variant, RECIPE, {}), seed))
        for baseline in study.baselines:
            if seed in stage.seeds:
                trials.append(arm(baseline, RECIPE, Candidate(baseline, RECIPE, {}), seed))
    return trials


def _project_final(study: Study, index: int, counts: dict[str, int]) -> list[tuple[str, int, float]]:
    stage = study.stages[index]
    out = []
    for seed in sorted(set(stage.seeds) | set(stage.recipe_seeds)):
        for v in study.variants:
            out += [(v, seed, 0)] * ((seed in stage.seeds) + (seed in stage.recipe_seeds))
        out += [(b, seed, 0) for b in study.baselines if seed in stage.seeds]
    return out


KINDS.register(
    FINAL,
    Kind(
        "the answer: each variant's best candidate (tuned arm), its recipe (recipe arm) and the baselines over seeds",
        _check_final,
        _plan_final,
        lambda s, n: 1,
        _project_final,
    ),
)


# ---------------------------------------------------------------------------------------------------- continuing
def continue_from(t: StudyTrial) -> bool:
    """Give a rung's trial its predecessor's state before it first runs: the checkpoint (as if this run had been
    interrupted where the shorter one ended; the ordinary resume then continues it) and the records so far (its
    curve starts at the beginning). Nothing happens to a run directory that already holds a run or a checkpoint.
    Returns whether it was prepared now."""
    from ganbench.checkpoint import extend_checkpoint  # torch: only when a rung is about to run

    if t.continues is None:
        return False
    dst, src = RunDir(t.run_dir), RunDir(t.continues)
    if dst.is_run() or dst.checkpoint.is_file() or not src.checkpoint.is_file():
        return False
    dst.path.mkdir(parents=True, exist_ok=True)
    if src.metrics.is_file() and not dst.metrics.is_file():
        dst.metrics.write_bytes(src.metrics.read_bytes())
    counters = extend_checkpoint(src.checkpoint, dst.checkpoint, t.cfg)
    dst.append({"kind": CONTINUED, "from": os.path.relpath(src.path, dst.path), "kimg": counters.img / 1000})
    return True


def trains(t: StudyTrial) -> bool:
    return not families.is_baseline(t.cfg.family)
