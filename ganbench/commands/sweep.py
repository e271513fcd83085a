"""`ganbench sweep FILE`: parse the options, run the sweep (`ganbench.sweep.run.run_sweep`), print its tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.config import parse_overrides
from ganbench.errors import ConfigError, guarded
from ganbench.execution.driver import Interrupted
from ganbench.execution.executors import EXECUTORS, ExecOptions
from ganbench.execution.runner import check_inputs, pre_flight_note
from ganbench.execution.text import Progress, interrupted_text, retried_text, summary_table
from ganbench.rundir import TO_RUN
from ganbench.spec import LOCAL, RAY, check_max_retries, data_origin
from ganbench.sweep.plan import plan_text
from ganbench.sweep.run import default_out, plan_states, run_sweep
from ganbench.sweep.spec import load_sweep


def sweep_command(
    file: Annotated[Path, typer.Argument(help="A sweep file (TOML), e.g. benchmarks/sweeps/smoke.toml.")],
    executor: Annotated[
        str | None,
        typer.Option(
            help=f"Where trials run: {' | '.join(EXECUTORS.names())}. Default: the executor named in the sweep file, "
            "else local."
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="ray: join this running cluster ('auto' or host:port); default: start a local one."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Results folder; default results/sweeps/<name>.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a setting for every trial: --set data=/datasets/celeba (repeatable)."),
    ] = None,
    max_concurrent: Annotated[
        int | None,
        typer.Option(
            help="At most this many trials at once. Default: local, one per visible GPU (else one); ray, as many as "
            "the cluster fits."
        ),
    ] = None,
    cpus_per_trial: Annotated[
        float | None, typer.Option(help="CPUs (and torch threads) per trial. Default: ray 1; local all cores.")
    ] = None,
    gpus_per_trial: Annotated[
        float | None,
        typer.Option(help="ray: GPUs per trial (0.5 packs two trials on a GPU). Default: 1 where there are GPUs."),
    ] = None,
    max_retries: Annotated[
        int | None,
        typer.Option(
            help="How often a trial whose worker was lost (killed, out of memory, its node gone) runs again from its "
            "checkpoint; 0: never. Default: the sweep file's max_retries, else 3."
        ),
    ] = None,
    rerun_diverged: Annotated[
        bool, typer.Option("--rerun-diverged", help="Run diverged trials again (from their last checkpoint).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the trials, and what is left of them, and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Run a sweep (variants x settings x seeds), skipping finished trials and resuming interrupted ones."""
    with guarded(debug):
        overrides = parse_overrides(set_)
        sweep = load_sweep(file, overrides)
        if max_retries is not None:
            check_max_retries(max_retries, "--max-retries")
        name = executor or sweep.executor
        EXECUTORS[name]  # an unknown name fails here, with the valid ones
        if ray_address and name != RAY:
            raise ConfigError("--ray-address needs --executor ray")
        out = out or default_out(sweep)
        if dry_run:
            trials, states = plan_states(sweep, out, rerun_diverged)
            typer.echo(plan_text(trials, states))
            todo = [t.cfg for t in trials if states[t.run_dir] in TO_RUN]
            note = pre_flight_note(lambda: check_inputs(todo, sweep.evaluate, data_origin(file, overrides)))
            if name == LOCAL and note:
                typer.echo(note)
            return
        opts = ExecOptions(
            evaluate=sweep.evaluate,
            max_concurrent=sweep.max_concurrent if max_concurrent is None else max_concurrent,
            cpus_per_trial=cpus_per_trial or sweep.cpus_per_trial,
            gpus_per_trial=sweep.gpus_per_trial if gpus_per_trial is None else gpus_per_trial,
            ray_address=ray_address,
            max_retries=sweep.max_retries if max_retries is None else max_retries,
            data_from=data_origin(file, overrides),
        )
        progress = Progress()
        try:
            result = run_sweep(sweep, out, name, opts, progress, rerun_diverged)
        except Interrupted as e:
            typer.echo(interrupted_text(e), err=True)
            raise typer.Exit(130) from None
    typer.echo(summary_table(result.summaries))
    from ganbench.report.sweep import format_sweep_table, sweep_table

    typer.echo("\n" + format_sweep_table(sweep_table(out)))
    typer.echo(f"\nresults: {out}/  (ganbench report {out})")
    if progress.retried:
        typer.echo(retried_text(progress.retried), err=True)
    if result.elsewhere:
        typer.echo(
            f"{len(result.elsewhere)} trials were left to the process writing them; run the sweep again once it "
            "has finished to include them.",
            err=True,
        )
    if result.failed:
        typer.echo(
            f"{len(result.failed)} of {len(result.trials)} trials failed: {', '.join(result.failed)}. "
            "Their errors are in summary.json and error.log; run the sweep again to retry them.",
            err=True,
        )
        raise typer.Exit(1)
