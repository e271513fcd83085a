"""`ganbench run`: parse the options, then `ganbench.execution.runs`: settings from the options and the device's
defaults, variants x seeds as trials, run one after another; print the summary table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.commands.options import choices, csv
from ganbench.commands.options import seeds as parse_seeds
from ganbench.config import CHOICES, Config, parse_overrides
from ganbench.data import DATASETS
from ganbench.errors import guarded
from ganbench.execution.driver import Event, Skipped
from ganbench.rundir import Status


def _say_skipped(event: Event) -> None:
    """`ganbench run` names the runs it skips (completed before); it prints no line per finished run."""
    from ganbench.execution.text import event_line

    if isinstance(event, Skipped):
        typer.echo(event_line(event), err=True)


def run(
    variants: Annotated[
        str, typer.Option(help="Comma-separated variant names or paths to .toml recipes.")
    ] = "dcgan,wgan-gp,vae",
    dataset: Annotated[str, typer.Option(help=choices(DATASETS.names()))] = Config.dataset,
    data: Annotated[str, typer.Option(help="Data set folder (not needed for synthetic).")] = Config.data,
    resolution: Annotated[
        int | None,
        typer.Option(help="Image size: 32, 64, 128, ... [default: 32 on a CPU, 64 on a GPU]", show_default=False),
    ] = None,
    channels: Annotated[int, typer.Option(help="3 (RGB) or 1 (grayscale).")] = Config.channels,
    crop: Annotated[
        int, typer.Option(help="Centre-crop size before resizing; 0 = the data set's default.")
    ] = Config.crop,
    max_images: Annotated[
        int, typer.Option(help="Use at most this many training images; 0 = all.")
    ] = Config.max_images,
    budget: Annotated[
        str | None,
        typer.Option(
            help="Same for every variant: 20kimg (real images shown), 5epochs (passes over the data), 500steps "
            "(G steps), 10min. [default: 80kimg on a CPU, 1000kimg on a GPU]",
            show_default=False,
        ),
    ] = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0",
    device: Annotated[str, typer.Option(help=choices(CHOICES["device"]))] = Config.device,
    precision: Annotated[str, typer.Option(help=choices(CHOICES["precision"]))] = Config.precision,
    out: Annotated[Path | None, typer.Option(help="Results folder; default results/<dataset>-<resolution>.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override any config field: --set lr_d=5e-5 (repeatable).")
    ] = None,
    evaluate: Annotated[bool, typer.Option("--eval/--no-eval", help="Compute FID/KID/precision/recall.")] = True,
    eval_every: Annotated[
        float | None,
        typer.Option(
            help="Evaluate every this many kimg during training; 0 = at the end only. "
            "[default: 40 on a CPU, 250 on a GPU]",
            show_default=False,
        ),
    ] = None,
    eval_samples: Annotated[
        int,
        typer.Option(
            help="Samples per final evaluation (generated and reference); 0 = the device's default: 100 on a CPU "
            "(with 50-sample curve points), 10000 on a GPU (2000)."
        ),
    ] = 0,
    metrics: Annotated[
        str,
        typer.Option(
            help="Metrics by name, comma-separated (see `ganbench list`): fid, fidinf, kid, pr, dc (density/coverage), "
            "c2st, modes (Stacked MNIST)."
        ),
    ] = Config.metrics,
    tensorboard: Annotated[
        bool,
        typer.Option(
            "--tensorboard",
            help="Also mirror tick and evaluation records to <run>/tensorboard/ (needs the tensorboard extra).",
        ),
    ] = False,
    tick: Annotated[
        float, typer.Option(help="Log, sample grid and divergence check every this many kimg.")
    ] = Config.tick_kimg,
    inception_weights: Annotated[
        str,
        typer.Option(
            envvar="GANBENCH_INCEPTION_WEIGHTS",
            help="torch-fidelity Inception weights file; default: the bundled standard weights.",
        ),
    ] = Config.inception_weights,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Continue interrupted runs from their last checkpoint.")
    ] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved configs and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Train each variant under the same budget and write results to <out>/<variant>/seed<k>/."""
    import json

    from ganbench.execution import runs
    from ganbench.execution.text import summary_table

    with guarded(debug):
        options = {
            "dataset": dataset,
            "data": data,
            "resolution": resolution,
            "channels": channels,
            "crop": crop,
            "max_images": max_images,
            "budget": budget,
            "device": device,
            "precision": precision,
            "eval_every_kimg": eval_every,
            "eval_samples": eval_samples if eval_samples > 0 else None,
            "tick_kimg": tick,
            "inception_weights": inception_weights,
            "metrics": metrics,
            "tensorboard": tensorboard or None,
        }
        chosen = runs.run_settings(options, parse_overrides(set_))
        out = out or runs.default_out(dataset, chosen.settings)
        trials = runs.plan_runs(csv(variants), parse_seeds(seeds), out, chosen.settings, chosen.defaults)
        if dry_run:
            if chosen.note():
                typer.echo("ganbench: " + chosen.note(), err=True)
            typer.echo(json.dumps([{"run_dir": str(t.run_dir), **t.cfg.to_dict()} for t in trials], indent=2))
            return
        summaries = runs.run_in_order(trials, evaluate, resume, on_event=_say_skipped)
    typer.echo(summary_table(summaries))
    typer.echo(f"\nresults: {out}/  (ganbench report {out})")
    if chosen.note():  # at the end, not before: a refused command stays one line on stderr
        typer.echo(chosen.note())
    bad = [s for s in summaries if s.get("status") != Status.COMPLETED]
    if bad:
        typer.echo(
            f"{len(bad)} of {len(summaries)} runs did not complete: "
            + ", ".join(f"{s['variant']}/seed{s['seed']} {s['status']}" for s in bad),
            err=True,
        )
        raise typer.Exit(1)
