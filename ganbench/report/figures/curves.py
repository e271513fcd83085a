"""Curves: a metric along training, one line per group (the mean over seeds at each x) with the seeds' min-max as a
band (with 2-5 seeds a range says more than a bootstrap interval would); dashed groups for a second arm; the scale's
ends as horizontal lines; a cross at the last evaluation of a run that did not complete. Every section's curves
(against kimg, against wall-clock, both arms of a study) are this one figure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ganbench.report.figures import canvas as C
from ganbench.rundir import Status


@dataclass(frozen=True)
class Line:
    value: float
    label: str
    style: str = "--"
    colour: str = "0.35"


def time_unit(seconds: float) -> tuple[float, str]:
    if seconds >= 2 * 3600:
        return 3600.0, "h"
    if seconds >= 2 * 60:
        return 60.0, "min"
    return 1.0, "s"


def curves(
    frame: pd.DataFrame,
    key: str,
    colours: dict,
    path: Path,
    x: str = "kimg",
    xlabel: str = C.KIMG_LABEL,
    lines: tuple[Line, ...] = (),
    dashed: frozenset[str] = frozenset(),
    title: str = "",
    better: str = "lower is better",
) -> Path:
    """`frame`: one row per evaluation with columns group, run, status, value and `x`; groups drawn in `colours`'
    order (a group missing from `colours` is grey)."""
    data = frame.dropna(subset=[x, "value"])
    values = data["value"].tolist() + [line.value for line in lines]
    log_y = bool(values) and min(values) > 0 and max(values) / min(values) > 5
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = C.figure(10, 5.2)
        ax = fig.add_subplot()
        order = [g for g in colours if g in set(data["group"])] + sorted(set(data["group"]) - set(colours))
        for g in order:
            part = data[data["group"] == g].groupby(x)["value"]
            xs = np.array(sorted(part.groups))
            colour = colours.get(g, (0.5, 0.5, 0.5))
            style = "--" if g in dashed else "-"
            ax.plot(xs, part.mean().loc[xs], style, marker="o", ms=4, color=colour, label=g)
            ax.fill_between(
                xs, part.min().loc[xs], part.max().loc[xs], color=colour, alpha=0.06 if g in dashed else 0.13, lw=0
            )
        stopped = data[data["status"] != Status.COMPLETED].sort_values(x).groupby("run").tail(1)
        if not stopped.empty:
            ax.scatter(
                stopped[x],
                stopped["value"],
                marker="X",
                s=90,
                color="black",
                zorder=5,
                label="last evaluation of a run that did not complete",
            )
        for line in lines:
            ax.axhline(
                line.value, ls=line.style, color=line.colour, lw=1.5, label=f"{line.label}: {C.number(line.value)}"
            )
        if log_y:  # FID spans the untrained ~400 down to tens: log keeps the late differences visible
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{key} ({better}{', log scale' if log_y else ''})")
        ax.set_title(C.wrap(title or f"{key} against {x} — {C.BAND_NOTE}", 110), loc="left", fontsize=11)
        ax.legend(title="group", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        return C.save(fig, path)
