"""The forest figure: a metric per group, best on top: the centre (large dot), its 95% interval over seeds (bar),
each seed (small dots; a failed seed as a cross), the numbers and compact letters on the right, the random floor
(dashed) and the real-vs-real line (dotted). Every section's ranking figure is this one."""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ganbench.report.figures import canvas as C


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
    failed: list[float] = field(default_factory=list)  # failed seeds' values (crosses; not in the interval)
    text: str = ""  # the numbers on the right; default "mean ± half-width"


def forest(
    rows: list[ForestRow],
    floor: ForestRow | None,
    key: str,
    path: Path,
    ceiling: ForestRow | None = None,
    what: str = "",
    log_x: bool = False,
    lower_is_better: bool = True,
) -> list[str]:
    """The ranking metric per variant, best on top: mean (large dot), 95% t-interval over seeds (bar), each seed
    (small dots), the compact letters and the numbers on the right, the random floor as a dashed line and the
    real-vs-real line (`ceiling`: real images through the same evaluator) as a dotted one."""
    if not rows and floor is None:
        C.placeholder(path, "Ranking", "no ranking metric in these results (were the runs made with --no-eval?)")
        return [f"missing: no ranking metric; {path.name} is a placeholder"]
    single = all(r.n <= 1 for r in rows)
    lower = lower_is_better
    xs = [v for r in rows for v in (*r.values, *r.failed, r.mean, r.low, r.high) if math.isfinite(v)]
    for line in (floor, ceiling):
        if line is not None:
            xs += [v for v in (line.mean, line.low, line.high) if math.isfinite(v)]
    lo, hi = min(xs), max(xs)
    pad = 0.06 * (hi - lo or abs(hi) or 1.0)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        what = what or (
            "one seed each: single values, no interval, no test"
            if single
            else "mean and 95% t-interval over seeds (small dots: single seeds); variants that share a letter are "
            "not distinguishable (Welch, Holm, α 0.05)"
        )
        title = textwrap.wrap(f"{key} per variant: {what}", 100)
        height = 1.05 + 0.22 * len(title) + 0.5 * max(1, len(rows))
        fig = Figure(figsize=(10.5, height), dpi=C.DPI)
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
            if r.failed:
                ax.scatter(r.failed, [y] * len(r.failed), s=60, marker="x", color="tab:red", zorder=4, linewidths=2)
            ax.scatter([r.mean], [y], s=95, color=r.colour, edgecolor="black", linewidth=0.8, zorder=4)
            half = f" ± {C.number(r.high - r.mean)}" if math.isfinite(r.high) else (" (1 seed)" if r.n == 1 else "")
            ax.annotate(
                r.text or f"{C.number(r.mean)}{half}",
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
                f" random floor {C.number(floor.mean)}{group} ",
                ha="right" if lower else "left",  # inside the axes: the floor is the worst end
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
                f" real vs real {C.number(ceiling.mean)} ",
                ha="left" if lower else "right",
                va="bottom",
                fontsize=10,
                color="tab:green",
            )
        ax.set_yticks(range(n), [r.label for r in reversed(rows)], fontsize=12)
        ax.set_ylim(-0.6, n - 0.4 + 0.35)
        if log_x and lo > 0:
            ax.set_xscale("log")
            ax.set_xlim(lo / 1.15, hi * 1.15)
        else:
            ax.set_xlim(lo - pad, hi + pad)
        ax.set_xlabel(f"{key} at the end of the budget ({'lower' if lower else 'higher'} is better)")
        ax.grid(axis="y", visible=False)
        ax.set_title("\n".join(title), loc="left", fontsize=11)
        C.save(fig, path)
    return []
