"""A study's two stages as trials, the selection between them, and what the whole program will cost.

Stage 1 is an ordinary random-search sweep (`ganbench.sweep`): the same K draws for every variant, projected onto
the hyperparameters that act on it, one short run each, evaluated on the selection split. The selection takes,
per variant, the draw with the best value of the study's metric at the end of its run (a diverged run counts as
the worst). Stage 2 trains, per variant, that setting (`tuned`) and the variant's own recipe (`recipe`) over
seeds at the full budget, and the baselines (the random floor, the real-vs-real line), all evaluated on the
report split, which stage 1 never saw.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganbench import families
from ganbench.config import Config, load_recipe, make_config
from ganbench.errors import ConfigError
from ganbench.execution.trial import Trial
from ganbench.metrics import names
from ganbench.rundir import DEVICE_SETTINGS, FINAL, TO_RUN, RunDir, Status, number
from ganbench.study.layout import FINAL as FINAL_STAGE  # names owned by layout.py
from ganbench.study.layout import RECIPE, SEARCH, SELECTION, STUDY, TUNED  # noqa: F401  (the command uses them from here)
from ganbench.study.spec import Study
from ganbench.sweep.plan import plan_sweep
from ganbench.sweep.spec import Sweep


def stage_settings(study: Study, stage: str) -> dict[str, Any]:
    """The config fields every trial of a stage gets: [data], [settings], the stage's budget, split and settings."""
    s = study.search if stage == SEARCH else study.final
    return study.settings | {"budget": s.budget, "eval_split": s.split} | s.settings


def search_sweep(study: Study) -> Sweep:
    """Stage 1 as a sweep: K random draws (the same for every variant), its seeds, the selection split."""
    return Sweep(
        name=f"{study.name}-{SEARCH}",
        variants=study.variants,
        seeds=study.search.seeds,
        settings=stage_settings(study, SEARCH),
        mode=study.mode,
        space=study.space,
        trials=study.trials,
        search_seed=study.search_seed,
        include_recipe=False,
        evaluate=True,
        executor=study.executor,
        source=study.source,
    )


def plan_search(study: Study, out: Path) -> list[Trial]:
    return plan_sweep(search_sweep(study), out / SEARCH)


@dataclass
class Candidate:
    tag: str
    params: dict[str, Any]
    status: str | None
    value: float | None  # the metric at the end of the run; None while it has not finished

    def score(self) -> float:
        """What selection minimises: the value, or +inf for a run that diverged or gave no finite value."""
        if self.status == Status.DIVERGED or self.value is None or not math.isfinite(self.value):
            return math.inf
        return self.value


def select(study: Study, search: list[Trial]) -> dict[str, dict[str, Any]]:
    """Per variant, its stage-1 candidates and, once every one has finished (completed or diverged), the chosen
    one: the lowest metric on the selection split (ties: the earlier draw). A variant with unfinished candidates
    has `chosen` None and says which are missing."""
    metric = study.metric_name()
    if names.LOWER_IS_BETTER.get(study.metric) is not True:
        raise ConfigError(f"selection needs a metric where lower is better, got {study.metric}")
    out: dict[str, dict[str, Any]] = {}
    for variant in study.variants:
        cands = []
        for t in (t for t in search if t.cfg.variant == variant):
            summary = RunDir(t.run_dir).read_summary() or {}
            status = summary.get("status")
            value = number((summary.get("final") or {}).get(metric)) if status in FINAL else None
            cands.append(Candidate(t.tag, t.params, status, value))
        waiting = [c.tag for c in cands if c.status not in FINAL]
        chosen = None if waiting or not cands else min(cands, key=Candidate.score)
        if chosen is not None and not math.isfinite(chosen.score()):
            chosen = None  # every draw diverged: nothing to carry forward
            waiting = ["(every candidate diverged or gave no value)"]
        out[variant] = {
            "metric": metric,
            "split": study.search.split,
            "candidates": [c.__dict__ | {"score": c.score()} for c in cands],
            "chosen": None if chosen is None else {"tag": chosen.tag, "params": chosen.params, "value": chosen.value},
            "waiting": waiting,
        }
    return out


def _trial(study: Study, variant: str, arm: str, params: dict[str, Any], seed: int, out: Path) -> Trial:
    cfg = make_config(load_recipe(variant), **stage_settings(study, FINAL_STAGE), **params, seed=seed)
    return Trial(cfg, out / FINAL_STAGE / variant / arm / f"seed{seed}", arm, dict(params), (), study.name)


def plan_final(study: Study, out: Path, selection: dict[str, dict[str, Any]]) -> list[Trial]:
    """Stage 2's trials for every variant whose setting is chosen (and the baselines), seed-major: all the trials
    of the first seed, then the next, so a study stopped early already holds a comparable set."""
    seeds = sorted(set(study.final.seeds) | set(study.recipe_seeds))
    trials = []
    for seed in seeds:
        for variant in study.variants:
            chosen = (selection.get(variant) or {}).get("chosen")
            if chosen is not None and seed in study.final.seeds:
                trials.append(_trial(study, variant, TUNED, chosen["params"], seed, out))
            if seed in study.recipe_seeds:
                trials.append(_trial(study, variant, RECIPE, {}, seed, out))
        for baseline in study.baselines:
            if seed in study.final.seeds:
                trials.append(_trial(study, baseline, RECIPE, {}, seed, out))
    return trials


def check_baselines(study: Study) -> None:
    """The baselines must be families with nothing trained; a variant must train."""
    for name in study.baselines:
        if families.trains(make_config(load_recipe(name)).family):
            raise ConfigError(f"[study] baselines: '{name}' trains a model; list it under variants")
    for name in study.variants:
        if not families.trains(make_config(load_recipe(name)).family):
            raise ConfigError(f"[study] variants: '{name}' trains nothing; list it under baselines")


# ---------------------------------------------------------------------------------------------------- cost
def _evaluations(cfg: Config) -> list[int]:
    """Images per evaluation of a run of `cfg`, in order (the final one last)."""
    final = cfg.eval_samples
    if not families.trains(cfg.family):
        return [final]
    budget = cfg.run_budget
    during = cfg.eval_samples_during or final
    if budget.unit != "img" or cfg.eval_every_kimg <= 0:
        return [final]
    every = int(cfg.eval_every_kimg * 1000)
    return [during] * max(0, math.ceil(budget.amount / every) - 1) + [final]


def trial_seconds(study: Study, cfg: Config, measured: dict[str, float] | None = None) -> float:
    """Estimated wall time of one trial: training at the variant's rate, every evaluation at the Inception rate,
    plus overhead. `measured` (img/s per variant, 'eval' images/s) replaces the study file's rates."""
    measured = measured or {}
    seconds = study.cost.trial_overhead_s
    if families.trains(cfg.family):
        budget = cfg.run_budget
        if budget.unit == "img":
            seconds += budget.amount / measured.get(cfg.variant, study.cost.train_rate(cfg.variant))
        elif budget.unit == "seconds":
            seconds += budget.amount
    eval_rate = measured.get("eval", study.cost.eval_img_per_s)
    return seconds + sum(_evaluations(cfg)) / eval_rate


def measured_rates(trials: list[Trial]) -> dict[str, float]:
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
            evals.append(sum(_evaluations(t.cfg)) / float(s["eval_seconds"]))
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    return {k: med(v) for k, v in speed.items()} | ({"eval": med(evals)} if evals else {})


def numerics_note(trials: list[Trial], states: dict[Path, str]) -> str | None:
    """A warning when this host would train the trials left to run in other arithmetic than the stage's finished
    ones (precision `auto` resolves per host: bf16 where the CPU or GPU computes it natively, else fp32), or None.
    For trials that run here (the local executor); the report flags the mix either way."""
    from ganbench.device import pick_device  # torch: only when a stage is about to run

    trained = [t for t in trials if not families.is_baseline(t.cfg.family)]
    left = [t for t in trained if states.get(t.run_dir) in TO_RUN]
    if not left:
        return None
    try:
        here = families.device_settings(left[0].cfg, pick_device(left[0].cfg.device))
    except ValueError:  # a device this host lacks: the trials say so themselves when they start
        return None

    def precision(t: Trial) -> str | None:
        try:
            return (RunDir(t.run_dir).read_meta().get(DEVICE_SETTINGS) or {}).get("precision")
        except (OSError, ValueError, AttributeError):  # no or unreadable config.json: nothing to compare
            return None

    finished = Counter(precision(t) for t in trained if states.get(t.run_dir) not in TO_RUN)
    others = {p: n for p, n in finished.items() if p and p != here.precision}
    if not others:
        return None
    return (
        f"note: this host trains in {here.precision} ({here.precision_reason}), but "
        + ", ".join(f"{n} trial(s) of this stage already trained in {p}" for p, n in others.items())
        + f": the {len(left)} left will mix arithmetic within the study, and the report will say so. To keep "
        "one, run them on a host like the others' (the study's config.json files record each trial's)"
    )


def estimate(
    study: Study,
    search: list[Trial],
    final_trials: list[Trial] | None,
    states: dict[Path, str],
    measured: dict[str, float],
) -> dict[str, Any]:
    """Seconds of the whole program and of what is left, per stage. Stage 2 before the selection is costed from
    the recipes (the tuned arm's n_critic is not known yet)."""
    if final_trials is None:  # the selection is not made: cost the tuned arm as if it were the recipe
        placeholder = {v: {"chosen": {"tag": TUNED, "params": {}, "value": None}} for v in study.variants}
        final_trials = plan_final(study, Path("/nonexistent"), placeholder)
    out: dict[str, Any] = {}
    for stage, trials in ((SEARCH, search), (FINAL_STAGE, final_trials)):
        total = sum(trial_seconds(study, t.cfg, measured) for t in trials)
        left = sum(
            trial_seconds(study, t.cfg, measured)
            for t in trials
            if states.get(t.run_dir) not in ("completed", "diverged")
        )
        out[stage] = {"trials": len(trials), "seconds": total, "left_seconds": left}
    out["seconds"] = sum(out[s]["seconds"] for s in (SEARCH, FINAL_STAGE))
    out["left_seconds"] = sum(out[s]["left_seconds"] for s in (SEARCH, FINAL_STAGE))
    out["rates"] = {
        "measured": measured,
        "declared": {
            "train_img_per_s": study.cost.train_img_per_s,
            "eval_img_per_s": study.cost.eval_img_per_s,
            "trial_overhead_s": study.cost.trial_overhead_s,
        },
    }
    return out


def estimate_text(est: dict[str, Any]) -> str:
    h = lambda s: f"{s / 3600:.1f} h"  # noqa: E731
    lines = [
        f"  stage 1 (search): {est[SEARCH]['trials']} trials, {h(est[SEARCH]['seconds'])} "
        f"({h(est[SEARCH]['left_seconds'])} left)",
        f"  stage 2 (final):  {est[FINAL_STAGE]['trials']} trials, {h(est[FINAL_STAGE]['seconds'])} "
        f"({h(est[FINAL_STAGE]['left_seconds'])} left)",
        f"  total: {h(est['seconds'])} of CPU/GPU time, {h(est['left_seconds'])} left",
    ]
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
