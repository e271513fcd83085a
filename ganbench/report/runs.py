"""Reading result folders: find the runs, read their files, and say what is missing instead of failing.

A run is any folder holding a `config.json` written by `ganbench run` (`<out>/<variant>/seed<k>/`, or deeper for a
sweep: `<out>/<variant>/<trial>/seed<k>/` with a `trial.json`). Everything here reads files only; nothing imports
the training code, so a report can be made on a machine without the data or the GPU the runs used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench import families
from ganbench.io import read_json
from ganbench.metrics import names  # the metric-name grammar: fid500, kid500_std, fidinf1000_lo, ...
from ganbench.rundir import CONFIG, SUMMARY, TICK_GRID, RunDir, Status, best, number

LOSS_KEYS = ("loss_d", "loss_g", "penalty", "d_real", "d_fake", "d_acc", "recon_mse", "kl")


class ReportError(ValueError):
    """Nothing to report on (no results, or a path that is not a results folder). The message says what to do."""


def metric_keys(record: dict[str, Any]) -> list[str]:
    """Keys of `record` that are metrics (fid500, kid500_std, ...), in a stable order."""
    return sorted(k for k in record if names.is_metric(k))


@dataclass
class Run:
    run_dir: Path
    name: str  # path relative to the results folder, e.g. "vae/seed1"
    meta: dict[str, Any]  # the whole config.json: config, versions, git_commit, command, created, data
    summary: dict[str, Any] | None  # summary.json, or None while the run has not written one
    ticks: list[dict[str, Any]]  # "tick" records, last occurrence per kimg, in kimg order
    evals: list[dict[str, Any]]  # "eval" records, likewise
    trial: dict[str, Any] | None = None  # trial.json of a sweep
    notes: list[str] = field(default_factory=list)  # what is missing or unusual, said in words
    shared_trial: bool = False  # every run of the folder has this run's trial tag: it is left out of the label
    budget_in_label: bool = False  # runs of this variant and trial trained to other budgets too: it is in the label

    @property
    def config(self) -> dict[str, Any]:
        return self.meta.get("config") or {}

    @property
    def variant(self) -> str:
        return str(self.config.get("variant") or (self.summary or {}).get("variant") or self.run_dir.parent.name)

    @property
    def seed(self) -> int | None:
        seed = self.config.get("seed", (self.summary or {}).get("seed"))
        return int(seed) if isinstance(seed, (int, float)) else None

    @property
    def family(self) -> str:
        return str(self.config.get("family") or (self.summary or {}).get("family") or "?")

    @property
    def status(self) -> str:
        """completed | diverged | failed | interrupted | running (also: no summary.json yet) | unknown."""
        if self.summary is None:
            return Status.RUNNING
        return str(self.summary.get("status") or "unknown")

    def counter(self, key: str) -> float | None:
        """kimg, g_steps, d_steps, seconds, ...: from the summary, else from the last tick record."""
        value = number((self.summary or {}).get(key))
        if value is None and self.ticks:
            value = number(self.ticks[-1].get(key))
        return value

    def img_per_s(self) -> float | None:
        value = number((self.summary or {}).get("img_per_s"))
        if value is None and not families.is_baseline(self.family):
            kimg, seconds = self.counter("kimg"), self.counter("seconds")
            if kimg and seconds:
                value = kimg * 1000 / seconds  # average over the run, as the summary would have it
        return value

    def final_metrics(self) -> dict[str, float]:
        """The summary's final metrics; for a run that has not completed, its latest evaluation."""
        final = (self.summary or {}).get("final") or {}
        source = final if final else (self.evals[-1] if self.evals and self.status != Status.COMPLETED else {})
        out = {}
        for key in metric_keys(source):
            value = number(source[key])
            if value is not None:
                out[key] = value
        return out

    def best(self, key: str) -> dict[str, float | None] | None:
        """Lowest value of metric `key` over the evaluations, with its kimg and seconds (lower is better: FID)."""
        point = best(self.evals, key) or (self.summary or {}).get("best") or {}
        if point.get("metric") == key and number(point.get("value")) is not None:
            return {
                "value": number(point["value"]),
                "kimg": number(point.get("kimg")),
                "seconds": number(point.get("seconds")),
            }
        return None

    def sample_grid(self) -> tuple[Path | None, str]:
        """The final sample grid, else the latest tick grid; with a caption saying which."""
        rundir = RunDir(self.run_dir)
        samples = rundir.samples
        if rundir.final_grid.is_file():
            return rundir.final_grid, "final"
        ticks = []
        for p in samples.glob("tick*.png") if samples.is_dir() else []:
            m = TICK_GRID.match(p.name)
            if m:
                ticks.append((int(m.group(1)), float(m.group(2)), p))
        if ticks:
            tick, kimg, path = max(ticks)
            return path, f"latest: tick {tick}, {kimg:g} kimg"
        return None, "no sample grid"


def _last_per_kimg(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Records of one kind, the LAST occurrence per kimg (a resumed run repeats the ticks after its checkpoint)."""
    by_kimg: dict[float, dict[str, Any]] = {}
    for rec in records:
        if rec.get("kind") != kind:
            continue
        kimg = number(rec.get("kimg"))
        if kimg is None:
            continue
        by_kimg.pop(kimg, None)  # re-insert so dict order follows the latest write
        by_kimg[kimg] = rec
    return [by_kimg[k] for k in sorted(by_kimg)]


def _status_note(run: Run) -> str | None:
    s = run.summary or {}
    kimg = run.counter("kimg")
    at = f" at kimg {kimg:.2f}" if kimg is not None else ""
    error = s.get("error")
    if run.summary is None:
        return f"run still in progress: {run.name} has no {SUMMARY} yet"
    status = run.status
    if status == Status.COMPLETED:
        return None
    if status == Status.RUNNING:
        return f"run still in progress: {run.name} (status running{at})"
    if status == Status.DIVERGED:
        return f"{run.name} diverged{at}: {error or 'no error message recorded'}"
    if status == Status.FAILED:
        return f"{run.name} failed{at}: {error or 'no error message recorded'}"
    if status == Status.INTERRUPTED:
        return f"{run.name} was interrupted{at} (resume it with the same ganbench run command)"
    return f"{run.name} has an unknown status '{status}'"


def load_run(run_dir: Path, root: Path) -> Run:
    """Read one run folder. Raises ReportError only when its config.json is unreadable."""
    try:
        rd = RunDir(run_dir)
        meta = rd.read_meta()
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise ValueError("no 'config' object")
    except (OSError, ValueError) as e:
        raise ReportError(f"{rd.config} is unreadable ({e})") from None
    rel = run_dir.relative_to(root).as_posix() if run_dir != root else ""
    name = rel or f"{meta['config'].get('variant', run_dir.parent.name)}/{run_dir.name}"
    notes: list[str] = []
    summary = None
    if rd.summary.is_file():
        try:
            summary = read_json(rd.summary)
            if not isinstance(summary, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            summary = {"status": "unknown", "error": f"{SUMMARY} unreadable: {e}"}
    records = rd.records()
    trial = None
    if rd.trial.is_file():
        try:
            trial = read_json(rd.trial)
        except (OSError, ValueError):
            notes.append(f"{name}: trial.json is unreadable; grouped by variant only")
    run = Run(
        run_dir,
        name,
        meta,
        summary,
        _last_per_kimg(records, "tick"),
        _last_per_kimg(records, "eval"),
        trial if isinstance(trial, dict) else None,
        notes,
    )
    note = _status_note(run)
    if note:
        run.notes.insert(0, note)
    collapse = (summary or {}).get("collapse")
    if isinstance(collapse, dict) and collapse.get("collapsed"):
        ratio = number(collapse.get("ratio"))
        run.notes.append(
            f"{name}: samples look collapsed (diversity {ratio:.2f} of the real images')"
            if ratio is not None
            else f"{name}: samples look collapsed"
        )
    if not records:
        run.notes.append(f"missing: {name} has no metrics.jsonl records yet")
    return run


def discover(root: Path, exclude: Path | None = None) -> list[Run]:
    """Every run under `root` (a run folder itself, or a folder holding runs at any depth), sorted by path."""
    root = Path(root)
    if not root.exists():
        raise ReportError(f"'{root}' does not exist: pass a results folder made by `ganbench run`")
    if not root.is_dir():
        raise ReportError(f"'{root}' is not a folder: pass a results folder made by `ganbench run`")
    excluded = exclude.resolve() if exclude is not None else None
    configs = sorted(p for p in root.rglob(CONFIG) if excluded is None or excluded not in p.resolve().parents)
    if not configs:
        raise ReportError(
            f"no results under '{root}': no run folder (one with a config.json) was found. "
            "Point at the --out folder of `ganbench run`, or at one run in it."
        )
    runs = [load_run(p.parent, root) for p in configs]
    tags = {(r.trial or {}).get("trial") for r in runs}
    if len(tags) == 1 and None not in tags:  # one sweep setting for all (e.g. each variant's recipe): says nothing
        for r in runs:
            r.shared_trial = True
    budgets: dict[str, set] = {}  # a setting run to several budgets (a study's rungs): each budget its own group
    for r in runs:
        budgets.setdefault(group_label(r), set()).add(r.config.get("budget"))
    for r in runs:
        r.budget_in_label = len(budgets[group_label(r)]) > 1
    return runs


def group_label(run: Run, by: tuple[str, ...] = ("variant", "trial")) -> str:
    """The label runs are aggregated under: the variant, and the sweep trial where the run has one.

    This is the one place that decides grouping; seeds of the same label are the replicates of the statistics.
    A trial tag that every run of the folder shares (`Run.shared_trial`, set by `discover`) is left out: a study
    that ran each variant's own recipe reads "dcgan", not "dcgan/recipe". Where runs of one label trained to
    different budgets (`Run.budget_in_label`, e.g. a setting at two rungs of a successive halving), the budget is
    part of the label, "hinge/recipe@300kimg": runs of different budgets are never replicates of each other.
    """
    parts = []
    for key in by:
        if key == "variant":
            parts.append(run.variant)
        elif key == "trial":
            if run.trial is not None and run.trial.get("trial") is not None and not run.shared_trial:
                parts.append(str(run.trial["trial"]))
        else:
            parts.append(str(run.config.get(key)))
    label = "/".join(parts)
    return f"{label}@{run.config.get('budget')}" if run.budget_in_label and "variant" in by else label
