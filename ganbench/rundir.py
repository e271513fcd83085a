"""A run directory: the one owner of its file names, its status words and its summary.

`<out>/<variant>/seed<k>/` (a sweep adds a trial folder: `<out>/<variant>/<trial>/seed<k>/`):

  config.json     resolved config, package versions, device, git commit, command, data protocol
  metrics.jsonl   append-only: one record per tick (losses, D outputs, images/s) and per evaluation (FID, ...)
  samples/        sample grids from the shared fixed noise, one per tick, and final.png (with an EMA of G, the
                  same grids of the EMA beside them, named ...-ema.png)
  checkpoints/    latest.pt (G, D, optimisers, RNG states, counters), written atomically
  summary.json    status (see Status), counters, final and best metrics, collapse; written only by `write_summary`
  trial.json      a sweep trial's identity and one record per attempt (sweeps only)
  error.log       the traceback of a failed run
  .lock           pid, host and start time of the one process writing this directory (see `ganbench.lock`)
  tensorboard/    with --tensorboard: event files mirroring metrics.jsonl's records (which stay the source)

Runner, training loop, sweep and report read and write a run only through this module.
"""

from __future__ import annotations

import contextlib
import math
import re
from enum import StrEnum
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ganbench.io import append_jsonl, atomic_write_text, read_json, read_jsonl, write_json

CONFIG = "config.json"
DEVICE_SETTINGS = (
    "device_settings"  # config.json's record of what a run ran with, resolved on its host (ganbench.device)
)
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
TRIAL = "trial.json"
ERROR_LOG = "error.log"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
CHECKPOINT = "latest.pt"
TENSORBOARD = "tensorboard"
FINAL_GRID = "final.png"
EMA_SUFFIX = "-ema"  # grids of the EMA of G beside G's: final-ema.png, tick00001-1.0kimg-ema.png
TICK_GRID = re.compile(r"^tick(\d+)-([0-9.]+)kimg\.png$")
COUNTERS = ("kimg", "g_steps", "d_steps", "seconds")


class Status(StrEnum):
    """A run's status in summary.json (a str: it compares equal to, and is written as, its word)."""

    COMPLETED = "completed"  # the budget was spent
    DIVERGED = "diverged"  # a loss became non-finite: a result, not an accident
    FAILED = "failed"  # an error; error.log holds the traceback
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM: resumes from its checkpoint
    RUNNING = "running"  # being written (or killed without a chance to say so)
    LOCKED = "locked"  # a sweep trial left to another live process writing its directory
    LOST = "lost"  # trial.json only: an attempt whose worker died before it could end (never a summary's status)


FINAL = (Status.COMPLETED, Status.DIVERGED)  # a sweep does not run these again (diverged: unless asked)


class State(StrEnum):
    """What planning finds in a run directory before executing it."""

    NEW = "new"
    RESUMABLE = "resumable"
    COMPLETED = "completed"
    DIVERGED = "diverged"
    LOCKED = "locked"


TO_RUN = (State.NEW, State.RESUMABLE)


def file_name(name: str) -> str:
    """`name` unchanged when it is one plain file name: no folder part (neither '/' nor '\\'), not '.' or '..',
    no NUL. Otherwise ValueError. For file names made from what a results folder says (a variant, a trial's tag, a
    run's name): a shared folder is data, and nothing in it may make ganbench write outside the folder it was
    asked to write to."""
    if not name or name in (".", "..") or "\0" in name or any(p(name).name != name for p in _FLAVOURS):
        raise ValueError(
            f"{name!r}, made from a name in the results folder, is not a plain file name (it has a folder part, "
            "or is '.' or '..'): the folder may have been modified; nothing was written outside the output folder"
        )
    return name


_FLAVOURS = (PurePosixPath, PureWindowsPath)  # a name is safe on every system, whichever wrote the folder


def number(value: Any) -> float | None:
    """A JSON value as a float: numbers, and the strings ganbench.io writes for infinities; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return float(value)
    return None


def best(evals: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """The evaluation record with the lowest `metric` (lower is better: FID, KID) as {metric, value, kimg,
    g_steps, seconds}; None when no record has a number for it."""
    points = [(number(r.get(metric)), r) for r in evals if r.get("kind", "eval") == "eval"]
    points = [(v, r) for v, r in points if v is not None and not math.isnan(v)]
    if not points:
        return None
    value, rec = min(points, key=lambda p: p[0])
    return {
        "metric": metric,
        "value": value,
        "kimg": rec.get("kimg"),
        "g_steps": rec.get("g_steps"),
        "seconds": rec.get("seconds"),
    }


class RunDir:
    """Paths and reads/writes of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.mirror = None  # a ganbench.tensorboard.TensorBoardSink that sees every appended record, or None

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # ---- names
    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY

    @property
    def trial(self) -> Path:
        return self.path / TRIAL

    @property
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD

    @property
    def error_log(self) -> Path:
        return self.path / ERROR_LOG

    @property
    def samples(self) -> Path:
        return self.path / SAMPLES

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINTS / CHECKPOINT

    def final_grid_of(self, ema: bool = False) -> Path:
        return self.samples / (FINAL_GRID.replace(".png", f"{EMA_SUFFIX}.png") if ema else FINAL_GRID)

    @property
    def final_grid(self) -> Path:
        return self.final_grid_of()

    def tick_grid(self, tick: int, kimg: float, ema: bool = False) -> Path:
        return self.samples / f"tick{tick:05d}-{kimg:.1f}kimg{EMA_SUFFIX if ema else ''}.png"

    def is_run(self) -> bool:
        return self.config.is_file()

    # ---- config.json
    def read_meta(self) -> dict[str, Any]:
        """The whole config.json (config, versions, git_commit, command, created, data)."""
        return read_json(self.config)

    def write_meta(self, meta: dict[str, Any]) -> None:
        write_json(self.config, meta)

    # ---- metrics.jsonl
    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        records = read_jsonl(self.metrics)
        return records if kind is None else [r for r in records if r.get("kind") == kind]

    def append(self, record: dict[str, Any]) -> None:
        """Append to metrics.jsonl first (the source of truth), then to the mirror, flushed: a record per tick."""
        append_jsonl(self.metrics, record)
        if self.mirror is not None:
            self.mirror.write(record)
            self.mirror.flush()

    def has_records(self) -> bool:
        return self.metrics.is_file() and self.metrics.stat().st_size > 0

    def best(self, metric: str) -> dict[str, Any] | None:
        return best(self.records("eval"), metric)

    def last_counters(self) -> dict[str, Any]:
        """Counters of the last tick record ({} before the first tick): how far a run that did not finish got."""
        ticks = self.records("tick")
        return {k: ticks[-1].get(k) for k in COUNTERS} if ticks else {}

    # ---- summary.json: this is its only writer
    def read_summary(self) -> dict[str, Any] | None:
        """The summary, or None when there is none or it cannot be read."""
        try:
            summary = read_json(self.summary)
        except Exception:  # missing, torn or not JSON: no final word from this run
            return None
        return summary if isinstance(summary, dict) else None

    def status(self) -> str | None:
        return (self.read_summary() or {}).get("status")

    def write_summary(self, head: dict[str, Any], status: Status, **fields: Any) -> dict[str, Any]:
        """Write `head | {status} | fields` (head: see `summary_head`) and return it."""
        summary = head | {"status": Status(status)} | fields
        write_json(self.summary, summary)
        return summary

    # ---- error.log and temporaries
    def write_error_log(self, text: str) -> None:
        with contextlib.suppress(OSError):  # on a full disk the log may not fit; the summary says why
            atomic_write_text(self.error_log, text)

    def remove_orphan_temporaries(self) -> None:
        """Temporaries of atomic writes cut short by a killed process (`.<name>.<random>.tmp`); call under the
        directory's lock."""
        for folder in (self.path, self.path / CHECKPOINTS, self.samples):
            for tmp in folder.glob(".*.tmp") if folder.is_dir() else []:
                with contextlib.suppress(OSError):
                    tmp.unlink()


def summary_head(cfg, run_dir: Path) -> dict[str, Any]:
    """The fields every summary starts with: who the run is."""
    from ganbench import families

    return {
        "variant": cfg.variant,
        "seed": cfg.seed,
        "family": cfg.family,
        "objective": cfg.objective if families.get(cfg.family).adversarial else None,
        "run_dir": str(run_dir),
    }
