"""`ganbench study FILE`: parse the options, call `ganbench.study.run_study`, say what happened."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ganbench.config import parse_overrides
from ganbench.errors import guarded
from ganbench.execution import Interrupted
from ganbench.execution.executors import EXECUTORS
from ganbench.execution.text import interrupted_text, retried_text
from ganbench.spec import MAX_RETRIES, check_max_retries, data_origin
from ganbench.study.run import Event, StudyOptions, run_study
from ganbench.study.spec import load_study


def _echo(event: Event) -> None:
    typer.echo(event.text, err=event.kind != "plan")


def study_command(
    file: Annotated[Path, typer.Argument(help="A study file (TOML), e.g. benchmarks/studies/celeba32-v2.toml.")],
    out: Annotated[Path | None, typer.Option(help="Results folder; default results/studies/<name>.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a setting for every trial: --set data=/datasets/celeba (repeatable)."),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(help=f"Where trials run: {' | '.join(EXECUTORS.names())}. Default: the study file's, else local."),
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="ray: join this running cluster ('auto' or host:port).")
    ] = None,
    max_concurrent: Annotated[
        int | None,
        typer.Option(help="At most this many trials at once (default: the study file's; see `ganbench sweep`)."),
    ] = None,
    cpus_per_trial: Annotated[
        float | None,
        typer.Option(
            help="CPUs (and torch threads) per trial (default: the study file's). On a shared machine 1 thread per "
            "trial avoids threads spinning on each other."
        ),
    ] = None,
    max_retries: Annotated[
        int,
        typer.Option(
            help="How often a trial whose worker was lost (killed, out of memory, its node gone) runs again from its "
            "checkpoint; 0: never."
        ),
    ] = MAX_RETRIES,
    stage: Annotated[
        str | None, typer.Option(help="Stop once this stage (by name, e.g. 'search') has run and been scored.")
    ] = None,
    allow_mixed_arithmetic: Annotated[
        bool,
        typer.Option(
            "--allow-mixed-arithmetic",
            help="Go on where this host would train in other arithmetic than the study's finished trials, although "
            "the study pins its precision.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the stages, what is left of them, the cost and the power calculation, and exit."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Run a study: its stages one after the other (candidates searched on a selection split, successive halving,
    then the chosen settings and the recipes over seeds on a split never used for selection)."""
    with guarded(debug):
        overrides = parse_overrides(set_)
        study = load_study(file, overrides)
        check_max_retries(max_retries, "--max-retries")
        options = StudyOptions(
            max_concurrent=max_concurrent,
            cpus_per_trial=cpus_per_trial,
            ray_address=ray_address,
            max_retries=max_retries,
            stop_after=stage,
            dry_run=dry_run,
            allow_mixed_arithmetic=allow_mixed_arithmetic,
            file=str(file),
            command=tuple(sys.argv),
            data_from=data_origin(file, overrides),
        )
        out = out or Path("results") / "studies" / study.name
        try:
            result = run_study(study, out, executor, options, _echo)
        except Interrupted as e:
            typer.echo(interrupted_text(e), err=True)
            raise typer.Exit(130) from None
    if dry_run:
        return
    typer.echo(f"\nresults: {out}/  (ganbench report {out})", err=True)
    if result.retried:
        typer.echo(retried_text(result.retried), err=True)
    if result.failed:
        typer.echo(
            f"{len(result.failed)} of {len(result.trials)} trials did not finish: {', '.join(result.failed)}. Their "
            "errors are in summary.json and error.log; run the same command again to retry them.",
            err=True,
        )
    if result.failed or result.waiting:
        raise typer.Exit(1)
