"""The report's figures (PNG, seaborn on matplotlib's Agg canvas; pyplot's global state is never touched).

Curves are drawn per variant: the line is the mean over seeds at each x, the band the min-max range over seeds
(with 2-3 seeds a range says more than a bootstrap interval would). Wall-clock x values are the mean over seeds of
the training time at each evaluation (evaluations happen at the same kimg for every seed of a variant).
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ganbench import families as fam
from ganbench.report.runs import Run, group_label, number
from ganbench.rundir import Status

BAND = ("pi", 100)  # seaborn: percentile interval 0..100 = min-max over seeds
BAND_NOTE = "line: mean over seeds; band: min–max over seeds"
SERIES_COLOURS = {"D loss": "#d62728", "G loss": "#1f77b4", "D(real)": "#2ca02c", "D(fake)": "#9467bd"}
KIMG_LABEL = "kimg (thousands of real images shown to D)"
DPI = 110


def palette(groups: list[str], families: dict[str, str]) -> dict[str, tuple]:
    """One colour per group, the same in every figure; the random baseline is grey."""
    colours = sns.color_palette("tab10", n_colors=max(1, len(groups)))
    out, i = {}, 0
    for g in groups:
        if fam.is_baseline(families.get(g, "")):
            out[g] = (0.5, 0.5, 0.5)
        else:
            out[g] = colours[i % len(colours)]
            i += 1
    return out


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path


def _placeholder(path: Path, title: str, message: str) -> Path:
    with sns.axes_style("white"):
        fig = _figure(8, 2.2)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_title(title, loc="left")
        ax.text(
            0.5,
            0.45,
            "\n".join(textwrap.wrap(message, 90)),
            ha="center",
            va="center",
            fontsize=12,
            color="0.3",
            transform=ax.transAxes,
        )
        return _save(fig, path)


# ---------------------------------------------------------------------------------------------------- frames
def ticks_frame(runs: list[Run]) -> pd.DataFrame:
    rows = [
        {
            "group": group_label(r),
            "run": r.name,
            "seed": r.seed,
            "family": r.family,
            "status": r.status,
            **{k: number(v) for k, v in t.items() if k != "kind"},
        }
        for r in runs
        for t in r.ticks
    ]
    return pd.DataFrame(rows)


def evals_frame(runs: list[Run], key: str) -> pd.DataFrame:
    """Evaluations of metric `key`; a run whose summary has a final value but no eval record adds that point."""
    rows = []
    for r in runs:
        points = [(number(e.get("kimg")), number(e.get("seconds")), number(e.get(key))) for e in r.evals]
        points = [p for p in points if p[0] is not None and p[2] is not None]
        if not points and key in r.final_metrics():
            points = [(r.counter("kimg"), r.counter("seconds"), r.final_metrics()[key])]
        rows += [
            {
                "group": group_label(r),
                "run": r.name,
                "seed": r.seed,
                "family": r.family,
                "status": r.status,
                "kimg": k,
                "seconds": s,
                "value": v,
            }
            for k, s, v in points
        ]
    frame = pd.DataFrame(rows, columns=["group", "run", "seed", "family", "status", "kimg", "seconds", "value"])
    return frame[np.isfinite(frame["value"].astype(float))] if len(frame) else frame


def _time_unit(seconds: float) -> tuple[float, str]:
    if seconds >= 2 * 3600:
        return 3600.0, "h"
    if seconds >= 2 * 60:
        return 60.0, "min"
    return 1.0, "s"


# ---------------------------------------------------------------------------------------------------- FID curves
def fid_curves(
    evals: pd.DataFrame, key: str | None, baseline: float | None, colours: dict, path_kimg: Path, path_time: Path
) -> list[str]:
    """FID against kimg and against training wall-clock; the random baseline as a dashed reference line."""
    notes = []
    curves = evals[~evals["family"].map(fam.is_baseline).astype(bool)] if key else evals.iloc[0:0]
    if curves.empty:
        why = (
            f"no {key} evaluations of trained variants in these results"
            if key
            else "no FID evaluations in these results (were the runs made with --no-eval?)"
        )
        _placeholder(path_kimg, "FID against kimg", why)
        _placeholder(path_time, "FID against wall-clock", why)
        return [f"missing: {why}; FID plots are placeholders"] if key else []  # no key: said once, by the table
    curves = curves.copy()
    mean_s = curves.groupby(["group", "kimg"])["seconds"].transform("mean")
    scale, unit = _time_unit(float(np.nanmax(mean_s)) if mean_s.notna().any() else 0.0)
    curves["time"] = mean_s / scale
    if curves["time"].isna().any():
        notes.append("missing: some evaluations have no wall-clock time; they are left out of fid_vs_time.png")
    values = curves["value"].tolist() + ([baseline] if baseline is not None else [])
    log_y = min(values) > 0 and max(values) / min(values) > 5
    for x, xlabel, path in (
        ("kimg", KIMG_LABEL, path_kimg),
        ("time", f"training wall-clock ({unit}, evaluation excluded; mean over seeds)", path_time),
    ):
        with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
            fig = _figure(9.5, 5.2)
            ax = fig.add_subplot()
            data = curves.dropna(subset=[x])
            order = [g for g in colours if g in set(data["group"])]  # legend in rank order
            sns.lineplot(
                data=data,
                x=x,
                y="value",
                hue="group",
                hue_order=order,
                estimator="mean",
                errorbar=BAND,
                marker="o",
                palette={g: colours[g] for g in order},
                ax=ax,
            )
            diverged = data[data["status"] != Status.COMPLETED].sort_values(x).groupby("run").tail(1)
            if not diverged.empty:
                ax.scatter(
                    diverged[x],
                    diverged["value"],
                    marker="X",
                    s=90,
                    color="black",
                    zorder=5,
                    label="last evaluation of a run that did not complete",
                )
            if baseline is not None:
                ax.axhline(
                    baseline, ls="--", lw=1.5, color="0.35", label=f"random baseline (uniform noise): {baseline:.1f}"
                )
            if log_y:  # FID spans the untrained ~400 down to tens: log keeps the late differences visible
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"{key} (lower is better{', log scale' if log_y else ''})")
            what = "kimg" if x == "kimg" else "wall-clock"
            ax.set_title(f"{key} against {what} — {BAND_NOTE}", loc="left", fontsize=12)
            ax.legend(title="variant", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
            _save(fig, path)
    return notes


# ---------------------------------------------------------------------------------------------------- training dynamics
def _panels(
    ticks: pd.DataFrame,
    series: dict[str, str],
    groups: list[str],
    path: Path,
    title: str,
    ylabel: str,
    subtitle: dict[str, str],
    missing: str,
) -> list[str]:
    """One panel per group (own y scale: objectives live on different scales), one line per series."""
    cols = [c for c in series if c in ticks]
    groups = [g for g in groups if cols and ticks.loc[ticks["group"] == g, cols].notna().any().any()]
    if not groups:
        _placeholder(path, title, missing)
        return [f"missing: {missing}; {path.name} is a placeholder"]
    ncols = min(3, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        fig = _figure(4.4 * ncols, 3.4 * nrows + 0.5)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, g in zip(axes, groups, strict=False):
            part = ticks[ticks["group"] == g]
            long = part.melt(
                id_vars=["run", "kimg"],
                value_vars=[c for c in cols if part[c].notna().any()],
                var_name="series",
                value_name="value",
            ).dropna(subset=["value"])
            long["series"] = long["series"].map(series)
            sns.lineplot(
                data=long,
                x="kimg",
                y="value",
                hue="series",
                estimator="mean",
                errorbar=BAND,
                ax=ax,
                palette=SERIES_COLOURS,
                marker="o",
                markersize=4,
                markeredgewidth=0,
            )
            ax.set_title(f"{g}{subtitle.get(g, '')}", fontsize=11)
            ax.set_xlabel("kimg")
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=8, title=None)
        for ax in axes[len(groups) :]:
            ax.set_axis_off()
        fig.suptitle(f"{title}\n{BAND_NOTE}; x: {KIMG_LABEL}", fontsize=11)
        _save(fig, path)
    return []


def losses(
    ticks: pd.DataFrame, groups: list[str], families: dict[str, str], objectives: dict[str, str], path: Path
) -> list[str]:
    trained = [g for g in groups if fam.trains(families.get(g, ""))]
    sub = {
        g: f" ({objectives[g]})"
        if fam.adversarial(families.get(g, "")) and objectives.get(g)
        else " (VAE: G loss = −ELBO per pixel)"
        for g in trained
    }
    return _panels(
        ticks,
        {"loss_d": "D loss", "loss_g": "G loss"},
        trained,
        path,
        "G and D losses (per tick, each objective in its own units)",
        "loss",
        sub,
        "no loss records of trained variants in these results",
    )


def d_outputs(
    ticks: pd.DataFrame, groups: list[str], families: dict[str, str], objectives: dict[str, str], path: Path
) -> list[str]:
    gans = [g for g in groups if fam.adversarial(families.get(g, ""))]
    sub = {g: f" ({objectives[g]})" for g in gans if objectives.get(g)}
    return _panels(
        ticks,
        {"d_real": "D(real)", "d_fake": "D(fake)"},
        gans,
        path,
        "Mean D output on real and fake images",
        "mean D output (raw logit / critic value)",
        sub,
        "no GAN runs with D outputs in these results",
    )


# ---------------------------------------------------------------------------------------------------- throughput
def throughput(results: pd.DataFrame, groups: list[str], colours: dict, device: str, path: Path) -> list[str]:
    """Training images per second and peak memory per variant: bars = mean, dots = seeds."""
    data = results[results["group"].isin(groups)].copy()
    speed = data[~data["family"].map(fam.is_baseline).astype(bool) & data["img_per_s"].notna()]
    memory = data[data["peak_mem_mb"].notna()]
    if speed.empty and memory.empty:
        _placeholder(path, "Throughput", "no throughput or memory records in these results")
        return ["missing: no throughput records; throughput.png is a placeholder"]
    kinds = sorted({str(k) for k in data["peak_mem_kind"].dropna()}) or ["peak memory"]
    n = max(len(speed["group"].unique()), len(memory["group"].unique()), 1)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        fig = _figure(11, 1.2 + 0.45 * n)
        axes = fig.subplots(1, 2)
        for ax, frame, col, xlabel in (
            (axes[0], speed, "img_per_s", "training images / s (evaluation excluded)"),
            (axes[1], memory, "peak_mem_mb", f"peak memory (MB; {'; '.join(kinds)})"),
        ):
            if frame.empty:
                ax.set_axis_off()
                ax.text(0.5, 0.5, f"no {xlabel}", ha="center", transform=ax.transAxes)
                continue
            order = [g for g in groups if g in set(frame["group"])]
            sns.barplot(
                data=frame,
                x=col,
                y="group",
                hue="group",
                order=order,
                hue_order=order,
                palette={g: colours[g] for g in order},
                errorbar=None,
                ax=ax,
                legend=False,
            )
            sns.stripplot(data=frame, x=col, y="group", order=order, color="black", size=4, ax=ax)
            means, ends = frame.groupby("group")[col].mean(), frame.groupby("group")[col].max()
            for i, g in enumerate(order):  # the mean, written past the last dot so neither hides the other
                ax.text(ends[g], i, f"  {means[g]:,.0f}", va="center", ha="left", fontsize=9)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("")
            ax.set_xlim(0, float(frame[col].max()) * 1.25)
        fig.suptitle(
            f"Throughput and memory on {device}\nbars and numbers: mean over runs; dots: single runs", fontsize=11
        )
        _save(fig, path)
    return []


# ---------------------------------------------------------------------------------------------------- samples
def sample_sheet(panels: list[tuple[Path | None, str, str]], path: Path) -> Path:
    """Grids side by side (real images first): (image or None, title, why it is missing)."""
    from PIL import Image

    n = len(panels)  # one row up to 5 grids, else rows as even as they can be, at most 5 wide
    ncols = n if n <= 5 else math.ceil(n / math.ceil(n / 5))
    nrows = math.ceil(n / ncols)
    with sns.axes_style("white"):
        fig = _figure(3.6 * ncols, 4.0 * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, (image, title, why) in zip(axes, panels, strict=False):
            ax.set_xticks([])
            ax.set_yticks([])
            if image is not None:
                with Image.open(image) as im:
                    ax.imshow(np.asarray(im.convert("RGB")), interpolation="nearest")
            else:
                ax.text(
                    0.5,
                    0.5,
                    "\n".join(textwrap.wrap(why, 32)),
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    fontsize=9,
                    color="0.3",
                )
            ax.set_title(title, fontsize=12)
        for ax in axes[len(panels) :]:
            ax.set_axis_off()
        fig.suptitle("Samples from the shared fixed noise (the same z for every variant and seed)", fontsize=14)
        return _save(fig, path)


# ---------------------------------------------------------------------------------------------------- the verdict's figure
@dataclass
class ForestRow:
    label: str
    mean: float
    low: float  # 95% t-interval over seeds; NaN with one seed
    high: float
    n: int
    values: list[float]  # the seeds' own values
    letters: str = ""
    colour: tuple = (0.3, 0.3, 0.3)


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def forest(
    rows: list[ForestRow], floor: ForestRow | None, key: str, path: Path, ceiling: ForestRow | None = None
) -> list[str]:
    """The ranking metric per variant, best on top: mean (large dot), 95% t-interval over seeds (bar), each seed
    (small dots), the compact letters and the numbers on the right, the random floor as a dashed line and the
    real-vs-real line (`ceiling`: real images through the same evaluator) as a dotted one."""
    if not rows and floor is None:
        _placeholder(path, "Ranking", "no ranking metric in these results (were the runs made with --no-eval?)")
        return [f"missing: no ranking metric; {path.name} is a placeholder"]
    single = all(r.n <= 1 for r in rows)
    xs = [v for r in rows for v in (*r.values, r.mean, r.low, r.high) if math.isfinite(v)]
    for line in (floor, ceiling):
        if line is not None:
            xs += [v for v in (line.mean, line.low, line.high) if math.isfinite(v)]
    lo, hi = min(xs), max(xs)
    pad = 0.06 * (hi - lo or abs(hi) or 1.0)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        what = (
            "one seed each: single values, no interval, no test"
            if single
            else "mean and 95% t-interval over seeds (small dots: single seeds); variants that share a letter are "
            "not distinguishable (Welch, Holm, α 0.05)"
        )
        title = textwrap.wrap(f"{key} per variant: {what}", 100)
        height = 1.05 + 0.22 * len(title) + 0.5 * max(1, len(rows))
        fig = Figure(figsize=(10.5, height), dpi=DPI)
        FigureCanvasAgg(fig)
        longest = max((len(r.label) for r in rows), default=0)  # the labels' room: ~0.1 in per character at 12 pt
        fig.subplots_adjust(
            left=max(0.14, min(0.4, (0.3 + 0.1 * longest) / 10.5)),
            right=0.74 if any(r.letters for r in rows) else 0.8,
            top=1 - (0.3 + 0.22 * len(title)) / height,
            bottom=0.62 / height,
        )
        ax = fig.add_subplot()
        n = len(rows)
        for i, r in enumerate(rows):
            y = n - 1 - i
            if math.isfinite(r.low):
                ax.plot([r.low, r.high], [y, y], color=r.colour, lw=3.5, solid_capstyle="butt", zorder=2)
            ax.scatter(r.values, [y] * len(r.values), s=16, color="0.25", alpha=0.55, zorder=3, linewidths=0)
            ax.scatter([r.mean], [y], s=95, color=r.colour, edgecolor="black", linewidth=0.8, zorder=4)
            half = f" ± {_fmt(r.high - r.mean)}" if math.isfinite(r.high) else (" (1 seed)" if r.n == 1 else "")
            ax.annotate(
                f"{_fmt(r.mean)}{half}",
                (1.02, y),
                xycoords=("axes fraction", "data"),
                va="center",
                fontsize=11,
                annotation_clip=False,
            )
            if r.letters:
                ax.annotate(
                    r.letters,
                    (1.32, y),
                    xycoords=("axes fraction", "data"),
                    va="center",
                    fontsize=12,
                    fontweight="bold",
                    annotation_clip=False,
                )
        ax.annotate(
            "mean" + ("" if single else " ± 95% CI"),
            (1.02, n - 0.35),
            xycoords=("axes fraction", "data"),
            fontsize=9,
            color="0.35",
            annotation_clip=False,
        )
        if any(r.letters for r in rows):
            ax.annotate(
                "group",
                (1.32, n - 0.35),
                xycoords=("axes fraction", "data"),
                fontsize=9,
                color="0.35",
                annotation_clip=False,
            )
        if floor is not None:
            if math.isfinite(floor.low):
                ax.axvspan(floor.low, floor.high, color="0.5", alpha=0.15, lw=0)
            ax.axvline(floor.mean, ls="--", lw=1.6, color="0.35", zorder=1)
            group = f" ({floor.letters})" if floor.letters else ""
            ax.text(
                floor.mean,
                n - 0.45,
                f"random floor {_fmt(floor.mean)}{group} ",
                ha="right",
                va="bottom",
                fontsize=10,
                color="0.3",
            )
        if ceiling is not None:
            if math.isfinite(ceiling.low):
                ax.axvspan(ceiling.low, ceiling.high, color="tab:green", alpha=0.12, lw=0)
            ax.axvline(ceiling.mean, ls=":", lw=1.8, color="tab:green", zorder=1)
            ax.text(
                ceiling.mean,
                n - 0.45,
                f" real vs real {_fmt(ceiling.mean)}",
                ha="left",
                va="bottom",
                fontsize=10,
                color="tab:green",
            )
        ax.set_yticks(range(n), [r.label for r in reversed(rows)], fontsize=12)
        ax.set_ylim(-0.6, n - 0.4 + 0.35)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_xlabel(f"{key} at the end of the budget (lower is better)")
        ax.grid(axis="y", visible=False)
        ax.set_title("\n".join(title), loc="left", fontsize=11)
        _save(fig, path)
    return []


def rank_curves(budgets: list, colours: dict, key: str, path: Path) -> Path:
    """Each variant's rank (by mean over seeds) at each evaluated budget; the bars span the ranks its pairwise
    tests allow (`ganbench.report.ranks`). `budgets`: ranks.BudgetRanks, in budget order."""
    groups = list(dict.fromkeys(g for b in reversed(budgets) for g in b.order))  # the last budget's order first
    kimgs = [b.kimg for b in budgets]
    step = 0.012 * ((max(kimgs) - min(kimgs)) or 1.0)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = _figure(9.5, 1.8 + 0.42 * len(groups))
        ax = fig.add_subplot()
        for i, g in enumerate(groups):
            dx = (i - (len(groups) - 1) / 2) * step
            pts = [(b.kimg + dx, b.rank[g], b.low[g], b.high[g]) for b in budgets if g in b.rank]
            x, y, low, high = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
            colour = colours.get(g, (0.3, 0.3, 0.3))
            ax.errorbar(
                x,
                y,
                yerr=[y - low, high - y],
                color=colour,
                marker="o",
                ms=7,
                lw=2,
                capsize=3,
                elinewidth=1.2,
                alpha=0.9,
                label=g,
            )
        ax.set_yticks(range(1, len(groups) + 1))
        ax.set_ylim(len(groups) + 0.5, 0.5)  # rank 1 on top
        ax.set_xticks(kimgs, [f"{k:.3g}" for k in kimgs])
        ax.set_xlabel(KIMG_LABEL)
        ax.set_ylabel("rank (1 = best)")
        ax.set_title(
            "\n".join(
                textwrap.wrap(
                    f"Rank by {key} (mean over seeds) at each evaluated budget; bars: the ranks the pairwise tests allow "
                    "(Welch, Holm, α 0.05)",
                    95,
                )
            ),
            loc="left",
            fontsize=11,
        )
        ax.legend(title="variant", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
        return _save(fig, path)


def scale_positions(
    labels: tuple[str, str], position: dict[str, tuple[float, float]], colours: dict, path: Path
) -> Path:
    """Two studies side by side: each variant's place on each study's own scale (0: as close as two sets of real
    images, 1: random noise), one line per variant, so a reader sees whether the order and the gaps carry over."""
    keep = {v: p for v, p in position.items() if all(math.isfinite(x) and x > 0 for x in p)}
    if not keep:
        return _placeholder(path, "Scale positions", "no study has both a random floor and a real-vs-real line")
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = _figure(7.5, 4.8)
        ax = fig.add_subplot()
        for v, (a, b) in keep.items():
            colour = colours.get(v, (0.3, 0.3, 0.3))
            ax.plot([0, 1], [a, b], color=colour, lw=2, marker="o", ms=8, markeredgecolor="black")
            ax.text(1.06, b, v, va="center", fontsize=10, color=colour)
            ax.text(-0.06, a, v, va="center", ha="right", fontsize=10, color=colour)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.set_xticks([0, 1], list(labels), fontsize=12)
        ax.set_xlim(-0.5, 1.5)
        ax.set_ylabel("scale position (0: real vs real, 1: noise), log")
        ax.set_title(
            "Each variant's place on its data set's own scale (tuned arms, mean over seeds)", loc="left", fontsize=11
        )
        return _save(fig, path)
