"""`ganbench selftest`: this machine's fast path against the plain CPU path (`ganbench.selftest.run_selftest`)."""

from __future__ import annotations

from typing import Annotated

import typer

from ganbench.commands.options import choices
from ganbench.config import CHOICES, Config
from ganbench.errors import guarded


def selftest(
    device: Annotated[str, typer.Option(help=choices(CHOICES["device"]))] = Config.device,
    precision: Annotated[str, typer.Option(help=choices(CHOICES["precision"]))] = Config.precision,
    fast: Annotated[
        bool, typer.Option("--fast/--no-fast", help="channels_last and fused Adam on the checked device.")
    ] = True,
    compile_: Annotated[
        bool, typer.Option("--compile/--no-compile", help="torch.compile G and D on the checked device.")
    ] = False,
    steps: Annotated[int, typer.Option(help="Training steps per arm (the first is warm-up, not timed).")] = 10,
    resolution: Annotated[int, typer.Option(help="Image size.")] = 64,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed of the shared initial weights and batches.")] = 0,
    eval_samples: Annotated[
        int | None,
        typer.Option(
            help="Images per set for the evaluation check (Inception and every registered metric on DEVICE against "
            "the CPU); 0 skips it. [default: a few hundred: selftest.EVAL_SAMPLES]",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug")] = False,
) -> None:
    """Check this machine's fast path: a few dcgan steps on DEVICE and on the plain CPU path from the same weights
    and batches, then one evaluation on each; prints images/s for each and their agreement; exits 1 when they
    disagree."""
    from ganbench.selftest import run_selftest

    with guarded(debug):
        result = run_selftest(device, precision, fast, compile_, steps, resolution, batch_size, seed, eval_samples)
    typer.echo(result.text())
    if not result.ok:
        raise typer.Exit(1)
