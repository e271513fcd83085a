"""The report's tables: one tidy row per run, one aggregated row per variant, and the protocol they were made under.

Statistics use completed runs only (a diverged, failed or unfinished run is listed, never averaged in). Variants
are ranked by mean FINAL FID (the metric at the end of the shared budget, lower is better); the best FID along
the way is reported beside it but does not rank.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ganbench import families as fam
from ganbench.metrics import names
from ganbench.report.runs import Run, group_label, metric_keys, number
from ganbench.report.stats import Interval, Pair, compare, pairwise, t_interval
from ganbench.rundir import Status

COUNTERS = {"kimg": "kimg", "g_steps": "G steps", "d_steps": "D steps", "seconds": "train time (s)",
            "img_per_s": "img/s", "peak_mem_mb": "peak mem (MB)"}


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
    counts = Counter(k for run in runs for k in {*run.final_metrics(), *(k for r in run.evals for k in r)}
                     if names.is_value(k, names.FID))
    if not counts:
        return None
    return max(counts, key=lambda k: (counts[k], names.parse(k).n, not names.parse(k).g))  # G before its EMA


def curve_metric(runs: list[Run]) -> str | None:
    """The FID key of the curves: the one in the most evaluation records (runs evaluated with eval_samples_during
    have a cheap fid<m> at every point, the final one included, and fid<N> at the end only); on a tie, the one
    with more samples."""
    counts = Counter(k for run in runs for r in run.evals for k in r if names.is_value(k, names.FID))
    return max(counts, key=lambda k: (counts[k], names.parse(k).n, not names.parse(k).g)) if counts else \
        primary_fid(runs)  # G before its EMA


def rank_metric(runs: list[Run]) -> str | None:
    """The metric that ranks: the one the runs' metric protocol names (`rank_by`, KID since FID-infinity and KID
    were added; see ganbench.metrics.evaluator.RANK_REASON) when most evaluated runs recorded it and have it;
    otherwise, for results made before, the FID key of `primary_fid`."""
    recorded = Counter(str(p["rank_by"]) for run in runs
                       if isinstance(p := (run.summary or {}).get("metric_protocol"), dict) and p.get("rank_by"))
    for key, _ in recorded.most_common():
        if names.is_value(key) and any(key in run.final_metrics() for run in runs):
            return key
    return primary_fid(runs)


def _missing(run: Run, keys: list[str]) -> list[str]:
    final = run.final_metrics()
    main = [k for k in keys if names.is_value(k)]  # kid500_std and the like are parts, never "missing"
    if not final and not run.evals:
        return ["no FID evaluations"]
    return [f"no {k}" for k in main if k not in final]


def results_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per run: identity, status, counters actually spent, final and best metrics, what is missing."""
    keys = all_metric_keys(runs)
    fids = [k for k in keys if names.is_value(k) and names.parse(k).base in names.DISTANCES]  # best = lowest
    rows = []
    for run in runs:
        s = run.summary or {}
        row: dict[str, Any] = {"run": run.name, "group": group_label(run), "variant": run.variant}
        if run.trial is not None:
            row["trial"] = run.trial.get("trial")
            for name, value in (run.trial.get("params") or {}).items():
                row[f"param_{name}"] = value
        row |= {"seed": run.seed, "family": run.family, "objective": run.config.get("objective")
                if fam.adversarial(run.family) else None, "status": run.status,
                "note": "; ".join(n for n in run.notes if not n.startswith("missing:")) or None}
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
        row["metrics_from"] = (None if not final else "summary" if (run.summary or {}).get("final")
                               else "latest evaluation (run not completed)")
        row["missing"] = "; ".join(_missing(run, keys)) or None
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
    pairs: list[Pair] = field(default_factory=list)  # every pair of ranked groups on rank_by, Welch + Holm


def summarise(results: pd.DataFrame, rank_key: str | None) -> Summary:
    """Aggregate completed runs per group; rank groups by mean final `rank_key` (an FID); test adjacent ranks."""
    columns = aggregated_columns(results)
    rank_by = f"{rank_key}_final" if rank_key and f"{rank_key}_final" in results else None
    intervals: dict[tuple[str, str], Interval] = {}
    rows = []
    for group, runs in results.groupby("group", sort=False):
        done = runs[runs["status"] == Status.COMPLETED]
        statuses = Counter(runs["status"])
        row: dict[str, Any] = {"group": group, "variant": runs["variant"].iloc[0],
                               "family": runs["family"].iloc[0], "objective": runs["objective"].iloc[0],
                               "runs": len(runs), "completed": len(done),
                               "seeds": ",".join(str(s) for s in done["seed"].tolist()),
                               "status": ", ".join(f"{n} {s}" for s, n in statuses.items())}
        if "trial" in runs:
            row["trial"] = runs["trial"].iloc[0]
        for col in columns:
            iv = t_interval(done[col].tolist())
            intervals[(group, col)] = iv
            row |= {f"{col}_mean": iv.mean, f"{col}_ci95_low": iv.low, f"{col}_ci95_high": iv.high,
                    f"{col}_n": iv.n}
        missing = [f"{m} in {run}" for run, ms in zip(runs["run"], runs["missing"], strict=True)
                   if isinstance(ms, str) for m in ms.split("; ")]
        if len(runs) > 1 and runs["missing"].notna().all() and runs["missing"].nunique() == 1:
            missing = [f"{m} (all {len(runs)} runs)" for m in runs["missing"].iloc[0].split("; ")]
        row["missing"] = "; ".join(missing) or None
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["rank"] = pd.NA
    frame["vs_next_rank"] = None
    frame["vs_next_rank_p"] = math.nan
    if rank_by is not None:
        ranked = frame[frame[f"{rank_by}_n"] > 0].sort_values(f"{rank_by}_mean", kind="stable")
        others = frame[frame[f"{rank_by}_n"] == 0]
        frame = pd.concat([ranked, others], ignore_index=True)
        for i in range(len(ranked)):
            frame.loc[i, "rank"] = i + 1
            if i + 1 < len(ranked):
                a = results.loc[(results["group"] == frame.loc[i, "group"]) & (results["status"] == Status.COMPLETED),
                                rank_by]
                b = results.loc[(results["group"] == frame.loc[i + 1, "group"])
                                & (results["status"] == Status.COMPLETED), rank_by]
                cmp = compare(a.tolist(), b.tolist())
                frame.loc[i, "vs_next_rank"] = cmp.text
                frame.loc[i, "vs_next_rank_p"] = cmp.p
    pairs = []
    if rank_by is not None:  # in rank order, so each pair reads "better - worse" where the means say so
        done = results[results["status"] == "completed"]
        ranked_groups = [g for g, r in zip(frame["group"], frame["rank"], strict=True) if not pd.isna(r)]
        pairs = pairwise({g: done.loc[done["group"] == g, rank_by].tolist() for g in ranked_groups})
    lead = ["rank", "group", "variant"] + (["trial"] if "trial" in frame else [])
    rest = [c for c in frame.columns if c not in lead]
    return Summary(frame[lead + rest], intervals, rank_by, pairs)


# ---------------------------------------------------------------------------------------------------- display
def fmt(value: Any) -> str:
    """A number for a table: 3 significant digits below 100, whole numbers above."""
    v = number(value)
    if v is None or math.isnan(v):
        return "–"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _text(value: Any) -> str:
    """A text cell: '' for None and NaN (pandas turns a missing string into NaN)."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


SINGLE_SEED = "(n=1, CI n/a: 1 seed)"


def fmt_interval(iv: Interval, empty: str = "missing", single: str = SINGLE_SEED) -> str:
    """'62 ± 4.97 (n=3)'; one seed: the value and `single` (the tables mark only a row's first such cell)."""
    if iv.n == 0:
        return empty
    if iv.n == 1:
        return f"{fmt(iv.mean)} {single}".rstrip()
    if iv.high == iv.mean:
        return f"{fmt(iv.mean)} (n={iv.n}, all equal)"
    return f"{fmt(iv.mean)} ± {fmt(iv.high - iv.mean)} (n={iv.n})"


def column_title(col: str) -> str:
    """'fid500_final' -> 'fid500 final (lower is better)'; counters by their names."""
    if col in COUNTERS:
        return COUNTERS[col]
    key, which = col.rsplit("_", 1)
    better = names.better(key)
    title = f"{key} {which}" if which == "best" or names.is_value(key, names.FID) else key
    return f"{title} ({better})" if better else title


def summary_metric_columns(results: pd.DataFrame, curve_key: str | None = None) -> list[str]:
    """The metric columns of the per-variant quality table: each metric at the largest sample count the runs
    have (runs evaluated with cheap curve points also carry e.g. fid100 beside fid1000: the curve count stays in
    the per-run table and the curves), then the best value along the way of `curve_key` (the FID of the curves)."""
    values = [c for c in aggregated_columns(results) if c not in COUNTERS and names.is_value(c.rsplit("_", 1)[0])]
    largest: dict[tuple[str, str], int] = {}
    for c in values:
        m = names.parse(c.rsplit("_", 1)[0])
        largest[(m.base, m.g)] = max(largest.get((m.base, m.g), 0), m.n)
    keep = [c for c in values if c.endswith("_final")
            and (m := names.parse(c.removesuffix("_final"))).n == largest[(m.base, m.g)]]
    best = f"{curve_key}_best" if curve_key else None
    return keep + ([best] if best in values else [])


def summary_tables(summary: Summary, results: pd.DataFrame, curve_key: str | None = None
                   ) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the per-variant tables, quality then cost, shared by the Markdown and HTML pages.
    Quality: the columns of `summary_metric_columns` (the curve FID's best along the way from `curve_key`)."""
    frame = summary.frame
    metrics = summary_metric_columns(results, curve_key)
    no_fid = not metrics

    def cell(r, col: str, marked: list[bool]) -> str:
        if r["completed"] == 0:
            return "–"  # the status column says why: nothing completed yet
        if col == "img_per_s" and fam.is_baseline(r["family"]):
            return "n/a (no training)"
        iv = summary.intervals[(r["group"], col)]
        if iv.n == 1 and not marked:
            marked.append(True)
            return fmt_interval(iv)
        return fmt_interval(iv, single="")

    quality_head = (["rank", "variant", "seeds used", "runs (status)"] + (["FID"] if no_fid else [])
                    + [column_title(c) for c in metrics] + ["vs next rank", "missing"])
    cost_head = ["variant", "runs (status)"] + [column_title(c) for c in COUNTERS]
    quality, cost = [], []
    for _, r in frame.iterrows():
        rank = "–" if pd.isna(r["rank"]) else str(int(r["rank"]))
        missing = "; ".join(t for t in ("no completed run" if r["completed"] == 0 else "", _text(r["missing"])) if t)
        marked: list[bool] = []
        quality.append([rank, str(r["group"]), _text(r["seeds"]) or "none completed", str(r["status"])]
                       + (["missing (no evaluations)"] if no_fid else []) + [cell(r, c, marked) for c in metrics]
                       + [_text(r["vs_next_rank"]), missing])
        marked_cost: list[bool] = []
        cost.append([str(r["group"]), str(r["status"])] + [cell(r, c, marked_cost) for c in COUNTERS])
    tables = [("Sample quality", quality_head, quality),
              ("Compute actually spent (training only; evaluation time excluded)", cost_head, cost)]
    if any(not math.isnan(p.p) for p in summary.pairs):
        tables.append(pairwise_table(summary))
    return tables


def single_seed_note(summary: Summary) -> str | None:
    """One note for every group with values from a single seed, instead of 'n/a' in each of its cells."""
    single = {g for (g, _), iv in summary.intervals.items() if iv.n == 1}
    groups = [str(g) for g in summary.frame["group"] if g in single]
    if not groups:
        return None
    return (f"values from one completed seed, so no interval and no test: {', '.join(groups)} (single values in "
            f"their rows; the first is marked {SINGLE_SEED})")


def pairwise_table(summary: Summary) -> tuple[str, list[str], list[list[str]]]:
    """Which pairs of variants differ on the ranking metric, by how much, with an interval: differing pairs
    first, then by p. Pairs with a single-seed variant cannot be tested and are left out (the single-seed note
    names those variants)."""
    key = summary.rank_by.removesuffix("_final") if summary.rank_by else "?"
    head = ["pair (A vs B)", "seeds", f"mean A - B ({key})", "95% CI of A - B", "Hedges' g", "p (Welch)",
            "p (Holm)", "verdict"]
    rows = []
    tested = sorted((p for p in summary.pairs if not math.isnan(p.p)), key=lambda p: (not p.different, p.p_holm))
    for p in tested:
        rows.append([f"{p.a} vs {p.b}", f"{p.n_a} vs {p.n_b}", fmt(p.diff), f"{fmt(p.low)} .. {fmt(p.high)}",
                     fmt(p.hedges_g), f"{p.p:.2g}", f"{p.p_holm:.2g}",
                     "differ" if p.different else "no detectable difference"])
    n_diff = sum(p.different for p in tested)
    title = (f"Pairwise comparisons on {key}: {n_diff} of {len(tested)} pairs differ "
             "(Welch's t over seeds, Holm-corrected, family-wise alpha 0.05)")
    return title, head, rows


def results_table(results: pd.DataFrame, order: list[str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-run table, groups in `order` (the ranking), seeds ascending."""
    metric = [c for c in results.columns if c.endswith(("_final", "_best")) and names.is_value(c.rsplit("_", 1)[0])]
    cols = ["run", "status", *COUNTERS, *metric, "missing", "note"]
    header = [column_title(c) if (c in COUNTERS or c in metric) else c for c in cols]
    rank = {g: i for i, g in enumerate(order)}
    ordered = results.assign(_g=results["group"].map(rank), _s=results["seed"]).sort_values(["_g", "_s"])
    rows = []
    for _, r in ordered.iterrows():
        cells = []
        for c in cols:
            v = r.get(c)
            if c in ("run", "status", "missing", "note"):
                cells.append(_text(v))
            elif c.endswith("_best") and not pd.isna(r.get(f"{c}_kimg", math.nan)):
                cells.append(f"{fmt(v)} @ {fmt(r[f'{c}_kimg'])} kimg")
            elif c.endswith("_final") and r["status"] != Status.COMPLETED and not pd.isna(v):
                cells.append(f"{fmt(v)} (latest evaluation)")  # the run never reached its final one
            elif c.endswith("_final") and not pd.isna(v) and _noise(r, c) is not None:
                cells.append(f"{fmt(v)} [{_noise(r, c)}]")  # this run's evaluation-noise interval
            else:
                cells.append(fmt(v) if not (c == "img_per_s" and fam.is_baseline(r["family"])) else "n/a")
        rows.append(cells)
    return header, rows


def _noise(row, col: str) -> str | None:
    """'lo .. hi' of a final metric's evaluation-noise interval in a results row ('kid500_final' ->
    kid500_lo_final, kid500_hi_final), or None when the run has none."""
    key = col.removesuffix("_final")
    m = names.parse(key)
    lo, hi = (row.get(f"{names.name(m.base, m.n, part, m.g)}_final") for part in (names.LO, names.HI))
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return None
    return f"{fmt(lo)} .. {fmt(hi)}"


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)
