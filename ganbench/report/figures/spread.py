"""The spread over a search (Lucic et al. 2018's figure): each group's candidates as points (a box behind them
where there are several), the chosen one ringed, a failed one as a cross above the rest. The study's stage 1 and a
sweep's settings are both this figure."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import seaborn as sns

from ganbench.report.figures import canvas as C


@dataclass(frozen=True)
class Point:
    group: str
    value: float  # NaN: failed or diverged
    chosen: bool = False


def spread(points: list[Point], ylabel: str, title: str, colours: dict, path: Path, box: bool = False) -> Path | None:
    """Groups ordered by their best value; None (nothing written) without a single finite value."""
    finite = [p.value for p in points if math.isfinite(p.value)]
    if not finite:
        return None
    groups = list(dict.fromkeys(p.group for p in points))
    groups.sort(
        key=lambda g: min((p.value for p in points if p.group == g and math.isfinite(p.value)), default=math.inf)
    )
    top = max(finite)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = C.figure(max(6.5, 1.3 * len(groups) + 2), 4.6)
        ax = fig.add_subplot()
        if box:
            data = [[p.value for p in points if p.group == g and math.isfinite(p.value)] for g in groups]
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="vert: bool was deprecated")
                ax.boxplot(
                    data,
                    positions=range(len(groups)),
                    widths=0.5,
                    showfliers=False,
                    patch_artist=True,
                    boxprops={"facecolor": "0.9", "edgecolor": "0.5"},
                )
        rng = np.random.default_rng(0)
        for i, g in enumerate(groups):
            for p in (p for p in points if p.group == g):
                failed = not math.isfinite(p.value)
                ax.scatter(
                    [i + rng.uniform(-0.12, 0.12)],
                    [top * 1.08 if failed else p.value],
                    s=150 if p.chosen else 45,
                    color=colours.get(g, "0.3"),
                    marker="x" if failed else "o",
                    edgecolor="black" if p.chosen and not failed else "none",
                    linewidth=1.6 if p.chosen else 0,
                    zorder=3,
                )
        lost = {g: sum(1 for p in points if p.group == g and not math.isfinite(p.value)) for g in groups}
        ax.set_xticks(range(len(groups)), [g + (f"\n{lost[g]} failed" if lost[g] else "") for g in groups])
        low, high = min(finite), max(finite)
        if low > 0 and high / low > 10:
            ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_title(C.wrap(title, 100), loc="left", fontsize=11)
        return C.save(fig, path)
