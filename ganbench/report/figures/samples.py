"""The sample sheet: grids side by side, real images first."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import seaborn as sns

from ganbench.report.figures import canvas as C


def sample_sheet(panels: list[tuple[Path | None, str, str]], path: Path) -> Path:
    """Grids side by side (real images first): (image or None, title, why it is missing)."""
    from PIL import Image

    n = len(panels)  # one row up to 5 grids, else rows as even as they can be, at most 5 wide
    ncols = n if n <= 5 else math.ceil(n / math.ceil(n / 5))
    nrows = math.ceil(n / ncols)
    with sns.axes_style("white"):
        fig = C.figure(3.6 * ncols, 4.0 * nrows)
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
        return C.save(fig, path)
