"""A study's results folder as typed, read-only values: what the report (and any script) builds on.

    record = load_record(Path("results/fair-celeba32"))
    record.plan.margin, record.plan_changed, [s.name for s in record.stages], record.final.trials[0].run_dir

It reads every format a results folder has been written in:

- format 2 (`study.json` with "format": 2): the study as a list of stages, each with its trials and the selection
  made from its results; the analysis plan as recorded when stage 1 started, and its hash.
- format 1 (issue 18's two-stage studies, e.g. results/fair-celeba32): `study.json` with "search" and "final" trial
  lists and `selection.json`; the plan is the one that format implied (`analysis.v1_plan`), never recorded.
- a sweep folder (`sweep.json`, e.g. results/study-celeba32): one stage of recipe runs, no selection.

`plan` is the plan of the study file as it is now (the one a report is made under), falling back to the recorded
one when the file is gone or no longer reads; `plan_hash_recorded` against `plan_hash_now` says whether the plan
changed after stage 1 started (`plan_changed`). Nothing here reads run directories: values of runs come from their
own files (`run_dir` is relative to the results folder).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench.config import FIELDS
from ganbench.errors import ConfigError
from ganbench.io import read_json
from ganbench.metrics import names
from ganbench.study import analysis
from ganbench.study.analysis import AnalysisPlan
from ganbench.study.layout import FINAL, FORMAT, RECIPE, SEARCH, SELECTION, STUDY, SWEEP, TUNED

__all__ = ["CandidateRecord", "SelectionRecord", "StageRecord", "StudyRecord", "TrialRecord", "load_record"]


@dataclass(frozen=True)
class TrialRecord:
    variant: str
    arm: str | None  # the final stage's arm (tuned | recipe; a baseline's is recipe); None in a candidate stage
    candidate: str  # the setting's tag ("recipe" for the variant's own recipe)
    params: dict[str, Any]  # the searched hyperparameters that act on this variant ({} for the recipe)
    seed: int
    run_dir: Path  # relative to the results folder
    continues: Path | None = None  # the run this one continued from (successive halving), relative


@dataclass(frozen=True)
class CandidateRecord:
    variant: str
    tag: str
    params: dict[str, Any]
    status: str | None  # completed | diverged (a result); anything else: not finished
    values: tuple[float | None, ...]  # the metric at the end of each seed's run (None: no value)
    score: float  # what selection minimised (the mean on the plan's scale); inf: failed or no value
    failed: int = 0  # seeds that diverged or ended without a finite value

    @property
    def value(self) -> float | None:
        """The candidate's value on the raw scale: the single seed's, or the arithmetic mean of several (the report
        shows the mean on the plan's scale: ganbench.report.record)."""
        xs = [v for v in self.values if v is not None and math.isfinite(v)]
        return xs[0] if len(xs) == 1 else (sum(xs) / len(xs) if xs else None)


@dataclass(frozen=True)
class SelectionRecord:
    """The choice made from one stage's results: every candidate with its values, and per variant the tags carried
    on (one for a top-1 choice: the selected setting; several for a successive-halving rung)."""

    metric: str
    split: str
    candidates: dict[str, tuple[CandidateRecord, ...]]  # per variant
    chosen: dict[str, tuple[str, ...]]  # per variant: the tags promoted (empty while waiting)
    waiting: dict[str, tuple[str, ...]] = field(default_factory=dict)  # per variant: tags not finished yet

    def selected(self, variant: str) -> str | None:
        """The single chosen tag (a top-1 choice), or None."""
        tags = self.chosen.get(variant) or ()
        return tags[0] if len(tags) == 1 else None


@dataclass(frozen=True)
class StageRecord:
    name: str
    kind: str  # search | halving | final | sweep (see ganbench.study.stages)
    budget: str
    split: str
    seeds: tuple[int, ...]
    trials: tuple[TrialRecord, ...]
    selection: SelectionRecord | None = None  # what was chosen from this stage's results (None: nothing chosen)
    keep: float | None = None  # halving: the share of candidates kept
    settings: dict[str, Any] = field(default_factory=dict)  # the stage's own config fields
    arithmetic: dict[str, int] = field(default_factory=dict)  # trained trials per arithmetic (format 2)

    def by_variant(self, variant: str) -> list[TrialRecord]:
        return [t for t in self.trials if t.variant == variant]


@dataclass(frozen=True)
class StudyRecord:
    root: Path
    format: int  # 2: a stage list; 1: issue 18's two stages; 0: a sweep folder read as one stage
    name: str
    file: str | None  # the study (or sweep) file, as given to the command
    variants: tuple[str, ...]
    baselines: tuple[str, ...]
    arms: tuple[str, ...]  # the final stage's arms: (tuned, recipe); a sweep: (recipe,)
    settings: dict[str, Any]  # config fields every trial got ([data], [settings])
    plan: AnalysisPlan  # the study file's plan now (the recorded one when the file no longer reads)
    plan_recorded: AnalysisPlan | None  # as recorded when stage 1 started (None: format 1 and sweeps)
    plan_hash_recorded: str | None
    plan_hash_now: str | None  # None: the file is gone or no longer reads (plan_error says why)
    stages: tuple[StageRecord, ...]
    executor: str | None = None
    command: tuple[str, ...] = ()
    updated: str | None = None
    estimate: dict[str, Any] = field(default_factory=dict)
    plan_error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # study.json (or sweep.json) as read

    @property
    def metric_name(self) -> str:
        return self.plan.metric_name

    @property
    def plan_changed(self) -> bool | None:
        """True: the file's plan differs from the one recorded when stage 1 started (verdicts that depend on it
        are post hoc); False: the same; None: no recorded plan or no readable file to compare."""
        if self.plan_hash_recorded is None or self.plan_hash_now is None:
            return None
        return self.plan_hash_recorded != self.plan_hash_now

    @property
    def final(self) -> StageRecord:
        """The last stage: the one the answer is read from."""
        return self.stages[-1]

    def stage(self, name: str) -> StageRecord:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"study {self.name} has no stage '{name}' (it has {', '.join(s.name for s in self.stages)})")

    def trials(self) -> list[TrialRecord]:
        return [t for s in self.stages for t in s.trials]

    def selected(self, variant: str) -> str | None:
        """The setting chosen for `variant`'s tuned arm (the last selection's single tag), or None."""
        for s in reversed(self.stages):
            if s.selection is not None and variant in s.selection.chosen:
                return s.selection.selected(variant)
        return None


def is_results_folder(root: Path) -> bool:
    return (Path(root) / STUDY).is_file() or (Path(root) / SWEEP).is_file()


def load_record(out: Path) -> StudyRecord:
    """The study in results folder `out` (any format: see the module's docstring). Raises FileNotFoundError when
    `out` holds neither study.json nor sweep.json."""
    out = Path(out)
    if (out / STUDY).is_file():
        doc = read_json(out / STUDY)
        return _format2(out, doc) if doc.get(FORMAT) == 2 else _format1(out, doc)
    if (out / SWEEP).is_file():
        return _sweep(out, read_json(out / SWEEP))
    raise FileNotFoundError(f"'{out}' holds no {STUDY} or {SWEEP}: not a study's or a sweep's results folder")


# ---------------------------------------------------------------------------------------------------- the file now
def _find_file(out: Path, file: str | None) -> Path | None:
    """The study file as given to the command: absolute, or relative to where it ran (the repository root, most
    likely): tried from the current folder and from every folder above the results folder."""
    if not file:
        return None
    path = Path(file)
    if path.is_absolute():
        return path if path.is_file() else None
    for base in (Path.cwd(), *out.resolve().parents):
        if (base / path).is_file():
            return base / path
    return None


def _plan_now(out: Path, file: str | None) -> tuple[AnalysisPlan | None, str | None]:
    """(the plan of the study file as it reads now, None) or (None, why not)."""
    from ganbench.study.spec import load_study

    path = _find_file(out, file)
    if path is None:
        return None, f"the study file {file!r} is not found"
    try:
        return load_study(path).plan, None
    except ConfigError as e:
        return None, f"the study file {path} no longer reads: {e}"


# ---------------------------------------------------------------------------------------------------- format 2
def _trial(row: dict[str, Any]) -> TrialRecord:
    return TrialRecord(
        variant=row["variant"],
        arm=row.get("arm"),
        candidate=row["candidate"],
        params=dict(row.get("params") or {}),
        seed=int(row["seed"]),
        run_dir=Path(row["run_dir"]),
        continues=Path(row["continues"]) if row.get("continues") else None,
    )


def _score(x: Any) -> float:
    return math.inf if x is None else float(x)


def _selection(d: dict[str, Any] | None) -> SelectionRecord | None:
    if not d:
        return None
    candidates, chosen, waiting = {}, {}, {}
    for variant, v in (d.get("variants") or {}).items():
        candidates[variant] = tuple(
            CandidateRecord(
                variant,
                c["tag"],
                dict(c.get("params") or {}),
                c.get("status"),
                tuple(c.get("values", [c.get("value")])),
                _score(c.get("score")),
                int(c.get("failed") or 0),
            )
            for c in v.get("candidates", [])
        )
        chosen[variant] = tuple(v.get("chosen") or ())
        waiting[variant] = tuple(v.get("waiting") or ())
    return SelectionRecord(str(d.get("metric", "")), str(d.get("split", "")), candidates, chosen, waiting)


def _format2(out: Path, doc: dict[str, Any]) -> StudyRecord:
    meta = doc.get("study") or {}
    recorded = analysis.plan_from_dict(doc["plan"]) if doc.get("plan") else None
    now, error = _plan_now(out, meta.get("file"))
    plan = now or recorded
    if plan is None:
        raise ValueError(f"{out / STUDY} records no analysis plan and {error}")
    stages = tuple(
        StageRecord(
            name=s["name"],
            kind=s["kind"],
            budget=str(s["budget"]),
            split=str(s["split"]),
            seeds=tuple(s.get("seeds") or ()),
            trials=tuple(_trial(r) for r in s.get("trials", [])),
            selection=_selection(s.get("selection")),
            keep=s.get("keep"),
            settings=dict(s.get("settings") or {}),
            arithmetic=dict(s.get("arithmetic") or {}),
        )
        for s in doc.get("stages", [])
    )
    return StudyRecord(
        root=out,
        format=2,
        name=str(meta.get("name", out.name)),
        file=meta.get("file"),
        variants=tuple(meta.get("variants", ())),
        baselines=tuple(meta.get("baselines", ())),
        arms=tuple(meta.get("arms", (TUNED, RECIPE))),
        settings=dict(meta.get("settings") or {}),
        plan=plan,
        plan_recorded=recorded,
        plan_hash_recorded=doc.get("plan_sha256"),
        plan_hash_now=now.sha256() if now else None,
        stages=stages,
        executor=doc.get("executor"),
        command=tuple(doc.get("command") or ()),
        updated=doc.get("updated"),
        estimate=dict(doc.get("estimate") or {}),
        plan_error=error,
        raw=doc,
    )


# ---------------------------------------------------------------------------------------------------- format 1
def _v1_plan(meta: dict[str, Any]) -> AnalysisPlan:
    n = names.parse(str(meta["metric_name"])).n if meta.get("metric_name") else _samples(meta.get("settings"))
    share = float(meta.get("equivalence_margin", analysis.V1_MARGIN_SHARE))
    return analysis.v1_plan(str(meta.get("metric", names.KID)), n, share)


def _samples(settings: dict[str, Any] | None) -> int:
    return int((settings or {}).get("eval_samples", FIELDS["eval_samples"].default))


def _format1(out: Path, doc: dict[str, Any]) -> StudyRecord:
    """Issue 18's study.json: {"study": asdict(Study) | {file, metric_name}, "stages": {search: rows, final: rows}}
    with rows {variant, trial, seed, params, run_dir}, and selection.json {"variants": {v: {candidates, chosen}}}."""
    meta = doc.get("study") or {}
    rows = doc.get("stages") or {}
    sel = read_json(out / SELECTION) if (out / SELECTION).is_file() else {}
    selection = None
    if sel:
        variants = {}
        for variant, v in (sel.get("variants") or {}).items():
            chosen = v.get("chosen") or None
            variants[variant] = {
                "candidates": [c | {"values": [c.get("value")]} for c in v.get("candidates", [])],
                "chosen": [chosen["tag"]] if chosen else [],
                "waiting": v.get("waiting") or [],
            }
        selection = _selection(
            {"metric": sel.get("metric", meta.get("metric_name")), "split": sel.get("split"), "variants": variants}
        )
    search, final = meta.get("search") or {}, meta.get("final") or {}
    chosen = selection.chosen if selection else {}
    search_trials = tuple(
        TrialRecord(r["variant"], None, r["trial"], dict(r.get("params") or {}), int(r["seed"]), Path(r["run_dir"]))
        for r in rows.get(SEARCH, [])
    )
    final_trials = tuple(
        TrialRecord(
            r["variant"],
            r["trial"],
            (chosen.get(r["variant"]) or ("?",))[0] if r["trial"] == TUNED else RECIPE,
            dict(r.get("params") or {}),
            int(r["seed"]),
            Path(r["run_dir"]),
        )
        for r in rows.get(FINAL, [])
    )
    seeds = sorted(set(final.get("seeds") or ()) | set(meta.get("recipe_seeds") or ()))
    stages = (
        StageRecord(
            SEARCH,
            SEARCH,
            str(search.get("budget")),
            str(search.get("split")),
            tuple(search.get("seeds") or ()),
            search_trials,
            selection,
            settings=dict(search.get("settings") or {}),
        ),
        StageRecord(
            FINAL,
            FINAL,
            str(final.get("budget")),
            str(final.get("split")),
            tuple(seeds),
            final_trials,
            settings=dict(final.get("settings") or {}),
        ),
    )
    now, error = _plan_now(out, meta.get("file"))
    return StudyRecord(
        root=out,
        format=1,
        name=str(meta.get("name", out.name)),
        file=meta.get("file"),
        variants=tuple(meta.get("variants", ())),
        baselines=tuple(meta.get("baselines", ())),
        arms=(TUNED, RECIPE),
        settings=dict(meta.get("settings") or {}),
        plan=_v1_plan(meta),
        plan_recorded=None,
        plan_hash_recorded=None,
        plan_hash_now=now.sha256() if now else None,
        stages=stages,
        executor=doc.get("executor"),
        command=tuple(doc.get("command") or ()),
        updated=doc.get("updated"),
        estimate=dict(doc.get("estimate") or {}),
        plan_error=error,
        raw=doc,
    )


# ---------------------------------------------------------------------------------------------------- a sweep
def _sweep(out: Path, doc: dict[str, Any]) -> StudyRecord:
    """A sweep's results folder (e.g. the first CelebA study, results/study-celeba32) as one stage of runs."""
    meta = doc.get("sweep") or {}
    settings = dict(meta.get("settings") or {})
    trials = tuple(
        TrialRecord(
            r["variant"],
            RECIPE if r["trial"] == RECIPE else None,
            r["trial"],
            dict(r.get("params") or {}),
            int(r["seed"]),
            Path(r["run_dir"]),
        )
        for r in doc.get("trials", [])
    )
    stage = StageRecord(
        SWEEP.removesuffix(".json"),
        "sweep",
        str(settings.get("budget")),
        str(settings.get("eval_split", FIELDS["eval_split"].default)),
        tuple(meta.get("seeds") or ()),
        trials,
        settings=settings,
    )
    variants = tuple(meta.get("variants", ()))
    return StudyRecord(
        root=out,
        format=0,
        name=str(meta.get("name", out.name)),
        file=meta.get("source"),
        variants=variants,
        baselines=(),
        arms=(RECIPE,),
        settings=settings,
        plan=analysis.v1_plan(names.KID, _samples(settings)),
        plan_recorded=None,
        plan_hash_recorded=None,
        plan_hash_now=None,
        stages=(stage,),
        executor=doc.get("executor"),
        command=tuple(doc.get("command") or ()),
        updated=doc.get("updated"),
        raw=doc,
    )
