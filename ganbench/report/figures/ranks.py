"""Rank against budget: each group's rank at each evaluated budget, with the ranks its pairwise tests allow."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import seaborn as sns

from ganbench.report.figures import canvas as C


def rank_curves(budgets: list, colours: dict, key: str, path: Path) -> Path:
    """Each variant's rank (by mean over seeds) at each evaluated budget; the bars span the ranks its pairwise
    tests allow (`ganbench.report.ranks`). `budgets`: ranks.BudgetRanks, in budget order."""
    groups = list(dict.fromkeys(g for b in reversed(budgets) for g in b.order))  # the last budget's order first
    kimgs = [b.kimg for b in budgets]
    step = 0.012 * ((max(kimgs) - min(kimgs)) or 1.0)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = C.figure(9.5, 1.8 + 0.42 * len(groups))
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
        ax.set_xlabel(C.KIMG_LABEL)
        ax.set_ylabel("rank (1 = best)")
        ax.set_title(
            "\n".join(
                textwrap.wrap(
                    f"Rank by {key} (mean over seeds) at each evaluated budget; bars: the ranks the pairwise tests "
                    "allow "
                    "(Welch, Holm, α 0.05)",
                    95,
                )
            ),
            loc="left",
            fontsize=11,
        )
        ax.legend(title="variant", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
        return C.save(fig, path)
