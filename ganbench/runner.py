"""Run variants x seeds under one budget; each run owns `<out>/<variant>/seed<k>/`:

  config.json     resolved config, package versions, device, git commit, command, data protocol
  metrics.jsonl   append-only: one record per tick (losses, D outputs, images/s) and per evaluation (FID, ...)
  samples/        sample grids from the shared fixed noise, one per tick, and final.png
  checkpoints/    latest.pt (G, D, optimisers, RNG states, counters), written atomically
  summary.json    status (completed | diverged | failed | interrupted), counters, final and best metrics, collapse
  error.log       the traceback of a failed run
  .lock           pid, host and start time of the one process writing this directory (see `ganbench.lock`)

Re-running the same command resumes each interrupted run from its checkpoint and skips completed ones; a run
directory that holds another config is refused, never overwritten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import platform
import signal
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganbench import __version__, lock
from ganbench.config import Config, ConfigError, config_difference, load_recipe, make_config, parse_budget
from ganbench.io import DiskFull, atomic_write_text, read_json, read_jsonl, write_json
from ganbench.metrics import names

STATUSES = ("completed", "diverged", "failed", "interrupted", "running")


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def versions() -> dict[str, str]:
    from importlib.metadata import version

    import numpy
    import torch

    return {"ganbench": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": version("torchvision"), "numpy": numpy.__version__,
            "cuda": torch.version.cuda or "none", "platform": platform.platform()}


@dataclass
class Plan:
    cfg: Config
    run_dir: Path


def plan_runs(variants: list[str], seeds: list[int], out: Path, settings: dict[str, Any],
              overrides: dict[str, Any]) -> list[Plan]:
    """Resolve every config first, so a typo fails before any training starts."""
    if not variants:
        raise ConfigError("no variants given: pass --variants, for example --variants dcgan,wgan-gp,vae")
    if not seeds:
        raise ConfigError("no seeds given: pass --seeds, for example --seeds 0,1,2")
    if "seed" in overrides or "seed" in settings:
        raise ConfigError("seeds are set with --seeds (for example --seeds 0,1,2), not --set seed=...")
    plans = []
    for name in variants:
        recipe = load_recipe(name)
        for seed in seeds:
            cfg = make_config(recipe, **settings, **overrides, seed=seed)
            plans.append(Plan(cfg, out / cfg.variant / f"seed{seed}"))
    names = [str(p.run_dir) for p in plans]
    if len(set(names)) != len(names):
        raise ConfigError("two runs would share a directory: each variant and seed may appear once")
    return plans


def existing_state(plan: Plan, resume: bool = True) -> str:
    """'new', 'completed' (same config, done: skipped), 'resumable'. Raises ConfigError for a directory holding a
    different config (or, with resume off, a checkpoint it would overwrite), RunLocked while another process
    writes it."""
    lock.check(plan.run_dir)
    cfg_path = plan.run_dir / "config.json"
    if not cfg_path.is_file():
        return "new"
    try:
        old = read_json(cfg_path)["config"]
    except Exception:
        raise ConfigError(f"{cfg_path} is unreadable; move the directory away to start this run over") from None
    diff = config_difference(old, plan.cfg.to_dict())
    if diff:
        raise ConfigError(f"{plan.run_dir} holds a run with a different config; it is never overwritten. "
                          f"Differences: {'; '.join(diff)}. Use another --out, or delete that directory.")
    summary = plan.run_dir / "summary.json"
    if summary.is_file():
        try:
            if read_json(summary).get("status") == "completed":
                return "completed"
        except Exception:
            pass
    if not resume and (plan.run_dir / "checkpoints" / "latest.pt").is_file():
        raise ConfigError(f"{plan.run_dir} holds an unfinished run with a checkpoint; --no-resume would overwrite "
                          "it. Drop --no-resume to continue it, or use another --out (or delete that directory) "
                          "to start over.")
    return "resumable"


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
    key = ("evaluator", ref_spec, cfg.eval_samples, cfg.inception_weights, cfg.device)
    if key not in cache:
        from ganbench.metrics import build_evaluator
        from ganbench.train import pick_device

        if ref_spec not in cache:
            cache[ref_spec] = data_mod.load_dataset(ref_spec)
        cache[key] = build_evaluator(cache[ref_spec], cfg.eval_samples, pick_device(cfg.device),
                                     weights=cfg.inception_weights)
    return imageset, cache[key]


def best_metric(run_dir: Path, key: str) -> dict[str, Any] | None:
    """The best (lowest) value of `key` over the run's evaluations, with when it was reached."""
    evals = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("kind") == "eval" and r.get(key) is not None]
    if not evals:
        return None
    best = min(evals, key=lambda r: r[key])
    return {"metric": key, "value": best[key], "kimg": best["kimg"], "g_steps": best.get("g_steps"),
            "seconds": best.get("seconds")}


def execute(plan: Plan, images, data_protocol: dict, evaluator=None, resume: bool = True,
            show_progress: bool = True) -> dict[str, Any]:
    """Train one planned run and write its summary. Never raises for a failed run; raises RunLocked (another
    process writes this directory), KeyboardInterrupt (also for SIGTERM), and DiskFull when even the summary
    cannot be written."""
    from ganbench.device import pick_device, resolve
    from ganbench.train import Diverged, train

    cfg, run_dir = plan.cfg, plan.run_dir
    head = {"variant": cfg.variant, "seed": cfg.seed, "family": cfg.family,
            "objective": cfg.objective if cfg.family == "gan" else None, "run_dir": str(run_dir)}
    with lock.run_lock(run_dir), _sigterm_as_interrupt():  # nothing is written before the lock is ours
        _remove_orphan_temporaries(run_dir)
        if not (run_dir / "config.json").is_file() or not resume:
            write_json(run_dir / "config.json", {
                "config": cfg.to_dict(), "versions": versions(), "git_commit": git_commit(),
                "command": sys.argv, "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "data": data_protocol, "device_settings": resolve(cfg, pick_device(cfg.device)).to_dict()})
        protocol = getattr(evaluator, "protocol", None)
        write_json(run_dir / "summary.json", head | {"status": "running"})
        bar = _progress_bar(cfg, show_progress)
        try:
            result = train(cfg, run_dir, images, evaluate=evaluator, progress=bar.update if bar else None,
                           resume=resume)
            status, error = "completed", None
        except Diverged as e:
            result, status, error = {}, "diverged", str(e)
        except KeyboardInterrupt:
            write_json(run_dir / "summary.json", head | {"status": "interrupted"})
            raise
        except Exception as e:  # recorded, and the suite goes on
            result, status, error = {}, "failed", describe_error(e)
            with contextlib.suppress(OSError):  # on a full disk the log may not fit; the summary says why
                atomic_write_text(run_dir / "error.log", traceback.format_exc())
        finally:
            if bar:
                bar.close()
        names = list(getattr(evaluator, "names", []) or [])
        best = best_metric(run_dir, names[0]) if names else None
        summary = head | {"status": status, "error": error} | result | {"best": best, "metric_protocol": protocol}
        if status != "completed":  # counters from the last tick record, so a diverged run still says how far it got
            ticks = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("kind") == "tick"]
            if ticks:
                summary |= {k: ticks[-1].get(k) for k in ("kimg", "g_steps", "d_steps", "seconds")}
        write_json(run_dir / "summary.json", summary)
    name = f"{cfg.variant}/seed{cfg.seed}"
    if status == "failed":
        print(f"ganbench: {name} failed: {error} (traceback in {run_dir / 'error.log'})", file=sys.stderr)
    elif status == "diverged":
        print(f"ganbench: {name} diverged: {error}; its last good checkpoint is kept", file=sys.stderr)
    elif (result.get("collapse") or {}).get("collapsed"):
        c = result["collapse"]
        print(f"ganbench: {name}: samples look collapsed (diversity {c['ratio']:.3f} of the real images', "
              f"below {c['threshold']})", file=sys.stderr)
    return summary


def _remove_orphan_temporaries(run_dir: Path) -> None:
    """Temporaries of atomic writes cut short by a killed process (`.<name>.<random>.tmp`); safe under the lock."""
    for folder in (run_dir, run_dir / "checkpoints", run_dir / "samples"):
        for tmp in folder.glob(".*.tmp") if folder.is_dir() else []:
            with contextlib.suppress(OSError):
                tmp.unlink()


def describe_error(e: BaseException) -> str:
    """One line for a failed run: what went wrong and, where it is known, what to do."""
    if isinstance(e, DiskFull):
        return str(e)
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return str(DiskFull(e.errno, e.strerror, e.filename))
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        first = str(e).splitlines()[0] if str(e) else "out of memory"
        return f"out of memory ({first[:200]}): lower batch_size, resolution or the widths, or use a larger device"
    text = " ".join(str(e).split())  # one line, whatever the exception's message looks like
    return f"{type(e).__name__}: {text}" if not isinstance(e, ConfigError) else text


@contextlib.contextmanager
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
    def __init__(self, cfg: Config):
        from tqdm import tqdm

        self.budget = parse_budget(cfg.budget)
        unit = {"img": "kimg", "steps": "steps", "seconds": "s"}[self.budget.unit]
        total = self.budget.amount / 1000 if self.budget.unit == "img" else self.budget.amount
        self.bar = tqdm(total=total, desc=f"{cfg.variant} seed{cfg.seed}", unit=unit, file=sys.stderr,
                        leave=False, bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} {unit} [{elapsed}<{remaining}]")

    def update(self, c) -> None:
        value = {"img": c.img / 1000, "steps": c.g_steps, "seconds": c.seconds}[self.budget.unit]
        self.bar.n = min(value, self.bar.total)
        self.bar.refresh() if c.g_steps % 10 == 0 else None

    def close(self) -> None:
        self.bar.close()


def _progress_bar(cfg: Config, show: bool):
    return _Bar(cfg) if show and cfg.family != "random" else None


def summary_table(summaries: list[dict[str, Any]]) -> str:
    """A plain-text table of one row per run, for stdout."""
    metric = next((k for s in summaries for k in (s.get("final") or {}) if names.is_value(k, names.FID)), None)
    cols = ["variant", "seed", "status", "kimg", "g_steps", "seconds", "img/s"] + ([metric, "best"] if metric else [])
    rows = []
    for s in summaries:
        best = s.get("best") or {}
        row = [s.get("variant"), s.get("seed"), s.get("status"), _fmt(s.get("kimg")), s.get("g_steps"),
               _fmt(s.get("seconds")), _fmt(s.get("img_per_s"))]
        if metric:
            row += [_fmt((s.get("final") or {}).get(metric)),
                    f"{_fmt(best.get('value'))} @ {_fmt(best.get('kimg'))}kimg" if best else "-"]
        rows.append(["-" if v is None else str(v) for v in row])
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def _fmt(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


