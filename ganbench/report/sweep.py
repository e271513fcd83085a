"""What a sweep found, for `ganbench report` and the end of `ganbench sweep`: per variant, the best setting (mean
FID over its seeds) and the spread of FID over the settings searched, as a table and as box plots in the manner of
Lucic et al. 2018, "Are GANs Created Equal? A Large-Scale Study" (one box per model over its hyperparameter search).

Reads result files only (each run's trial.json and summary.json), never the training code.

Scores. A run's FID is its best FID over the evaluations made during training (summary.json `best`, at the sample
count every evaluation has: with cheap curve points that is e.g. fid100, never the end's fid1000), or with
score="final" the FID at the end of the budget at the largest sample count. Best and final are never mixed across
sample counts: a run whose best point is missing scores its final value of the same metric. A setting's score
is the mean over its seeds; only settings whose every seed finished with a FID are ranked (a setting that diverged
on one seed is not the best setting, whatever its other seeds did); the others are counted as `incomplete`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.io import read_json
from ganbench.metrics import names
from ganbench.rundir import FINAL, TRIAL, RunDir, Status

NO_FID = (
    "no FID in these results (the sweep ran with eval = false): trials are listed but cannot be ranked; set "
    "eval = true in [sweep] to compare settings"
)
SCORES = ("best", "final")


def _fid(value: Any) -> float:
    """A FID as written by ganbench.io (a number, "inf", or null for NaN) -> float; anything else -> NaN."""
    if isinstance(value, bool) or value is None:
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    if value in ("inf", "-inf"):
        return float(value)
    return math.nan


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()) or "(recipe)"


def sweep_runs(results_dir: str | Path, score: str = "best") -> pd.DataFrame:
    """One row per sweep trial run under `results_dir` (each folder with a trial.json), sorted.

    Columns: variant, trial, seed, status, params (dict), params_text, metric (fid<N>), fid_final, fid_best, fid
    (the score used: fid_best or fid_final), kimg, seconds, run_dir (relative). attrs: metric, score, note.
    A run with another FID protocol than the most common one gets fid = NaN (FIDs from different sample
    counts are not comparable).
    """
    if score not in SCORES:
        raise ValueError(f"unknown score '{score}'. Valid choices: {', '.join(SCORES)}.")
    root = Path(results_dir)
    rows = []
    for path in sorted(root.rglob(TRIAL)):
        run_dir = path.parent
        try:
            trial = read_json(path)
        except Exception:
            continue
        summary = RunDir(run_dir).read_summary() or {}
        final = summary.get("final") or {}
        best = summary.get("best") or {}
        # One protocol per score: "best" is read at the count every evaluation has (the best point's own metric,
        # e.g. fid100 of cheap curve points; the final evaluation reports it too), "final" at the end count.
        ends = [k for k in final if names.is_value(k, names.FID) and not names.parse(k).g]
        end = max(ends, key=lambda k: names.parse(k).n) if ends else None  # fid1000 beside fid100: fid1000
        along = best.get("metric") if names.is_value(str(best.get("metric")), names.FID) else None
        metric = (along or end) if score == "best" else (end or along)
        fid_final = _fid(final.get(metric)) if metric else math.nan
        fid_best = _fid(best.get("value")) if metric and best.get("metric") == metric else math.nan
        params = trial.get("params") or {}
        rows.append(
            {
                "variant": trial.get("variant") or summary.get("variant") or run_dir.parent.parent.name,
                "trial": trial.get("trial") or run_dir.parent.name,
                "seed": trial.get("seed"),
                "status": summary.get("status", Status.RUNNING),
                "params": params,
                "params_text": _params_text(params),
                "metric": metric,
                "fid_final": fid_final,
                "fid_best": fid_best,
                "kimg": summary.get("kimg"),
                "seconds": summary.get("seconds"),
                "run_dir": str(run_dir.relative_to(root)),
            }
        )
    columns = [
        "variant",
        "trial",
        "seed",
        "status",
        "params",
        "params_text",
        "metric",
        "fid_final",
        "fid_best",
        "fid",
        "kimg",
        "seconds",
        "run_dir",
    ]
    df = pd.DataFrame(rows, columns=columns)
    metric = df["metric"].dropna().mode()
    metric = str(metric.iloc[0]) if len(metric) else None
    if len(df):
        chosen = df["fid_best"].where(df["fid_best"].notna(), df["fid_final"]) if score == "best" else df["fid_final"]
        df["fid"] = chosen.where(df["metric"] == metric).astype(float)
        df = df.sort_values(["variant", "trial", "seed"], kind="stable").reset_index(drop=True)
    df.attrs.update(
        metric=metric,
        score=score,
        note=None if metric else (NO_FID if len(df) else f"no sweep trials (trial.json) under {root}"),
    )
    return df


def _spread_rows(runs: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for variant, group in runs.groupby("variant", sort=True):
        per_setting = []
        for tag, setting in group.groupby("trial", sort=True):
            fids = setting["fid"]
            complete = (
                bool(len(setting)) and bool(fids.notna().all()) and bool((setting["status"] == Status.COMPLETED).all())
            )
            per_setting.append(
                {
                    "trial": tag,
                    "params_text": setting["params_text"].iloc[0],
                    "seeds": len(setting),
                    "mean": fids.mean() if complete else math.nan,
                    "std": fids.std(ddof=1) if complete and len(setting) > 1 else math.nan,
                }
            )
        settings = pd.DataFrame(per_setting)
        ranked = settings[settings["mean"].notna()].sort_values("mean", kind="stable")
        best = ranked.iloc[0] if len(ranked) else None
        statuses = group["status"]
        rows.append(
            {
                "variant": variant,
                "settings": len(settings),
                "runs": len(group),
                "completed": int((statuses == Status.COMPLETED).sum()),
                "diverged": int((statuses == Status.DIVERGED).sum()),
                "failed": int((~statuses.isin(FINAL)).sum()),
                "incomplete": len(settings) - len(ranked),
                "best_trial": None if best is None else best["trial"],
                "best_params": None if best is None else best["params_text"],
                "best_fid": math.nan if best is None else float(best["mean"]),
                "best_fid_std": math.nan if best is None else float(best["std"]),
                "best_seeds": 0 if best is None else int(best["seeds"]),
                "fid_min": float(ranked["mean"].min()) if len(ranked) else math.nan,
                "fid_median": float(ranked["mean"].median()) if len(ranked) else math.nan,
                "fid_max": float(ranked["mean"].max()) if len(ranked) else math.nan,
            }
        )
    return rows


def sweep_table(results_dir: str | Path, score: str = "best") -> pd.DataFrame:
    """One row per variant, best first: how many settings and runs, how they ended, the best setting (tag, params,
    mean and std of FID over its seeds, number of seeds) and the spread of the settings' mean FID (min, median,
    max over the ranked settings). attrs: metric (e.g. fid10000), score, note (NO_FID when there is no FID)."""
    runs = sweep_runs(results_dir, score)
    columns = [
        "variant",
        "settings",
        "runs",
        "completed",
        "diverged",
        "failed",
        "incomplete",
        "best_trial",
        "best_params",
        "best_fid",
        "best_fid_std",
        "best_seeds",
        "fid_min",
        "fid_median",
        "fid_max",
    ]
    table = pd.DataFrame(_spread_rows(runs) if len(runs) else [], columns=columns)
    if len(table):
        table = table.sort_values(["best_fid", "variant"], na_position="last", kind="stable").reset_index(drop=True)
    table.attrs.update(runs.attrs)
    return table


def format_sweep_table(table: pd.DataFrame) -> str:
    """Plain text for a terminal: the counts always, the FID columns when there is a FID, else the note."""
    if table.empty:
        return table.attrs.get("note") or "no sweep trials"
    metric = table.attrs.get("metric")
    cols = ["variant", "settings", "runs", "completed", "diverged", "failed"]
    if metric:
        cols += ["best_trial", "best_fid", "best_fid_std", "best_seeds", "fid_min", "fid_median", "fid_max"]
    text = table[cols].to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}")
    if not metric:
        return f"{text}\n{table.attrs.get('note')}"
    score = "best during training" if table.attrs.get("score") == "best" else "at the end of the budget"
    return (
        f"{text}\n{metric} ({score}): best_* = the best setting's mean and std over its seeds; fid_min/median/"
        "max = spread of the settings' mean over the search (settings with a failed or diverged seed excluded)"
    )


def sweep_table_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of strings for a report table: counts, and with a FID the best setting and the spread."""
    metric = table.attrs.get("metric")
    header = ["variant", "settings", "runs", "completed", "diverged", "failed"]
    if metric:
        header += [
            "best setting",
            f"best {metric} (mean ± std over seeds)",
            f"{metric} over settings: min / median / max",
        ]

    def num(v: float) -> str:
        return "-" if not math.isfinite(v) else f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"

    rows = []
    for r in table.to_dict("records"):
        row = [str(r["variant"])] + [str(int(r[k])) for k in header[1:6]]
        if metric:
            std = "" if not math.isfinite(r["best_fid_std"]) else f" ± {num(r['best_fid_std'])}"
            best = f"{num(r['best_fid'])}{std} ({r['best_seeds']} seeds)" if math.isfinite(r["best_fid"]) else "-"
            row += [
                r["best_params"] or "-",
                best,
                f"{num(r['fid_min'])} / {num(r['fid_median'])} / {num(r['fid_max'])}",
            ]
        rows.append(row)
    return header, rows


def plot_sweep_spread(df_runs: pd.DataFrame, path: str | Path, title: str | None = None) -> Path | None:
    """The spread figure (`ganbench.report.figures.spread`) of FID per variant over the settings and seeds searched,
    a box behind the points; None (nothing written) when the runs have no FID: say `NO_FID` instead."""
    from ganbench.report.figures.spread import Point, spread

    if not len(df_runs):
        return None
    points = [
        Point(str(v), float(x) if pd.notna(x) else math.nan)
        for v, x in zip(df_runs["variant"], df_runs["fid"], strict=True)
    ]
    metric = df_runs.attrs.get("metric") or "FID"
    which = "best during training" if df_runs.attrs.get("score") == "best" else "at the end of the budget"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return spread(
        points,
        f"{metric} ({which}), lower is better",
        title or "FID over the search (a point per run; x: no FID)",
        {},
        path,
        box=True,
    )
