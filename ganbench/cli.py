"""The `ganbench` command line. Choices come from the registries; errors are one line (use --debug for more)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ganbench.config import CHOICES, Config, parse_overrides
from ganbench.data import DATASETS
from ganbench.errors import ConfigError, guarded
from ganbench.families import FAMILIES
from ganbench.rundir import Status

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="ganbench: compare GAN objectives on one DCGAN backbone under one budget.",
)


def _choices(names) -> str:
    return " | ".join(names)


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in _csv(text)]
    except ValueError:
        raise ConfigError(f"--seeds expects integers separated by commas, for example 0,1,2 (got '{text}')") from None


@app.command()
def run(
    variants: Annotated[
        str, typer.Option(help="Comma-separated variant names or paths to .toml recipes.")
    ] = "dcgan,wgan-gp,vae",
    dataset: Annotated[str, typer.Option(help=_choices(DATASETS.names()))] = Config.dataset,
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
            help="Same for every variant: 20kimg (real images shown), 5epochs (passes over the data), 500steps (G steps), 10min. [default: 80kimg on a CPU, 1000kimg on a GPU]",
            show_default=False,
        ),
    ] = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0",
    device: Annotated[str, typer.Option(help=_choices(CHOICES["device"]))] = Config.device,
    precision: Annotated[str, typer.Option(help=_choices(CHOICES["precision"]))] = Config.precision,
    out: Annotated[Path | None, typer.Option(help="Results folder; default results/<dataset>-<resolution>.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override any config field: --set lr_d=5e-5 (repeatable).")
    ] = None,
    evaluate: Annotated[bool, typer.Option("--eval/--no-eval", help="Compute FID/KID/precision/recall.")] = True,
    eval_every: Annotated[
        float | None,
        typer.Option(
            help="Evaluate every this many kimg during training; 0 = at the end only. [default: 40 on a CPU, 250 on a GPU]",
            show_default=False,
        ),
    ] = None,
    eval_samples: Annotated[
        int,
        typer.Option(
            help="Samples per final evaluation (generated and reference); 0 = the device's default: 100 on a CPU (with 50-sample curve points), 10000 on a GPU (2000)."
        ),
    ] = 0,
    metrics: Annotated[
        str,
        typer.Option(
            help="Metrics by name, comma-separated (see `ganbench list`): fid, fidinf, kid, pr, dc (density/coverage), c2st."
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

    from ganbench import runner
    from ganbench.sweep import plan_runs, trial_state
    from ganbench.sweep.executors import run_plans

    with guarded(debug):
        from ganbench.device import NETWORK_DEFAULT_KEYS, pick_device, run_defaults

        auto = run_defaults(pick_device(device))  # what the user does not give, sized for the device
        overrides = parse_overrides(set_)
        settings = {
            "dataset": dataset,
            "data": data,
            "resolution": resolution or auto["resolution"],
            "channels": channels,
            "crop": crop,
            "max_images": max_images,
            "budget": budget or auto["budget"],
            "device": device,
            "precision": precision,
            "eval_every_kimg": auto["eval_every_kimg"] if eval_every is None else eval_every,
            "eval_samples": eval_samples if eval_samples > 0 else auto["eval_samples"],
            "tick_kimg": tick,
            "inception_weights": inception_weights,
            "metrics": metrics,
            "tensorboard": tensorboard or None,
        }
        if eval_samples <= 0:  # the device's curve points come with the device's evaluation size
            settings["eval_samples_during"] = auto["eval_samples_during"]
        defaults = {k: auto[k] for k in NETWORK_DEFAULT_KEYS}  # under each recipe: a recipe's own widths win
        used = [
            k
            for k, given in (
                ("resolution", resolution),
                ("budget", budget),
                ("eval_every_kimg", eval_every),
                ("eval_samples", eval_samples or None),
            )
            if given is None and k not in overrides
        ]
        used += [k for k in defaults if k not in overrides]
        settings = {k: v for k, v in settings.items() if k not in overrides}
        defaults = {k: v for k, v in defaults.items() if k not in overrides}
        res = overrides.get("resolution", settings.get("resolution"))
        out = out or Path("results") / f"{dataset}-{res}"
        shown = {**settings, **defaults}
        trials = plan_runs(_csv(variants), _seeds(seeds), out, settings, overrides, defaults)
        note = (
            "ganbench: device defaults (give them to change): " + ", ".join(f"{k}={shown[k]}" for k in used)
            if used
            else ""
        )
        if dry_run:
            if note:
                typer.echo(note, err=True)
            typer.echo(json.dumps([{"run_dir": str(t.run_dir), **t.cfg.to_dict()} for t in trials], indent=2))
            return
        states = {t.run_dir: trial_state(t, resume=resume) for t in trials}  # refuses changed configs, locks
        summaries = run_plans(trials, states, evaluate=evaluate, resume=resume)
    typer.echo(runner.summary_table(summaries))
    typer.echo(f"\nresults: {out}/  (ganbench report {out})")
    if note:  # at the end, not before: a refused command stays one line on stderr
        typer.echo(note.removeprefix("ganbench: "))
    bad = [s for s in summaries if s.get("status") != Status.COMPLETED]
    if bad:
        typer.echo(
            f"{len(bad)} of {len(summaries)} runs did not complete: "
            + ", ".join(f"{s['variant']}/seed{s['seed']} {s['status']}" for s in bad),
            err=True,
        )
        raise typer.Exit(1)


@app.command("list")
def list_(
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """List variants, families, objectives, penalties, optimisers, metrics and data sets."""
    import json

    typer.echo(json.dumps(catalogue(), indent=2) if json_out else _catalogue_text(catalogue()))


def catalogue() -> dict[str, list[dict[str, str]]]:
    """Every registered name users can choose, by kind, each with a line saying what it is (from the registries)."""
    import ganbench.data as d
    from ganbench import objectives, optimizers, penalties
    from ganbench.config import load_recipe, variant_names
    from ganbench.data import DATASETS
    from ganbench.metrics.evaluator import DEFAULT_METRICS, METRICS

    notes = {line.split()[0]: line.strip() for line in (d.__doc__ or "").splitlines()[3:9] if line.strip()}

    def recipe(name: str) -> dict[str, str]:
        r = load_recipe(name)
        return {
            "name": name,
            "summary": r.get("description", ""),
            **{k: str(r[k]) for k in ("family", "objective", "penalty") if k in r},
        }

    return {
        "variants": [recipe(n) for n in variant_names()],
        "families": [{"name": n, "summary": f.summary} for n, f in FAMILIES.items()],
        "objectives": [{"name": n, "summary": o.summary, "paper": o.paper} for n, o in objectives.OBJECTIVES.items()],
        "penalties": [{"name": n, "summary": p.summary, "paper": p.paper} for n, p in penalties.PENALTIES.items()],
        "optimizers": [{"name": n, "summary": o.summary} for n, o in optimizers.OPTIMIZERS.items()],
        "metrics": [{"name": n, "summary": m.summary, "default": n in DEFAULT_METRICS} for n, m in METRICS.items()],
        "datasets": [{"name": n, "summary": notes.get(n, n).removeprefix(n).strip()} for n in DATASETS.names()],
    }


def _catalogue_text(cat: dict[str, list[dict]]) -> str:
    lines = []
    for kind, entries in cat.items():
        lines.append(f"{kind}:")
        for e in entries:
            extra = f"  [{e['paper']}]" if e.get("paper") else ""
            extra += "  (default)" if e.get("default") else ""
            lines.append(f"  {e['name']:<14} {e['summary']}{extra}")
    lines.append("penalties add up with '+' (penalty=r1+r2); metrics are chosen with --metrics fid,kid,c2st")
    return "\n".join(lines)


@app.command()
def sample(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (<out>/<variant>/seed<k>).")],
    n: Annotated[int, typer.Option("-n", help="Number of images.")] = 64,
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG file for the grid.")] = Path("grid.png"),
    seed: Annotated[int, typer.Option(help="Noise seed (default: the shared evaluation noise).")] = -1,
    device: Annotated[str, typer.Option(help=_choices(CHOICES["device"]))] = Config.device,
    ema: Annotated[
        bool, typer.Option("--ema", help="Draw from the EMA of G (runs with ema_half_life_kimg > 0).")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug")] = False,
) -> None:
    """Draw n samples from a run's generator (G as trained, or its EMA) into one grid PNG."""
    import math

    from torchvision.utils import save_image

    from ganbench.device import pick_device
    from ganbench.train import EVAL_SEED, load_sampler

    with guarded(debug):
        if n < 1:
            raise ConfigError("-n must be at least 1")
        try:
            _, draw = load_sampler(run_dir, pick_device(device), seed=EVAL_SEED if seed < 0 else seed, ema=ema)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        output.parent.mkdir(parents=True, exist_ok=True)
        save_image(draw(n), output, nrow=max(1, int(math.ceil(math.sqrt(n)))), normalize=True, value_range=(-1, 1))
    typer.echo(str(output))


@app.command()
def selftest(
    device: Annotated[str, typer.Option(help=_choices(CHOICES["device"]))] = Config.device,
    precision: Annotated[str, typer.Option(help=_choices(CHOICES["precision"]))] = Config.precision,
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
            help="Images per set for the evaluation check (Inception and every registered metric on DEVICE against the CPU); 0 skips it. [default: a few hundred: selftest.EVAL_SAMPLES]",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug")] = False,
) -> None:
    """Check this machine's fast path: a few dcgan steps on DEVICE and on the plain CPU path from the same weights
    and batches, then one evaluation on each; prints images/s for each and their agreement; exits 1 when they
    disagree."""
    import torch

    from ganbench import selftest as st
    from ganbench.device import pick_device, resolve
    from ganbench.metrics.evaluator import MIN_SAMPLES

    with guarded(debug):
        if steps < 1:
            raise ConfigError("--steps must be at least 1")
        n_eval = st.EVAL_SAMPLES if eval_samples is None else eval_samples
        if n_eval != 0 and n_eval < MIN_SAMPLES:
            raise ConfigError(f"--eval-samples must be 0 (no evaluation check) or at least {MIN_SAMPLES}")
        cfg = st.selftest_config(device, precision, fast, compile_, resolution, batch_size, seed)
        weights, batches = st.inputs(cfg, steps)
        reference = st.run_arm(cfg, st.reference_settings(cfg), weights, batches)
        checked = st.run_arm(cfg, resolve(cfg, pick_device(device)), weights, batches)
        agreement = st.compare(checked, reference)
        evaluation = None
        if n_eval:
            generated, real = st.eval_images(cfg, n_eval)
            eval_reference = st.run_eval_arm(torch.device("cpu"), generated, real)
            eval_checked = st.run_eval_arm(pick_device(device), generated, real)
            evaluation = (eval_checked, eval_reference, st.compare_eval(eval_checked, eval_reference))
    typer.echo(st.report(cfg, steps, checked, reference, agreement))
    if evaluation is not None:
        typer.echo(st.eval_report(*evaluation))
    if not agreement.ok or (evaluation is not None and not evaluation[2].ok):
        raise typer.Exit(1)


# Commands that live beside their subsystems.
from ganbench.metrics.cli import fid_command  # noqa: E402
from ganbench.report.cli import report_command  # noqa: E402
from ganbench.study.command import study_command  # noqa: E402
from ganbench.sweep.command import sweep_command  # noqa: E402

app.command("fid")(fid_command)
app.command("report")(report_command)
app.command("sweep")(sweep_command)
app.command("study")(study_command)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
