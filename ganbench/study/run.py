"""`run_study`: a study's stages, one after the other, on an executor. The library behind `ganbench study`.

For each stage: plan its trials from the candidates the previous stage's results gave it (`ganbench.study.stages`),
check the arithmetic, give continued runs their predecessors' state, run what is left, then score the stage and
let the next one choose. Everything is written to study.json as it happens (the plan and its hash before the first
trial, each stage's trials and selection, the estimate): a study stopped anywhere goes on where it stopped when run
again, and a stage whose results are incomplete makes the study wait (the same call later continues it).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ganbench import families
from ganbench.config import load_recipe, make_config
from ganbench.errors import ConfigError
from ganbench.execution import EXECUTORS, ExecOptions, Interrupted, Retried, run_trials, trial_state
from ganbench.execution.execute import now
from ganbench.execution.executors import import_ray
from ganbench.execution.runner import check_inputs, pre_flight_note
from ganbench.execution.text import event_line
from ganbench.io import read_json, write_json
from ganbench.rundir import FINAL, TO_RUN, RunDir, State, Status, number
from ganbench.spec import data_origin
from ganbench.study import cost, numerics, power
from ganbench.study.layout import FORMAT, RECIPE, STUDY, TUNED
from ganbench.study.model import Study
from ganbench.study.selection import choose, chosen_candidates, score
from ganbench.study.stages import KINDS, Context, StudyTrial, candidates, continue_from, stage_inputs
from ganbench.sweep.plan import plan_text
from ganbench.sweep.spec import MAX_RETRIES


@dataclass(frozen=True)
class StudyOptions:
    max_concurrent: int | None = None  # None: the study file's
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    ray_address: str | None = None
    max_retries: int = MAX_RETRIES
    stop_after: str | None = None  # a stage's name: stop once it has run and been scored
    dry_run: bool = False  # plan, print, write nothing
    allow_mixed_arithmetic: bool = False
    file: str = ""  # the study file as given (recorded)
    command: tuple[str, ...] = ()
    data_from: str = ""  # where the data folder was given ("--set data="); "": the study file's key


@dataclass(frozen=True)
class Event:
    """What a study says as it goes: kind is plan (the dry-run table, for stdout), info, note (a warning), trial (a
    trial finished or runs again: `ganbench.execution.text.event_line`), or selected / waiting (after a stage's
    choice)."""

    kind: str
    text: str


@dataclass
class StudyResult:
    out: Path
    stages: list[list[StudyTrial]]  # the trials of every stage planned so far
    selections: list[dict[str, Any]]
    waiting: dict[str, list[str]] = field(default_factory=dict)  # variant -> candidates a stage waits for
    failed: list[str] = field(default_factory=list)  # labels of trials that did not finish
    retried: dict[str, list[str]] = field(default_factory=dict)

    @property
    def trials(self) -> list[StudyTrial]:
        return [t for ts in self.stages for t in ts]


def check_baselines(study: Study) -> None:
    """The baselines must be families with nothing trained; a variant must train."""
    for name in study.baselines:
        if families.trains(make_config(load_recipe(name)).family):
            raise ConfigError(f"[study] baselines: '{name}' trains a model; list it under variants")
    for name in study.variants:
        if not families.trains(make_config(load_recipe(name)).family):
            raise ConfigError(f"[study] variants: '{name}' trains nothing; list it under baselines")


def data_from(study: Study, opts: StudyOptions) -> str | None:
    """Where the study's data folder was given, for the data pre-flight's one line: as the command says, else the
    study file's key."""
    return opts.data_from or (data_origin(study.source, None) if study.source else None)


def check_data(
    study: Study, planned: list[list[StudyTrial]], states: dict[Path, str], origin: str | None = None
) -> None:
    """Every data set and split that the stages still to run will read, each once, before the first of them starts
    (DataError, one line, naming where the data folder was given: `origin`): a study whose report split is empty
    stops before its search, not after it. Stages whose trials have all finished are not checked, so a finished
    study still reads back without its data."""
    left = [i for i, trials in enumerate(planned) if any(states.get(t.run_dir) in TO_RUN for t in trials)]
    start = left[0] if left else len(planned)
    check_inputs([cfg for i in range(start, len(study.stages)) for cfg in stage_inputs(study, i)], True, origin)


def _plan(study: Study, out: Path, index: int, chosen, previous: list[StudyTrial]) -> list[StudyTrial]:
    return KINDS[study.stages[index].kind].plan(Context(study, index, out, chosen, previous))


def _plan_known(study: Study, out: Path) -> tuple[list[list[StudyTrial]], list[dict], dict[Path, str], dict]:
    """Every stage that can be planned from the results on disk: (trials per stage, selections, states, the first
    stage's candidates). Refuses changed configs up front."""
    first = candidates(study)
    chosen, planned, selections, states = first, [], [], {}
    for i in range(len(study.stages)):
        trials = _plan(study, out, i, chosen, planned[-1] if planned else [])
        states |= {t.run_dir: trial_state(t.trial) for t in trials}
        planned.append(trials)
        if i == len(study.stages) - 1:
            break
        sel = choose(study, i, score(study, i, trials))
        selections.append(sel)
        if any(not v["chosen"] for v in sel["variants"].values()):
            break
        chosen = chosen_candidates(sel, chosen)
    return planned, selections, states, first


def _final_values(study: Study, trials: list[StudyTrial]) -> dict[str, list[float]]:
    """The primary metric of the final stage's completed tuned runs, per variant (for the measured cv)."""
    out: dict[str, list[float]] = {}
    for t in trials:
        if t.stage == study.final.name and t.arm == TUNED:
            s = RunDir(t.run_dir).read_summary() or {}
            v = number((s.get("final") or {}).get(study.metric_name()))
            if s.get("status") == Status.COMPLETED and v is not None:
                out.setdefault(t.cfg.variant, []).append(v)
    return out


def power_plan(study: Study, trials: list[StudyTrial]) -> power.PowerPlan | None:
    """The seeds the study needs, from its measured cv (final stage, >= 2 seeds in an arm) or the declared one."""
    measured = power.measured_cv(_final_values(study, trials), study.plan.log_floor)
    if measured is not None:
        cv, source = measured[0], f"measured over {measured[1]} tuned arm(s) of this study"
    elif study.power.cv is not None:
        cv, source = study.power.cv, "declared in the study file's [power]"
    else:
        return None
    margin = (study.plan.margin.low, study.plan.margin.high)
    if study.plan.margin.kind != "ratio":  # a raw-scale plan: plan for the conventional ratio margin
        margin = (1 / study.power.ratio, study.power.ratio)
    k = len(study.variants)
    return power.plan_seeds(
        cv, study.plan.alpha, study.power.power, study.power.ratio, margin, k * (k - 1) // 2, source
    )


def header(study: Study, est: dict, pw: power.PowerPlan | None, concurrent: int) -> str:
    stages = "; ".join(
        f"{s.name} ({s.kind}, {s.budget}, split {s.split}, seeds {list(s.seeds)}"
        + (f", keep {s.keep:g}" if s.keep else "")
        + (f", recipe seeds {list(s.recipe_seeds)}" if s.recipe_seeds else "")
        + ")"
        for s in study.stages
    )
    p = study.plan
    lines = [
        f"study {study.name}: {len(study.variants)} variants, baselines {', '.join(study.baselines) or 'none'}; "
        f"candidates: {study.search.trials} draws ({study.search.mode})"
        f"{' + the recipe' if study.search.recipe else ''} "
        f"per variant; stages: {stages}",
        f"  analysis plan{'' if p.declared else ' (implied by a format-1 study file)'}: {p.metric_name} on the "
        f"{p.scale} scale, equivalence {p.margin.text()}, alpha {p.alpha:g}, primary family: {p.family_text}"
        + (
            "; goals " + ", ".join(f"{g.metric} {'<=' if g.lower_is_better else '>='} {g.bound:g}" for g in p.goals)
            if p.goals
            else ""
        ),
        cost.estimate_text(est, concurrent),
    ]
    if pw is not None:
        lines.append(power.power_text(pw, len(study.final.seeds)))
    else:
        lines.append("  power: no seed-to-seed cv declared ([power] cv) or measured yet")
    return "\n".join(lines)


def _record(
    study: Study,
    out: Path,
    opts: StudyOptions,
    executor: str,
    planned: list,
    selections: list,
    est: dict,
    first_new: bool,
) -> str | None:
    """Write study.json; returns a note when the plan differs from the one recorded when stage 1 started."""
    path = out / STUDY
    old = read_json(path) if path.is_file() else {}
    plan = study.plan.to_dict()
    note = None
    if old.get("plan_sha256"):
        recorded = {k: old[k] for k in ("plan", "plan_sha256", "plan_recorded") if k in old}
        if old["plan_sha256"] != study.plan.sha256():
            note = (
                "the study file's analysis plan differs from the one recorded when stage 1 started "
                f"({old['plan_sha256'][:12]} -> {study.plan.sha256()[:12]}): the report marks every verdict that "
                "depends on it post hoc"
            )
    elif first_new:
        recorded = {"plan": plan, "plan_sha256": study.plan.sha256(), "plan_recorded": now()}
    else:
        recorded = {"plan": plan, "plan_sha256": None, "plan_note": "not recorded: stage 1 had started before"}
    meta = {k: v for k, v in asdict(study).items() if k not in ("plan",)}
    stages = []
    for i, s in enumerate(study.stages):
        trials = planned[i] if i < len(planned) else None
        stages.append(
            asdict(s)
            | {
                "planned": trials is not None,
                "trials": [t.row(out) for t in trials or []],
                "arithmetic": numerics.counts(trials or []),
                "selection": selections[i] if i < len(selections) else None,
            }
        )
    write_json(
        path,
        {
            FORMAT: 2,
            "study": meta
            | {"file": opts.file or study.source, "metric_name": study.metric_name(), "arms": [TUNED, RECIPE]},
            **recorded,
            "executor": executor,
            "command": list(opts.command or sys.argv),
            "updated": now(),
            "estimate": est,
            "stages": stages,
        },
    )
    return note


def _trial_events(emit: Callable[[Event], None], result: StudyResult, stage: str) -> Callable:
    """The execution layer's events of a stage as the study's: one line each, the retries kept in the result."""

    def on_event(e) -> None:
        if isinstance(e, Retried):
            result.retried.setdefault(e.trial.label, []).append(e.why)
        emit(Event("trial", event_line(e, stage)))

    return on_event


def run_study(
    study: Study,
    out: Path,
    executor: str | None = None,
    options: StudyOptions | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> StudyResult:
    """Run (or with options.dry_run, only plan and cost) `study` into results folder `out`. Returns what ran, what
    waits and what failed; raises ConfigError for a study that cannot run here (a changed config, a refused
    arithmetic mix). Ctrl-C stops with what finished kept (the same call later goes on)."""
    opts = options or StudyOptions()
    emit = on_event or (lambda e: None)
    name = executor or study.executor
    run = EXECUTORS[name]  # an unknown name fails here, with the valid ones
    if opts.stop_after is not None and opts.stop_after not in [s.name for s in study.stages]:
        raise ConfigError(
            f"unknown stage '{opts.stop_after}': the study's are {', '.join(s.name for s in study.stages)}"
        )
    out = Path(out)
    check_baselines(study)
    planned, selections, states, first = _plan_known(study, out)
    concurrent = opts.max_concurrent if opts.max_concurrent is not None else study.max_concurrent
    est = cost.estimate(
        study,
        planned,
        {v: len(c) for v, c in first.items()},
        states,
        cost.measured_rates(study, [t for ts in planned for t in ts]),
    )
    pw = power_plan(study, [t for ts in planned for t in ts])
    emit(Event("info", header(study, est, pw, max(1, concurrent))))
    result = StudyResult(out, planned, selections)
    if opts.dry_run:
        note = pre_flight_note(lambda: check_data(study, planned, states, data_from(study, opts)))
        if name == "local" and note:  # what the real start would stop at, said without stopping the plan
            emit(Event("note", note))
        for i, trials in enumerate(planned):
            head = f"stage {i + 1}, {study.stages[i].name}:"
            emit(Event("plan", ("\n" if i else "") + head + "\n" + plan_text([t.trial for t in trials], states)))
        if len(planned) < len(study.stages):
            emit(
                Event(
                    "plan",
                    f"\nstage {len(planned) + 1}"
                    + (f"-{len(study.stages)}" if len(study.stages) > len(planned) + 1 else "")
                    + ": planned once the stage before has finished for every variant",
                )
            )
        return result
    if name == "ray":
        import_ray()  # the missing-extra message now, not after the plan is written
    exec_opts = ExecOptions(
        evaluate=True,
        max_concurrent=concurrent,
        cpus_per_trial=opts.cpus_per_trial or study.cpus_per_trial,
        gpus_per_trial=opts.gpus_per_trial if opts.gpus_per_trial is not None else study.gpus_per_trial,
        ray_address=opts.ray_address,
        max_retries=opts.max_retries,
        data_from=data_from(study, opts),
    )
    if name == "local":  # as run_trials does: Ray's workers may see other files
        check_data(study, planned, states, data_from(study, opts))
    first_new = all(states.get(t.run_dir) == State.NEW for t in planned[0])
    note = _record(study, out, opts, name, planned, selections, est, first_new)
    if note:
        emit(Event("note", f"note: {note}"))
    pinned = study.settings.get("precision", "auto") != "auto"
    chosen, done = first, {}
    result.stages, result.selections = [], []
    for i, stage in enumerate(study.stages):
        trials = _plan(study, out, i, chosen, result.stages[-1] if result.stages else [])
        states |= {t.run_dir: trial_state(t.trial) for t in trials}
        result.stages.append(trials)
        todo = [t for t in trials if states[t.run_dir] in TO_RUN]
        emit(
            Event(
                "info",
                f"stage {i + 1} ({stage.label}): {len(trials)} trials, {len(todo)} to run, executor {name}",
            )
        )
        if name == "local":
            mixed = numerics.check(result.trials, states, pinned, opts.allow_mixed_arithmetic)
            if mixed:
                emit(Event("note", mixed))
        for t in todo:
            continue_from(t)
        _record(study, out, opts, name, result.stages, result.selections, est, first_new)
        try:
            done |= run_trials(run, [t.trial for t in todo], exec_opts, _trial_events(emit, result, stage.name))
        except Interrupted as e:  # what finished is kept; the same call later goes on
            raise Interrupted(e.finished, e.total, stage.name) from None
        if i == len(study.stages) - 1:
            break
        sel = choose(study, i, score(study, i, trials))
        result.selections.append(sel)
        _record(study, out, opts, name, result.stages, result.selections, est, first_new)
        for variant, v in sel["variants"].items():
            best = next((c for c in v["candidates"] if v["chosen"] and c["tag"] == v["chosen"][0]), None)
            if best is not None:
                value = math.exp(best["score"]) if study.plan.scale == "log" else best["score"]
                emit(
                    Event(
                        "selected",
                        f"{stage.name} -> {study.stages[i + 1].name}, {variant}: kept {len(v['chosen'])} "
                        f"of {len(v['candidates'])}, best {best['tag']} ({sel['metric']} {value:.4g} on {stage.split})",
                    )
                )
        result.waiting = {v: s["waiting"] for v, s in sel["variants"].items() if not s["chosen"]}
        if result.waiting:
            emit(
                Event(
                    "waiting",
                    f"stage {i + 2} ({study.stages[i + 1].name}) waits: stage {i + 1} has not finished for "
                    + "; ".join(f"{v} ({', '.join(w)})" for v, w in result.waiting.items())
                    + ". Run the same command again.",
                )
            )
            break
        if stage.name == opts.stop_after:
            break
        chosen = chosen_candidates(sel, chosen)
    for t in result.trials:
        s = done.get(t.run_dir) or RunDir(t.run_dir).read_summary() or {}
        if s.get("status") not in FINAL and states.get(t.run_dir) != State.LOCKED:
            result.failed.append(t.trial.label)
    _record(
        study,
        out,
        opts,
        name,
        result.stages,
        result.selections,
        cost.estimate(
            study,
            result.stages,
            {v: len(c) for v, c in first.items()},
            states | {p: s.get("status") for p, s in done.items()},
            cost.measured_rates(study, result.trials),
        ),
        first_new,
    )
    return result
