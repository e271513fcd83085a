"""`ganbench sample`: a grid of samples from a run's generator (`ganbench.sampling.sample_grid`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.commands.options import choices
from ganbench.config import CHOICES, Config
from ganbench.errors import ConfigError, guarded


def sample(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (<out>/<variant>/seed<k>).")],
    n: Annotated[int, typer.Option("-n", help="Number of images.")] = 64,
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG file for the grid.")] = Path("grid.png"),
    seed: Annotated[int, typer.Option(help="Noise seed (default: the shared evaluation noise).")] = -1,
    device: Annotated[str, typer.Option(help=choices(CHOICES["device"]))] = Config.device,
    ema: Annotated[
        bool, typer.Option("--ema", help="Draw from the EMA of G (runs with ema_half_life_kimg > 0).")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug")] = False,
) -> None:
    """Draw n samples from a run's generator (G as trained, or its EMA) into one grid PNG."""
    from ganbench.device import pick_device
    from ganbench.sampling import EVAL_SEED, sample_grid

    with guarded(debug):
        if n < 1:
            raise ConfigError("-n must be at least 1")
        try:
            sample_grid(run_dir, n, output, pick_device(device), seed=EVAL_SEED if seed < 0 else seed, ema=ema)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    typer.echo(str(output))
