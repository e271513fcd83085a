"""Execute one trial's run in this process: take its directory's lock, write its config, train, and write its
summary.

A run's directory layout is `ganbench.rundir`'s; what a directory holds before a run starts is
`ganbench.execution.trial`'s, and `ganbench.execution.execute` runs a trial as the executors do (its attempt
records, its failures). Re-running the same command resumes each interrupted run from its checkpoint and skips
completed ones; a run directory that holds another config is refused, never overwritten.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import platform
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ganbench import __version__, families, lock
from ganbench.config import Config
from ganbench.errors import describe_error
from ganbench.execution.trial import Trial
from ganbench.metrics import names
from ganbench.rundir import DEVICE_SETTINGS, RunDir, Status, summary_head


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def versions() -> dict[str, str]:
    from importlib.metadata import version

    import numpy
    import torch

    return {
        "ganbench": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": version("torchvision"),
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda or "none",
        "platform": platform.platform(),
    }


def input_specs(cfg: Config, evaluate: bool) -> tuple[Any, Any]:
    """The data a run of `cfg` reads, as `ganbench.data.DataSpec`s: (its training images, its evaluation's
    reference or None). The reference is the training images themselves, or another split of the same data (never
    capped by max_images)."""
    from ganbench import data as data_mod

    spec = data_mod.spec_from_config(cfg)
    if not evaluate:
        return spec, None
    return spec, spec if cfg.eval_split == "train" else dataclasses.replace(spec, split=cfg.eval_split, max_images=0)


def check_inputs(cfgs, evaluate: bool, data_from: str | None = None) -> None:
    """Find every distinct data set and split the runs of `cfgs` read, once each, before any of them starts
    (`ganbench.data.check_source`: a listing, no decoding): a missing folder or an empty split stops a run, sweep
    or study with one line (DataError) instead of failing each of its trials with it. `data_from`: where the data
    folder was given, for that line ("--set data=", a file's key; None: --data)."""
    from ganbench.data import MissingFolder, check_source

    specs = {s for cfg in cfgs for s in input_specs(cfg, evaluate) if s is not None}
    for spec in sorted(specs, key=repr):
        try:
            check_source(spec)
        except MissingFolder as e:
            raise e.at(data_from) if data_from else e from None


def pre_flight_note(check: Callable[[], None]) -> str:
    """What a dry run says of the data pre-flight (`check`, e.g. check_inputs with its arguments): '' where the
    real start would go on, else the one line it would stop with, as a note (the plan is printed either way)."""
    from ganbench.data import DataError

    try:
        check()
    except DataError as e:
        return f"note: the real start would stop before its first trial: {e}"
    return ""


def shared_inputs(cfg: Config, evaluate: bool, cache: dict):
    """(decoded data set, evaluator or None) for a run; `cache` keeps both per process, so runs of the same data
    decode it once and share one evaluator (its reference statistics)."""
    from ganbench import data as data_mod

    spec, ref_spec = input_specs(cfg, evaluate)
    if spec not in cache:
        cache[spec] = data_mod.load_dataset(spec)
    imageset = cache[spec]
    if ref_spec is None:
        return imageset, None
    key = ("evaluator", ref_spec, cfg.eval_samples, cfg.inception_weights, cfg.device, cfg.metrics)
    if key not in cache:
        from ganbench.device import pick_device
        from ganbench.metrics import build_evaluator
        from ganbench.metrics.evaluator import parse_metrics

        if ref_spec not in cache:
            cache[ref_spec] = data_mod.load_dataset(ref_spec)
        cache[key] = build_evaluator(
            cache[ref_spec],
            cfg.eval_samples,
            pick_device(cfg.device),
            weights=cfg.inception_weights,
            metrics=parse_metrics(cfg.metrics),
        )
    return imageset, cache[key]


def execute(
    trial: Trial, images, data_protocol: dict, evaluator=None, resume: bool = True, show_progress: bool = True
) -> dict[str, Any]:
    """Train one trial's run and write its summary. Never raises for a failed run; raises RunLocked (another
    process writes this directory), KeyboardInterrupt (also for SIGTERM), and DiskFull when even the summary
    cannot be written."""
    from ganbench.device import pick_device
    from ganbench.train import Diverged, train

    cfg, run = trial.cfg, RunDir(trial.run_dir)
    head = summary_head(cfg, run.path)
    with lock.run_lock(run.path), _sigterm_as_interrupt():  # nothing is written before the lock is ours
        run.remove_orphan_temporaries()
        # config.json (and its device_settings: the trial's arithmetic) is written by the attempt that starts the
        # training, i.e. every attempt until one leaves a checkpoint; a resumed attempt is checked against it
        if not run.is_run() or not resume or not run.checkpoint.is_file():
            run.write_meta(
                {
                    "config": cfg.to_dict(),
                    "versions": versions(),
                    "git_commit": git_commit(),
                    "command": sys.argv,
                    "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "data": data_protocol,
                    DEVICE_SETTINGS: families.device_settings(cfg, pick_device(cfg.device)).to_dict(),
                }
            )
        protocol = getattr(evaluator, "protocol", None)
        run.write_summary(head, Status.RUNNING)
        bar = _progress_bar(cfg, show_progress, len(images))
        try:
            result = train(
                cfg, run.path, images, evaluate=evaluator, progress=bar.update if bar else None, resume=resume
            )
            status, error = Status.COMPLETED, None
        except Diverged as e:
            result, status, error = {}, Status.DIVERGED, str(e)
        except KeyboardInterrupt:
            run.write_summary(head, Status.INTERRUPTED)
            raise
        except Exception as e:  # recorded, and the suite goes on
            result, status, error = {}, Status.FAILED, describe_error(e)
            run.write_error_log(traceback.format_exc())
        finally:
            if bar:
                bar.close()
        fields = (
            {"error": error}
            | result
            | {"best": run.best(k) if (k := _best_key(evaluator, cfg)) else None, "metric_protocol": protocol}
        )
        if status != Status.COMPLETED:  # counters from the last tick: a diverged run still says how far it got
            fields |= run.last_counters()
        summary = run.write_summary(head, status, **fields)
    name = f"{cfg.variant}/seed{cfg.seed}"
    if status == Status.FAILED:
        print(f"ganbench: {name} failed: {error} (traceback in {run.error_log})", file=sys.stderr)
    elif status == Status.DIVERGED:
        print(f"ganbench: {name} diverged: {error}; its last good checkpoint is kept", file=sys.stderr)
    elif (result.get("collapse") or {}).get("collapsed"):
        c = result["collapse"]
        print(
            f"ganbench: {name}: samples look collapsed (diversity {c['ratio']:.3f} of the real images', "
            f"below {c['threshold']})",
            file=sys.stderr,
        )
    return summary


def _best_key(evaluator, cfg: Config) -> str | None:
    """The metric whose best point over training is recorded: the evaluator's first (FID), at the count every
    evaluation has (eval_samples_during when set: the final evaluation reports it too)."""
    first = (list(getattr(evaluator, "names", []) or []) or [None])[0]
    during = cfg.eval_samples_during
    if first is None or not during or during >= cfg.eval_samples or (parsed := names.parse(first)) is None:
        return first
    return names.name(parsed.base, during, parsed.part)


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler's `kill`, a preempted job) ends the run like Ctrl-C: status `interrupted`, lock
    released, checkpoint kept. Only the main thread can install signal handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Bar:
    def __init__(self, cfg: Config, n_images: int):
        from tqdm import tqdm

        self.budget = cfg.run_budget.in_images(n_images)
        unit = {"img": "kimg", "steps": "steps", "seconds": "s"}[self.budget.unit]
        total = self.budget.amount / 1000 if self.budget.unit == "img" else self.budget.amount
        self.bar = tqdm(
            total=total,
            desc=f"{cfg.variant} seed{cfg.seed}",
            unit=unit,
            file=sys.stderr,
            leave=False,
            bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} {unit} [{elapsed}<{remaining}]",
        )

    def update(self, c) -> None:
        value = {"img": c.img / 1000, "steps": c.g_steps, "seconds": c.seconds}[self.budget.unit]
        self.bar.n = min(value, self.bar.total)
        self.bar.refresh() if c.g_steps % 10 == 0 else None

    def close(self) -> None:
        self.bar.close()


def _progress_bar(cfg: Config, show: bool, n_images: int):
    return _Bar(cfg, n_images) if show and families.get(cfg.family).trains else None
