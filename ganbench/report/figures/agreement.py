"""Two scales side by side: each group's place on each study's own scale (0: real vs real, 1: random noise)."""

from __future__ import annotations

import math
from pathlib import Path

import seaborn as sns
from matplotlib.ticker import FuncFormatter

from ganbench.report.figures import canvas as C


def scale_positions(
    labels: tuple[str, str], position: dict[str, tuple[float, float]], colours: dict, path: Path
) -> Path:
    """Two studies side by side: each variant's place on each study's own scale (0: as close as two sets of real
    images, 1: random noise), one line per variant, so a reader sees whether the order and the gaps carry over."""
    keep = {v: p for v, p in position.items() if all(math.isfinite(x) and x > 0 for x in p)}
    if not keep:
        return C.placeholder(path, "Scale positions", "no study has both a random floor and a real-vs-real line")
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = C.figure(7.5, 4.8)
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
        return C.save(fig, path)
