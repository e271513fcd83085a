"""`ganbench study FILE`: plan both stages, print the cost, run stage 1, select, run stage 2, summarise."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from ganbench.config import parse_overrides
from ganbench.errors import ConfigError, guarded
from ganbench.execution.driver import Interrupted, run_trials
from ganbench.execution.execute import now
from ganbench.execution.executors import EXECUTORS, MAX_RETRIES, ExecOptions, check_max_retries, import_ray
from ganbench.execution.text import Progress, interrupted_text, retried_text
from ganbench.execution.trial import Trial, summary_on_disk, trial_state
from ganbench.io import write_json
from ganbench.rundir import FINAL, TO_RUN, State
from ganbench.study import plan as P
from ganbench.study.spec import Study, load_study
from ganbench.sweep.plan import plan_text


def _record(
    out: Path, study: Study, file: Path, executor: str, search: list[Trial], final: list[Trial] | None, est: dict
) -> None:
    trial_rows = lambda ts: [  # noqa: E731
        {
            "variant": t.cfg.variant,
            "trial": t.tag,
            "seed": t.cfg.seed,
            "params": t.params,
            "run_dir": str(t.run_dir.relative_to(out)),
        }
        for t in ts
    ]
    write_json(
        out / P.STUDY,
        {
            "study": {k: v for k, v in asdict(study).items()} | {"file": str(file), "metric_name": study.metric_name()},
            "executor": executor,
            "command": sys.argv,
            "updated": now(),
            "estimate": est,
            "stages": {P.SEARCH: trial_rows(search), P.FINAL_STAGE: trial_rows(final or [])},
        },
    )


def _run_stage(executor: str, todo: list[Trial], opts: ExecOptions, progress: Progress, label: str) -> dict:
    progress.label = label
    try:
        return run_trials(executor, todo, opts, progress)
    except Interrupted as e:
        typer.echo(interrupted_text(e, label), err=True)
        raise typer.Exit(130) from None


def _numerics_note(executor: str, trials: list[Trial], states: dict[Path, str]) -> None:
    note = P.numerics_note(trials, states) if executor == "local" else None  # ray: the trials run elsewhere
    if note:
        typer.echo(note, err=True)


def study_command(
    file: Annotated[Path, typer.Argument(help="A study file (TOML), e.g. benchmarks/studies/celeba32.toml.")],
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
            help="CPUs (and torch threads) per trial (default: the study file's). On a shared machine 1 thread per trial avoids threads spinning on each other."
        ),
    ] = None,
    max_retries: Annotated[
        int,
        typer.Option(
            help="How often a trial whose worker was lost (killed, out of memory, its node gone) runs again from its checkpoint; 0: never."
        ),
    ] = MAX_RETRIES,
    stage: Annotated[
        str, typer.Option(help="Run 'all' (stage 1, selection, stage 2), or only 'search' (stage 1).")
    ] = "all",
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print both stages, what is left of them and the estimated cost, and exit."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Run a two-stage study: the same search budget for every variant (stage 1, selection split), then the chosen
    settings and the recipes over seeds at the full budget on a split never used for selection (stage 2)."""
    with guarded(debug):
        study = load_study(file, parse_overrides(set_))
        check_max_retries(max_retries, "--max-retries")
        if stage not in ("all", P.SEARCH):
            raise ConfigError(f"--stage must be 'all' or '{P.SEARCH}', got '{stage}'")
        name = executor or study.executor
        EXECUTORS[name]  # an unknown name fails here, with the valid ones
        out = out or Path("results") / "studies" / study.name
        P.check_baselines(study)
        search = P.plan_search(study, out)
        states = {t.run_dir: trial_state(t) for t in search}  # refuses changed configs up front
        selection = P.select(study, search)
        final = P.plan_final(study, out, selection) if all(s["chosen"] for s in selection.values()) else None
        if final is not None:
            states |= {t.run_dir: trial_state(t) for t in final}
        est = P.estimate(study, search, final, states, P.measured_rates(search + (final or [])))
        typer.echo(
            f"study {study.name}: {len(study.variants)} variants x {study.trials} draws (stage 1, "
            f"{study.search.budget}, split {study.search.split}); stage 2 {study.final.budget}, split "
            f"{study.final.split}, tuned seeds {list(study.final.seeds)}, recipe seeds "
            f"{list(study.recipe_seeds)}, baselines {', '.join(study.baselines)}\n" + P.estimate_text(est),
            err=True,
        )
        if dry_run:
            typer.echo(plan_text(search, states))
            if final is not None:
                typer.echo("\n" + plan_text(final, states))
            else:
                typer.echo("\nstage 2: planned once stage 1 has finished for every variant")
            return
        if name == "ray":
            import_ray()
        opts = ExecOptions(
            evaluate=True,
            max_concurrent=study.max_concurrent if max_concurrent is None else max_concurrent,
            cpus_per_trial=cpus_per_trial or study.cpus_per_trial,
            gpus_per_trial=study.gpus_per_trial,
            ray_address=ray_address,
            max_retries=max_retries,
        )
        progress = Progress()
        _record(out, study, file, name, search, final, est)
        todo = lambda trials: [t for t in trials if states[t.run_dir] in TO_RUN]  # noqa: E731
        typer.echo(f"stage 1: {len(search)} trials, {len(todo(search))} to run, executor {name}", err=True)
        _numerics_note(name, search, states)
        done = _run_stage(name, todo(search), opts, progress, "stage 1")
        selection = P.select(study, search)
        write_json(
            out / P.SELECTION,
            {
                "study": study.name,
                "metric": study.metric_name(),
                "split": study.search.split,
                "updated": now(),
                "variants": selection,
            },
        )
        for variant, s in selection.items():
            if s["chosen"]:
                typer.echo(
                    f"selected for {variant}: {s['chosen']['tag']} ({s['metric']} {s['chosen']['value']:.4g} "
                    f"on {study.search.split})",
                    err=True,
                )
        waiting = {v: s["waiting"] for v, s in selection.items() if not s["chosen"]}
        if waiting:
            typer.echo(
                "stage 2 waits: stage 1 has not finished for "
                + "; ".join(f"{v} ({', '.join(w)})" for v, w in waiting.items())
                + ". Run the same command again.",
                err=True,
            )
            raise typer.Exit(1)
        if stage == P.SEARCH:
            return
        final = P.plan_final(study, out, selection)
        states |= {t.run_dir: trial_state(t) for t in final}
        _record(
            out,
            study,
            file,
            name,
            search,
            final,
            P.estimate(study, search, final, states, P.measured_rates(search + final)),
        )
        typer.echo(f"stage 2: {len(final)} trials, {len(todo(final))} to run, executor {name}", err=True)
        _numerics_note(name, final, states)
        done |= _run_stage(name, todo(final), opts, progress, "stage 2")
    everything = search + final
    failed = [
        t.label
        for t in everything
        if (done.get(t.run_dir) or summary_on_disk(t)).get("status") not in FINAL
        and states.get(t.run_dir) != State.LOCKED
    ]
    typer.echo(f"\nresults: {out}/  (ganbench report {out})", err=True)
    if progress.retried:
        typer.echo(retried_text(progress.retried), err=True)
    if failed:
        typer.echo(
            f"{len(failed)} of {len(everything)} trials did not finish: {', '.join(failed)}. Their errors are "
            "in summary.json and error.log; run the same command again to retry them.",
            err=True,
        )
        raise typer.Exit(1)
