"""What every figure shares: one canvas (matplotlib's Agg, pyplot's global state never touched), one palette, the
axis words, saving, and a placeholder that says why a figure is missing."""

from __future__ import annotations

import textwrap
from pathlib import Path

import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ganbench import families as fam

BAND = ("pi", 100)  # seaborn: percentile interval 0..100 = min-max over seeds
BAND_NOTE = "line: mean over seeds; band: min–max over seeds"
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


def figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path


def placeholder(path: Path, title: str, message: str) -> Path:
    with sns.axes_style("white"):
        fig = figure(8, 2.2)
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
        return save(fig, path)


def number(v: float) -> str:
    """A number on a figure: whole above 100, 3 significant digits below."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def wrap(text: str, width: int = 100) -> str:
    return "\n".join(textwrap.wrap(text, width))
