"""`ganbench sweep FILE`: plan, show what is left, execute on an executor, summarise."""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from ganbench import runner
from ganbench.config import parse_overrides
from ganbench.errors import ConfigError, guarded
from ganbench.io import write_json
from ganbench.rundir import FINAL, TO_RUN, State, Status
from ganbench.sweep.execute import _now
from ganbench.sweep.executors import EXECUTORS, ExecOptions, _import_ray
from ganbench.sweep.plan import _summary_on_disk, plan_sweep, plan_text, trial_state
from ganbench.sweep.spec import RAY, check_max_retries, load_sweep


def run_trials(
    executor, todo: list, opts: ExecOptions, retried: dict[str, list[str]], label: str = ""
) -> dict[Path, dict]:
    """Run `todo` on an executor, a line on stderr per finished trial and per retry; `retried` collects, per trial
    label, why its worker was lost (once per retry). Ctrl-C stops with exit 130 and says how to go on."""

    def on_retry(trial, n: int, why: str) -> None:
        retried.setdefault(trial.label, []).append(why)
        typer.echo(
            f"{trial.label}: its worker was lost or stopped ({why[:300]}); it runs again from its last "
            f"checkpoint (retry {n} of at most {opts.max_retries})",
            err=True,
        )

    opts = dataclasses.replace(opts, on_retry=on_retry)
    results: dict[Path, dict] = {}
    t0 = time.perf_counter()
    prefix = f"{label} " if label else ""
    try:
        for i, (trial, summary) in enumerate(executor(todo, opts) if todo else [], 1):
            results[trial.run_dir] = summary
            typer.echo(
                f"[{prefix}{i}/{len(todo)}] {trial.label}: {summary.get('status')}"
                f"{' (' + str(summary.get('error')) + ')' if summary.get('error') else ''}"
                f"  {time.perf_counter() - t0:.0f}s",
                err=True,
            )
    except KeyboardInterrupt:
        typer.echo(
            f"\ninterrupted: {len(results)} of {len(todo)} trials {'of ' + label + ' ' if label else ''}"
            "finished. Run the same command again to finish the rest (interrupted trials resume from their "
            "last checkpoint).",
            err=True,
        )
        raise typer.Exit(130) from None
    return results


def retried_text(retried: dict[str, list[str]]) -> str:
    one = len(retried) == 1
    return (
        f"{len(retried)} trial{'' if one else 's'} ran again after {'its' if one else 'their'} worker was lost or "
        "stopped (each attempt is in its trial.json): "
        + ", ".join(f"{label} {len(whys)}x ({_error_class(whys)})" for label, whys in retried.items())
    )


def sweep_command(
    file: Annotated[Path, typer.Argument(help="A sweep file (TOML), e.g. benchmarks/sweeps/smoke.toml.")],
    executor: Annotated[
        str | None,
        typer.Option(
            help=f"Where trials run: {' | '.join(EXECUTORS.names())}. Default: the executor named in the sweep file, else local."
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
            help="At most this many trials at once. Default: local, one per visible GPU (else one); ray, as many as the cluster fits."
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
            help="How often a trial whose worker was lost (killed, out of memory, its node gone) runs again from its checkpoint; 0: never. Default: the sweep file's max_retries, else 3."
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
        sweep = load_sweep(file, parse_overrides(set_))
        if max_retries is not None:
            check_max_retries(max_retries, "--max-retries")
        name = executor or sweep.executor
        run = EXECUTORS[name]
        if ray_address and name != RAY:
            raise ConfigError("--ray-address needs --executor ray")
        out = out or Path("results") / "sweeps" / sweep.name
        trials = plan_sweep(sweep, out)
        states = {t.run_dir: trial_state(t, rerun_diverged) for t in trials}  # refuses changed configs up front
        if dry_run:
            typer.echo(plan_text(trials, states))
            return
        if name == RAY:
            _import_ray()  # the missing-extra message now, not after the plan is written
        todo = [t for t in trials if states[t.run_dir] in TO_RUN]
        write_json(
            out / "sweep.json",
            {
                "sweep": {k: v for k, v in asdict(sweep).items() if k != "plain"}
                | {"variants": list(sweep.variants), "seeds": list(sweep.seeds)},
                "executor": name,
                "command": sys.argv,
                "updated": _now(),
                "trials": [
                    {
                        "variant": t.cfg.variant,
                        "trial": t.tag,
                        "seed": t.cfg.seed,
                        "params": t.params,
                        "run_dir": str(t.run_dir.relative_to(out)),
                    }
                    for t in trials
                ],
            },
        )
        locked = [t for t in trials if states[t.run_dir] == State.LOCKED]
        typer.echo(
            f"sweep {sweep.name}: {len(trials)} trials, {len(todo)} to run, "
            f"{len(trials) - len(todo) - len(locked)} already done; executor {name}; results in {out}/",
            err=True,
        )
        if locked:
            typer.echo(
                f"{len(locked)} trials are being written by another process and are left alone: "
                + ", ".join(t.label for t in locked),
                err=True,
            )
        opts = ExecOptions(
            evaluate=sweep.evaluate,
            max_concurrent=sweep.max_concurrent if max_concurrent is None else max_concurrent,
            cpus_per_trial=cpus_per_trial or sweep.cpus_per_trial,
            gpus_per_trial=sweep.gpus_per_trial if gpus_per_trial is None else gpus_per_trial,
            ray_address=ray_address,
            max_retries=sweep.max_retries if max_retries is None else max_retries,
        )
        retried: dict[str, list[str]] = {}
        results = run_trials(run, todo, opts, retried)
    summaries = []
    for t in trials:
        s = results.get(t.run_dir) or _summary_on_disk(t)
        summaries.append(s | {"variant": f"{t.cfg.variant}/{t.tag}"})
    typer.echo(runner.summary_table(summaries))
    from ganbench.report.sweep import format_sweep_table, sweep_table

    typer.echo("\n" + format_sweep_table(sweep_table(out)))
    typer.echo(f"\nresults: {out}/  (ganbench report {out})")
    if retried:
        typer.echo(retried_text(retried), err=True)
    elsewhere = {t.run_dir for t in locked} | {p for p, s in results.items() if s.get("status") == Status.LOCKED}
    failed = [
        t.label
        for t, s in zip(trials, summaries, strict=True)
        if s.get("status") not in FINAL and t.run_dir not in elsewhere
    ]
    if elsewhere:
        typer.echo(
            f"{len(elsewhere)} trials were left to the process writing them; run the sweep again once it "
            "has finished to include them.",
            err=True,
        )
    if failed:
        typer.echo(
            f"{len(failed)} of {len(trials)} trials failed: {', '.join(failed)}. "
            "Their errors are in summary.json and error.log; run the sweep again to retry them.",
            err=True,
        )
        raise typer.Exit(1)


def _error_class(whys: list[str]) -> str:
    """'WorkerCrashedError' from 'WorkerCrashedError: The worker died ...', each class once, in order."""
    return ", ".join(dict.fromkeys(w.split(":", 1)[0] for w in whys))
