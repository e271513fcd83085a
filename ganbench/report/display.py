"""The report's tables as text, shared by the Markdown and HTML pages.

Cells say what they hold. A column that holds the same thing in every row (every precision 0, every variant's seeds
"0,1,2,3,4", every status "completed") says nothing about the comparison: it is left out of the table and its
value is named once in the line under it. Pairs are worded by what the tests support: "better" only where the
Holm-corrected Welch test says so, "tied" only where TOST at the stated margin says so, otherwise "not
distinguishable" with the 95% interval of the difference.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ganbench import families as fam
from ganbench.metrics import names
from ganbench.report.runs import number
from ganbench.report.tables import COUNTERS, Summary, summary_metric_columns
from ganbench.rundir import Status
from ganbench.stats import scale as sc
from ganbench.stats.welch import Interval

ADJACENT = "adjacent rank (Mann-Whitney, uncorrected)"


@dataclass
class TableView:
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""  # what was left out, and anything else a reader needs under the table


# ---------------------------------------------------------------------------------------------------- cells
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


def fmt_interval(iv: Interval, empty: str = "missing", single: str = SINGLE_SEED, show_n: bool = True) -> str:
    """'62 ± 4.97 (n=3)'; one seed: the value and `single` (the tables mark only a row's first such cell).
    show_n False: '62 ± 4.97' and '50' for seeds that all agree (when the table says n once for every cell)."""
    if iv.n == 0:
        return empty
    if iv.n == 1:
        return f"{fmt(iv.mean)} {single}".rstrip()
    if iv.high == iv.mean:
        return f"{fmt(iv.mean)} (n={iv.n}, all equal)" if show_n else fmt(iv.mean)
    return f"{fmt(iv.mean)} ± {fmt(iv.high - iv.mean)}" + (f" (n={iv.n})" if show_n else "")


def column_title(col: str) -> str:
    """'fid500_final' -> 'fid500 final (lower is better)'; 'fid50_best' -> 'fid50 best along the way (lower is
    better)'; counters by their names."""
    if col in COUNTERS:
        return COUNTERS[col]
    key, which = col.rsplit("_", 1)
    better = names.better(key)
    title = (
        f"{key} best along the way" if which == "best" else f"{key} {which}" if names.is_value(key, names.FID) else key
    )
    return f"{title} ({better})" if better else title


def drop_constant(view: TableView, keep: set[str]) -> TableView:
    """Leave out columns (other than `keep`) whose cells are all the same, naming the non-empty ones in the note.
    Tables of one row keep every column."""
    if len(view.rows) < 2:
        return view
    kept, said = [], []
    for i, head in enumerate(view.header):
        values = {row[i].strip() for row in view.rows}
        if head in keep or len(values) > 1:
            kept.append(i)
        elif values - {"", "–"}:
            said.append(
                f"{head.removesuffix(' (lower is better)').removesuffix(' (higher is better)')} = {next(iter(values))}"
            )
    note = ("Not shown, the same in every row: " + "; ".join(said) + ".") if said else ""
    return TableView(
        view.title,
        [view.header[i] for i in kept],
        [[r[i] for i in kept] for r in view.rows],
        " ".join(t for t in (view.note, note) if t),
    )


# ---------------------------------------------------------------------------------------------------- per variant
def summary_tables(summary: Summary, results: pd.DataFrame, curve_key: str | None = None) -> list[TableView]:
    """The per-variant tables, quality then cost, then the pairwise comparisons. Quality: the ranking metric
    first, the other metrics at the end count, the curve FID's best along the way (`curve_key`), the letters."""
    frame = summary.frame
    metrics = summary_metric_columns(results, curve_key)
    if summary.rank_by in metrics:
        metrics = [summary.rank_by] + [c for c in metrics if c != summary.rank_by]
    no_fid = not metrics
    every_single = all(iv.n <= 1 for iv in summary.intervals.values())  # said once, in the note, not per row
    counts = {iv.n for iv in summary.intervals.values() if iv.n > 0}
    same_n = counts.pop() if len(counts) == 1 and min(counts) >= 2 else None  # n said once, not in every cell

    def cell(r, col: str, marked: list[bool]) -> str:
        if r["completed"] == 0:
            return "–"  # the status column says why: nothing completed yet
        if col == "img_per_s" and fam.is_baseline(r["family"]):
            return "n/a (no training)"
        iv = summary.intervals[(r["group"], col)]
        if iv.n == 0 and col == summary.rank_by and r.get("failed", 0):  # the value places it; no interval
            failed = f"every seed failed ({int(r['failed'])})"
            return f"{fmt(iv.mean)} ({failed})" if math.isfinite(iv.mean) else failed
        if iv.n == 1 and not marked and not every_single:
            marked.append(True)
            return fmt_interval(iv)
        return fmt_interval(iv, single="", show_n=same_n is None)

    lettered = bool(summary.letters)
    quality_head = (
        ["rank", "variant"]
        + (["letters"] if lettered else [])
        + ["seeds used", "runs (status)"]
        + (["FID"] if no_fid else [])
        + [column_title(c) for c in metrics]
        + [ADJACENT, "missing"]
    )
    cost_head = ["variant", "runs (status)"] + [column_title(c) for c in COUNTERS]
    quality, cost = [], []
    for _, r in frame.iterrows():
        rank = "–" if pd.isna(r["rank"]) else str(int(r["rank"]))
        missing = "; ".join(t for t in ("no completed run" if r["completed"] == 0 else "", _text(r["missing"])) if t)
        marked: list[bool] = []
        letter = [summary.letters.get(r["group"], "–")] if lettered else []
        quality.append(
            [rank, str(r["group"])]
            + letter
            + [_text(r["seeds"]) or "none completed", str(r["status"])]
            + (["missing (no evaluations)"] if no_fid else [])
            + [cell(r, c, marked) for c in metrics]
            + [_text(r["vs_next_rank"]), missing]
        )
        marked_cost: list[bool] = []
        cost.append([str(r["group"]), str(r["status"])] + [cell(r, c, marked_cost) for c in COUNTERS])
    if all("cannot reach" in (row[-2] or "cannot reach") for row in quality):  # no adjacent test could decide
        quality_head, quality = quality_head[:-2] + quality_head[-1:], [row[:-2] + row[-1:] for row in quality]
    title = "Sample quality" + (": variants that share a letter are not distinguishable" if lettered else "")
    keep = {"rank", "variant", column_title(metrics[0]) if metrics else "FID"}
    seeds = (
        f"a ± b: mean over the {same_n} seeds of each variant and the half-width of its 95% t-interval."
        if same_n
        else ""
    )
    views = [
        drop_constant(TableView(title, quality_head, quality, single_seed_note(summary) or seeds), keep),
        drop_constant(
            TableView("Compute actually spent (training only; evaluation time excluded)", cost_head, cost, seeds),
            {"variant"},
        ),
    ]
    if summary.comparison is not None and summary.comparison.tested:
        views.append(pair_table(summary.comparison))
    return views


def single_seed_note(summary: Summary) -> str | None:
    """One note for every group with values from a single seed, instead of 'n/a' in each of its cells."""
    single = {g for (g, _), iv in summary.intervals.items() if iv.n == 1}
    groups = [str(g) for g in summary.frame["group"] if g in single]
    if not groups:
        return None
    if all(iv.n <= 1 for iv in summary.intervals.values()):
        return "One seed per variant: single values, so no interval and no test."
    return (
        f"values from one completed seed, so no interval and no test: {', '.join(groups)} (single values in "
        f"their rows; the first is marked {SINGLE_SEED})"
    )


def ratio(x: float) -> str:
    """A ratio to two decimals ('1.62'), or to three significant digits where that would hide it ('0.00103')."""
    return f"{x:.2f}" if not math.isfinite(x) or 0.1 <= abs(x) < 100 else f"{x:.3g}"


def effect(p, scale: str, worse: str | None = None) -> str:
    """How much worse the worse group is: '×1.62 (95% CI 1.35-1.94)' or 'by 0.0326 (0.0189-0.0462)'."""
    flip = worse == p.a  # the effect is a against b: turn it round so it reads 'worse against better'
    e, lo, hi = p.effect, p.low, p.high
    if scale == sc.LOG:
        e, lo, hi = (1 / e, 1 / hi, 1 / lo) if not flip else (e, lo, hi)
        ci = f" (95% CI {ratio(lo)}-{ratio(hi)})" if math.isfinite(lo) else ""
        return f"×{ratio(e)}{ci}"
    e, lo, hi = (-e, -hi, -lo) if not flip else (e, lo, hi)
    ci = f" (95% CI {fmt(lo)}-{fmt(hi)})" if math.isfinite(lo) else ""
    return f"by {fmt(abs(e))}{ci}"


def iv90(p, scale: str) -> str:
    if scale == sc.LOG:
        return f"{p.a} / {p.b} = {ratio(p.effect)} ({ratio(p.low90)}-{ratio(p.high90)})"
    return f"{p.a} − {p.b} = {fmt(p.effect)} ({fmt(p.low90)} .. {fmt(p.high90)})"


def pair_text(p, scale: str, alpha: float = 0.05) -> str:
    """What the tests support for one pair: better (by how much), tied at the margin, or not distinguishable."""
    if p.test == "none":
        return f"not tested: {p.note}" if p.note else "not tested"
    rank = " (rank test: an arm has a failed seed)" if p.test == "Mann-Whitney" else ""
    if p.different:
        worse = p.b if p.better == p.a else p.a
        how = effect(p, scale, worse=worse) if p.test != "Mann-Whitney" else f"P({p.better} better) {p.prob.value:.2f}"
        tied = f"; within the margin too (TOST Holm p {p.p_tost_holm:.2g})" if p.tied else ""
        return f"{p.better} better, {worse} worse {how} (Holm p {p.p_holm:.2g}){rank}{tied}"
    if p.tied:
        return f"equivalent at the margin: 90% CI {iv90(p, scale)} (TOST Holm p {p.p_tost_holm:.2g})"
    if p.p < alpha:
        return f"not distinguishable after Holm's correction (p {p.p:.2g}, Holm p {p.p_holm:.2g}){rank}"
    return f"not distinguishable (Holm p {p.p_holm:.2g}){rank}"


def effect_cells(p, scale: str) -> list[str]:
    """The effect of a pair and its intervals as cells: a ratio on the log scale, a difference on the raw one."""
    if scale == sc.LOG:
        ratio = lambda x: f"{x:.3f}" if math.isfinite(x) else "–"  # noqa: E731
        return [ratio(p.effect), f"{ratio(p.low)} .. {ratio(p.high)}", f"{ratio(p.low90)} .. {ratio(p.high90)}"]
    return [fmt(p.effect), f"{fmt(p.low)} .. {fmt(p.high)}", f"{fmt(p.low90)} .. {fmt(p.high90)}"]


def pair_table(c) -> TableView:
    """Every pair of a comparison: the effect (ratio or difference) with its 95% and 90% intervals, the test, p,
    Holm p, TOST p (Holm), P(A better than B) with its bootstrap interval, and what the tests support. Differing
    pairs first, then by p."""
    effect = f"{'ratio A / B' if c.scale == sc.LOG else 'A − B'} ({c.key})"
    head = ["pair (A vs B)", "seeds", effect, "95% CI", "90% CI (TOST)", "test", "p", "Holm p"]
    head += (["TOST Holm p"] if c.bounds is not None else []) + ["P(A better) [95% CI]", "verdict"]
    rows = []
    for p in sorted(
        c.pairs, key=lambda p: (p.test == "none", not p.different, p.p_holm if math.isfinite(p.p_holm) else 2)
    ):
        prob = f"{p.prob.value:.2f}" + (f" [{p.prob.low:.2f}, {p.prob.high:.2f}]" if math.isfinite(p.prob.low) else "")
        rows.append(
            [f"{p.a} vs {p.b}", f"{p.n_a} vs {p.n_b}", *effect_cells(p, c.scale), p.test, fmt(p.p), fmt(p.p_holm)]
            + ([fmt(p.p_tost_holm)] if c.bounds is not None else [])
            + [prob if math.isfinite(p.prob.value) else "–", pair_text(p, c.scale, c.plan.alpha)]
        )
    tested = c.tested
    n_diff, n_tied = sum(p.different for p in tested), sum(p.tied for p in tested)
    title = (
        f"Pairs on {c.key}, {c.plan.label}: {n_diff} of {len(tested)} differ, {n_tied} equivalent at the margin "
        f"(family: {c.family})"
    )
    note = (
        f"Margin: {c.margin_text}. Scale: {c.plan.describe()}. Welch where neither arm has a failed seed (its 95% "
        "interval; the 90% interval decides equivalence: inside the margin = equivalent), the exact Mann-Whitney "
        "test where one has, no test where every seed of one failed; p-values Holm-corrected over the family's "
        "tested pairs. P(A better): the chance that a random seed of A beats one of B, with a bootstrap interval."
    )
    return TableView(title, head, rows, note)


# ---------------------------------------------------------------------------------------------------- per run
def results_table(results: pd.DataFrame, order: list[str]) -> TableView:
    """The per-run table, groups in `order` (the ranking), seeds ascending. A best-along-the-way column that
    equals the final value in every run (a metric evaluated at the end only) is left out."""
    metric = [c for c in results.columns if c.endswith(("_final", "_best")) and names.is_value(c.rsplit("_", 1)[0])]
    metric = [
        c
        for c in metric
        if not (c.endswith("_best") and f"{c[:-5]}_final" in results and results[c].equals(results[f"{c[:-5]}_final"]))
    ]
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
    note = "[lo .. hi]: the run's own evaluation-noise interval (bootstrap over samples)."
    return drop_constant(TableView("All runs", header, rows, note), {"run"})


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
