"""Execute one planned run: take its directory's lock, write its config, train, and write its summary.

A run's directory layout is `ganbench.rundir`'s; planning (which runs, where) is `ganbench.sweep.plan`'s, and
`ganbench.sweep.execute` runs plans on an executor. Re-running the same command resumes each interrupted run from
its checkpoint and skips completed ones; a run directory that holds another config is refused, never overwritten.
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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganbench import __version__, families, lock
from ganbench.config import Config, config_difference
from ganbench.errors import ConfigError, describe_error
from ganbench.metrics import names
from ganbench.rundir import DEVICE_SETTINGS, RunDir, State, Status, summary_head


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


@dataclass
class Plan:
    cfg: Config
    run_dir: Path


def existing_state(plan: Plan, resume: bool = True) -> str:
    """'new', 'completed' (same config, done: skipped), 'resumable'. Raises ConfigError for a directory holding a
    different config (or, with resume off, a checkpoint it would overwrite), RunLocked while another process
    writes it."""
    lock.check(plan.run_dir)
    run = RunDir(plan.run_dir)
    cfg_path = run.config
    if not run.is_run():
        return State.NEW
    try:
        old = run.read_meta()["config"]
    except Exception:
        raise ConfigError(f"{cfg_path} is unreadable; move the directory away to start this run over") from None
    diff = config_difference(old, plan.cfg.to_dict())
    if diff:
        raise ConfigError(
            f"{plan.run_dir} holds a run with a different config; it is never overwritten. "
            f"Differences: {'; '.join(diff)}. Use another --out, or delete that directory."
        )
    if run.status() == Status.COMPLETED:
        return State.COMPLETED
    if not resume and run.checkpoint.is_file():
        raise ConfigError(
            f"{plan.run_dir} holds an unfinished run with a checkpoint; --no-resume would overwrite "
            "it. Drop --no-resume to continue it, or use another --out (or delete that directory) "
            "to start over."
        )
    return State.RESUMABLE


def shared_inputs(cfg: Config, evaluate: bool, cache: dict):
    """(decoded data set, evaluator or None) for a run; `cache` keeps both per process, so runs of the same data
    decode it once and share one evaluator (its reference statistics)."""
    from ganbench import data as data_mod

    spec = data_mod.spec_from_config(cfg)
    if spec not in cache:
        cache[spec] = data_mod.load_dataset(spec)
    imageset = cache[spec]
    if not evaluate:
        return imageset, None
    # the reference: the training images themselves, or another split of the same data (never capped by max_images)
    ref_spec = spec if cfg.eval_split == "train" else dataclasses.replace(spec, split=cfg.eval_split, max_images=0)
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
    plan: Plan, images, data_protocol: dict, evaluator=None, resume: bool = True, show_progress: bool = True
) -> dict[str, Any]:
    """Train one planned run and write its summary. Never raises for a failed run; raises RunLocked (another
    process writes this directory), KeyboardInterrupt (also for SIGTERM), and DiskFull when even the summary
    cannot be written."""
    from ganbench.device import pick_device, resolve
    from ganbench.train import Diverged, train

    cfg, run = plan.cfg, RunDir(plan.run_dir)
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
                    DEVICE_SETTINGS: resolve(cfg, pick_device(cfg.device)).to_dict(),
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


def summary_table(summaries: list[dict[str, Any]]) -> str:
    """A plain-text table of one row per run, for stdout.

    One protocol per column: the ranking metric's final value (`kid100`: the runs' `rank_by`, at the end count),
    then the metric whose best point was recorded at the count every evaluation has, final and best side by side
    (`fid50 final`, `fid50 best`: the final evaluation reports that count too), so a best is never set beside a
    final from another sample count."""
    rank_keys = _unique((s.get("metric_protocol") or {}).get("rank_by") for s in summaries)
    best_keys = _unique((s.get("best") or {}).get("metric") for s in summaries)
    if not rank_keys and not best_keys:  # older summaries: the first FID of the final metrics
        best_keys = _unique(
            next((k for k in (s.get("final") or {}) if names.is_value(k, names.FID)), None) for s in summaries
        )
    rank_keys = [k for k in rank_keys if k not in best_keys]
    cols = (
        ["variant", "seed", "status", "kimg", "g_steps", "seconds", "img/s"]
        + [f"{k} final" for k in rank_keys]
        + [f"{k} {which}" for k in best_keys for which in ("final", "best")]
    )
    rows = []
    for s in summaries:
        final, best = s.get("final") or {}, s.get("best") or {}
        row = [
            s.get("variant"),
            s.get("seed"),
            s.get("status"),
            _fmt(s.get("kimg")),
            s.get("g_steps"),
            _fmt(s.get("seconds")),
            _fmt(s.get("img_per_s")),
        ] + [_fmt(final.get(k)) for k in rank_keys]
        for k in best_keys:
            row.append(_fmt(final.get(k)))
            row.append(f"{_fmt(best.get('value'))} @ {_fmt(best.get('kimg'))}kimg" if best.get("metric") == k else None)
        rows.append(["-" if v is None else str(v) for v in row])
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def _unique(keys) -> list[str]:
    """Metric names in first-seen order, each once; None and non-metrics dropped."""
    return list(dict.fromkeys(str(k) for k in keys if k and names.is_value(str(k))))


def _fmt(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)
