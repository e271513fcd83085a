"""The search, per variant: every candidate's score at every rung (does a short run predict a long one?), and the
expected best score against the number of candidates tried, with its bootstrap band (Dodge et al. 2019; Lucic et
al. 2018): how the answer depends on the tuning budget."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import seaborn as sns

from ganbench.report.figures import canvas as C


def rungs(scores: dict[str, list[list[float]]], rung_names: list[str], colours: dict, key: str, path: Path) -> Path:
    """`scores`: variant -> one list per candidate of its score at each rung (NaN where it did not run there). One
    panel per variant, a line per candidate."""
    variants = list(scores)
    ncols = min(3, max(1, len(variants)))
    nrows = math.ceil(len(variants) / ncols)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        fig = C.figure(4.2 * ncols, 3.2 * nrows + 0.6)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, v in zip(axes, variants, strict=False):
            for cand in scores[v]:
                y = np.array(cand, dtype=float)
                ax.plot(range(len(rung_names)), y, marker="o", ms=4, lw=1, alpha=0.7, color=colours.get(v, "0.3"))
            ax.set_xticks(range(len(rung_names)), rung_names)
            ax.set_title(v, fontsize=11)
            ax.set_ylabel(key)
        for ax in axes[len(variants) :]:
            ax.set_axis_off()
        fig.suptitle(f"Every candidate's {key} at every rung (a line per candidate; lower is better)", fontsize=11)
        return C.save(fig, path)


def best_of_k(curves: dict[str, tuple], colours: dict, key: str, path: Path) -> Path:
    """`curves`: variant -> (curve, band low, band high) for k = 1 .. n candidates."""
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = C.figure(9, 5)
        ax = fig.add_subplot()
        for v, (curve, low, high) in curves.items():
            k = np.arange(1, len(curve) + 1)
            colour = colours.get(v, "0.3")
            ax.plot(k, curve, marker="o", ms=4, color=colour, label=v)
            ax.fill_between(k, low, high, color=colour, alpha=0.12, lw=0)
        ax.set_xlabel("candidates tried (k)")
        ax.set_ylabel(f"expected best {key} (lower is better)")
        ax.set_title(
            C.wrap(
                f"Expected best {key} after k candidates drawn from those tried (Dodge et al. 2019), 95% bootstrap "
                "band over the candidates",
                100,
            ),
            loc="left",
            fontsize=11,
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
        return C.save(fig, path)
