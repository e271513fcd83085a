"""Training dynamics and cost: G and D losses, mean D outputs (one panel per group, each objective in its own
units), throughput and peak memory per group."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import seaborn as sns

from ganbench import families as fam
from ganbench.report.figures import canvas as C

SERIES_COLOURS = {"D loss": "#d62728", "G loss": "#1f77b4", "D(real)": "#2ca02c", "D(fake)": "#9467bd"}


def panels(
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
        C.placeholder(path, title, missing)
        return [f"missing: {missing}; {path.name} is a placeholder"]
    ncols = min(3, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        fig = C.figure(4.4 * ncols, 3.4 * nrows + 0.5)
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
                errorbar=C.BAND,
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
        fig.suptitle(f"{title}\n{C.BAND_NOTE}; x: {C.KIMG_LABEL}", fontsize=11)
        C.save(fig, path)
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
    return panels(
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
    return panels(
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
        C.placeholder(path, "Throughput", "no throughput or memory records in these results")
        return ["missing: no throughput records; throughput.png is a placeholder"]
    kinds = sorted({str(k) for k in data["peak_mem_kind"].dropna()}) or ["peak memory"]
    n = max(len(speed["group"].unique()), len(memory["group"].unique()), 1)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        fig = C.figure(11, 1.2 + 0.45 * n)
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
        C.save(fig, path)
    return []
