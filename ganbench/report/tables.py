"""The report's numbers: one tidy row per run, one aggregated row per variant with the pairwise statistics.

Statistics use completed runs only (a diverged, failed or unfinished run is listed, never averaged in). Variants
are ranked by the mean FINAL value of the ranking metric (`rank_metric`: KID where the runs' protocol names it,
FID for older results; at the end of the shared budget, lower is better); the best value along the way is reported
beside it but does not rank. How these frames are shown is `ganbench.report.display`'s.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ganbench import families as fam
from ganbench.metrics import names
from ganbench.report.compare import Comparison
from ganbench.report.runs import Run, group_label, metric_keys, number
from ganbench.rundir import Status
from ganbench.stats.ranktest import adjacent
from ganbench.stats.welch import Interval, t_interval

COUNTERS = {
    "kimg": "kimg",
    "g_steps": "G steps",
    "d_steps": "D steps",
    "seconds": "train time (s)",
    "img_per_s": "img/s",
    "peak_mem_mb": "peak mem (MB)",
}


# ---------------------------------------------------------------------------------------------------- per run
def all_metric_keys(runs: list[Run]) -> list[str]:
    """Metric keys seen in any run's evaluations or final metrics, FID first."""
    keys: set[str] = set()
    for run in runs:
        keys.update(run.final_metrics())
        for rec in run.evals:
            keys.update(metric_keys(rec))
    return sorted(keys, key=lambda k: (names.sort_key(k)[0], k))


def primary_fid(runs: list[Run]) -> str | None:
    """The FID key that ranks: the one most runs have; on a tie, the one with more samples (fid10000 > fid500)."""
    counts = Counter(
        k
        for run in runs
        for k in {*run.final_metrics(), *(k for r in run.evals for k in r)}
        if names.is_value(k, names.FID)
    )
    if not counts:
        return None
    return max(counts, key=lambda k: (counts[k], names.parse(k).n, not names.parse(k).g))  # G before its EMA


def curve_metric(runs: list[Run]) -> str | None:
    """The FID key of the curves: the one in the most evaluation records (runs evaluated with eval_samples_during
    have a cheap fid<m> at every point, the final one included, and fid<N> at the end only); on a tie, the one
    with more samples."""
    counts = Counter(k for run in runs for r in run.evals for k in r if names.is_value(k, names.FID))
    return (
        max(counts, key=lambda k: (counts[k], names.parse(k).n, not names.parse(k).g)) if counts else primary_fid(runs)
    )  # G before its EMA


def rank_metric(runs: list[Run]) -> str | None:
    """The metric that ranks: the one the runs' metric protocol names (`rank_by`, KID since FID-infinity and KID
    were added; see ganbench.metrics.evaluator.RANK_REASON) when most evaluated runs recorded it and have it;
    otherwise, for results made before, the FID key of `primary_fid`."""
    recorded = Counter(
        str(p["rank_by"])
        for run in runs
        if isinstance(p := (run.summary or {}).get("metric_protocol"), dict) and p.get("rank_by")
    )
    for key, _ in recorded.most_common():
        if names.is_value(key) and any(key in run.final_metrics() for run in runs):
            return key
    return primary_fid(runs)


def _missing(run: Run, finals: list[str]) -> list[str]:
    """What `run` lacks of the metrics other runs of its cohort ended with (`finals`): a key seen only along the
    way (the cheaper curve points of a continued rung, evaluated on fewer images) is never expected at the end, and
    a run still in progress lacks nothing yet."""
    if run.summary is None or run.status == Status.RUNNING:  # in progress: said once, as such (runs._status_note)
        return []
    final = run.final_metrics()
    main = [k for k in finals if names.is_value(k)]  # kid500_std and the like are parts, never "missing"
    if not final and not run.evals:
        return ["no FID evaluations"]
    return [f"no {k}" for k in main if k not in final]


def results_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per run: identity, status, counters actually spent, final and best metrics, what is missing."""
    keys = all_metric_keys(runs)
    finals = [k for k in keys if any(k in run.final_metrics() for run in runs)]
    fids = [k for k in keys if names.is_value(k) and names.parse(k).base in names.DISTANCES]  # best = lowest
    rows = []
    for run in runs:
        s = run.summary or {}
        row: dict[str, Any] = {"run": run.name, "group": group_label(run), "variant": run.variant}
        if run.trial is not None:
            row["trial"] = run.trial.get("trial")
            for name, value in (run.trial.get("params") or {}).items():
                row[f"param_{name}"] = value
        row |= {
            "seed": run.seed,
            "family": run.family,
            "objective": run.config.get("objective") if fam.adversarial(run.family) else None,
            "status": run.status,
            "note": "; ".join(n for n in run.notes if not n.startswith("missing:")) or None,
        }
        for key in COUNTERS:
            row[key] = run.img_per_s() if key == "img_per_s" else run.counter(key)
        row["eval_seconds"] = number(s.get("eval_seconds"))
        collapse = s.get("collapse") if isinstance(s.get("collapse"), dict) else {}
        row["diversity_ratio"] = number(collapse.get("ratio"))  # sample diversity / real diversity, if measured
        row["collapsed"] = collapse.get("collapsed")
        row["peak_mem_kind"] = s.get("peak_mem_kind")
        final = run.final_metrics()
        for key in keys:
            row[f"{key}_final"] = final.get(key, math.nan)
        for key in fids:
            best = run.best(key) or {}
            row[f"{key}_best"] = best.get("value", math.nan)
            row[f"{key}_best_kimg"] = best.get("kimg", math.nan)
        row["metrics_from"] = (
            None
            if not final
            else "summary"
            if (run.summary or {}).get("final")
            else "latest evaluation (run not completed)"
        )
        row["missing"] = "; ".join(_missing(run, finals)) or None
        row["run_dir"] = str(run.run_dir)
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------- per variant
def aggregated_columns(results: pd.DataFrame) -> list[str]:
    """Columns of the results frame that are averaged over seeds, in display order."""
    metric = [c for c in results.columns if c.endswith(("_final", "_best")) and names.is_metric(c.rsplit("_", 1)[0])]
    fid_first = sorted(metric, key=lambda c: (names.sort_key(c.rsplit("_", 1)[0])[0], c.endswith("_best")))
    return fid_first + list(COUNTERS)


@dataclass
class Summary:
    frame: pd.DataFrame  # one row per group, ranked; {col}_mean/_ci95_low/_ci95_high/_n for aggregated columns
    intervals: dict[tuple[str, str], Interval]  # (group, column) -> interval
    rank_by: str | None  # e.g. "kid1000_final"
    comparison: Comparison | None = None  # the ranking metric's comparison (the one owner's); None: not ranked
    floor: str | None = None  # the group of the random baseline, when it was ranked
    ceiling: str | None = None  # the group of the real-vs-real line (real images through the same evaluator)

    @property
    def letters(self) -> dict[str, str]:
        return self.comparison.letters if self.comparison is not None else {}

    def trained(self) -> list[str]:
        """Ranked groups that train (not the random floor), best first."""
        frame = self.frame
        return [
            g
            for g, r, f in zip(frame["group"], frame["rank"], frame["family"], strict=True)
            if not pd.isna(r) and not fam.is_baseline(f)
        ]

    def mean(self, group: str) -> float:
        return self.intervals[(group, self.rank_by)].mean if self.rank_by else math.nan


def summarise(results: pd.DataFrame, rank_key: str | None, comparison: Comparison | None = None) -> Summary:
    """Aggregate completed runs per group (mean and 95% t-interval of every metric and counter); rank the groups
    in `comparison`'s order (the ranking metric's one comparison: its centres and intervals replace the plain
    ones, so a failed seed is counted, not averaged); test adjacent ranks."""
    columns = aggregated_columns(results)
    rank_by = f"{rank_key}_final" if rank_key and f"{rank_key}_final" in results else None
    intervals: dict[tuple[str, str], Interval] = {}
    rows = []
    for group, runs in results.groupby("group", sort=False):
        done = runs[runs["status"] == Status.COMPLETED]
        statuses = Counter(runs["status"])
        row: dict[str, Any] = {
            "group": group,
            "variant": runs["variant"].iloc[0],
            "family": runs["family"].iloc[0],
            "objective": runs["objective"].iloc[0],
            "runs": len(runs),
            "completed": len(done),
            "seeds": ",".join(str(s) for s in done["seed"].tolist()),
            "status": ", ".join(f"{n} {s}" for s, n in statuses.items()),
        }
        if "trial" in runs:
            row["trial"] = runs["trial"].iloc[0]
        g = comparison.group(group) if comparison is not None and rank_by else None
        for col in columns:
            iv = t_interval(done[col].tolist())
            if col == rank_by and g is not None:
                iv = Interval(g.centre, g.low, g.high, g.n)
                row["failed"] = g.failed
            intervals[(group, col)] = iv
            row |= {f"{col}_mean": iv.mean, f"{col}_ci95_low": iv.low, f"{col}_ci95_high": iv.high, f"{col}_n": iv.n}
        missing = [
            f"{m} in {run}"
            for run, ms in zip(runs["run"], runs["missing"], strict=True)
            if isinstance(ms, str)
            for m in ms.split("; ")
        ]
        if len(runs) > 1 and runs["missing"].notna().all() and runs["missing"].nunique() == 1:
            missing = [f"{m} (all {len(runs)} runs)" for m in runs["missing"].iloc[0].split("; ")]
        row["missing"] = "; ".join(missing) or None
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["rank"] = pd.NA
    frame["vs_next_rank"] = None
    frame["vs_next_rank_p"] = math.nan
    if rank_by is not None and comparison is not None:
        order = [g for g in comparison.order if g in set(frame["group"])]
        ranked = frame.set_index("group").loc[order].reset_index()
        others = frame[~frame["group"].isin(order)]
        frame = pd.concat([ranked, others], ignore_index=True)
        done = results[results["status"] == Status.COMPLETED]
        for i in range(len(order)):
            frame.loc[i, "rank"] = i + 1
            # no test claims anything about an arm whose every seed failed (one seed: no claim is possible anyway)
            failed = [g for g in order[i : i + 2] if (x := comparison.group(g)).all_failed and x.total >= 2]
            if i + 1 < len(order) and failed:
                frame.loc[i, "vs_next_rank"] = f"not tested: every seed of {failed[0]} failed"
            elif i + 1 < len(order):
                a = done.loc[done["group"] == order[i], rank_by].tolist()
                b = done.loc[done["group"] == order[i + 1], rank_by].tolist()
                test = adjacent(a, b)
                frame.loc[i, "vs_next_rank"] = test.text
                frame.loc[i, "vs_next_rank_p"] = test.p
        if comparison.letters:
            frame["letters"] = frame["group"].map(comparison.letters)
    lead = ["rank", "group", "variant"] + (["trial"] if "trial" in frame else [])
    rest = [c for c in frame.columns if c not in lead]
    summary = Summary(frame[lead + rest], intervals, rank_by, comparison if rank_by else None)
    family_of = summary.frame.set_index("group")["family"]
    ranked_groups = [g for g, r in zip(summary.frame["group"], summary.frame["rank"], strict=True) if not pd.isna(r)]
    summary.floor = next((g for g in ranked_groups if fam.is_floor(family_of[g])), None)
    summary.ceiling = next((g for g in ranked_groups if fam.is_ceiling(family_of[g])), None)
    return summary


# ---------------------------------------------------------------------------------------------------- columns
def summary_metric_columns(results: pd.DataFrame, curve_key: str | None = None) -> list[str]:
    """The metric columns of the per-variant quality table: each metric at the largest sample count the runs
    have (runs evaluated with cheap curve points also carry e.g. fid100 beside fid1000: the curve count stays in
    the per-run table and the curves), then the best value along the way of `curve_key` (the FID of the curves)."""
    values = [c for c in aggregated_columns(results) if c not in COUNTERS and names.is_value(c.rsplit("_", 1)[0])]
    largest: dict[tuple[str, str], int] = {}
    for c in values:
        m = names.parse(c.rsplit("_", 1)[0])
        largest[(m.base, m.g)] = max(largest.get((m.base, m.g), 0), m.n)
    keep = [
        c
        for c in values
        if c.endswith("_final") and (m := names.parse(c.removesuffix("_final"))).n == largest[(m.base, m.g)]
    ]
    best = f"{curve_key}_best" if curve_key else None
    return keep + ([best] if best in values else [])
