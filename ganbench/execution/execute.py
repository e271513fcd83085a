"""Executing one trial in this process: the unit every executor runs, and the trial.json of a trial in a batch.

A batch (a sweep, a study) records who each trial is and one record per attempt at it in its trial.json, and a
trial whose inputs cannot be built fails on its own (the batch goes on). A single run (`ganbench run`) writes no
trial.json and raises instead: the command fails with one line, before anything is written."""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
import traceback
from typing import Any

from ganbench.execution import runner
from ganbench.execution.trial import Trial
from ganbench.io import read_json, write_json
from ganbench.rundir import FINAL, RunDir, Status, summary_head

_WORKER_CACHE: dict = {}  # per process: decoded data and evaluators, reused by the trials a worker runs


def now() -> str:
    """The wall-clock time as the records of trials and studies write it (UTC, ISO 8601, seconds)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _attempts(trial: Trial) -> list[dict[str, Any]]:
    run = RunDir(trial.run_dir)
    if not run.trial.is_file():
        return []
    try:
        return read_json(run.trial).get("attempts") or []
    except Exception:  # torn or not JSON: the attempts start over rather than the trial failing
        return []


def _write_attempts(trial: Trial, attempts: list[dict[str, Any]]) -> None:
    write_json(
        RunDir(trial.run_dir).trial,
        {
            "sweep": trial.sweep,
            "trial": trial.tag,
            "variant": trial.cfg.variant,
            "seed": trial.cfg.seed,
            "params": trial.params,
            "ignored": list(trial.ignored),
            "attempts": attempts,
        },
    )


def _record_attempt(trial: Trial, record: dict[str, Any], new: bool) -> None:
    """trial.json: who the trial is, plus one record per attempt at it (start, and end when it ends)."""
    attempts = _attempts(trial)
    if new or not attempts:
        for earlier in attempts:  # an attempt still 'running' when the next one starts was killed: say so
            if earlier.get("status") == Status.RUNNING:
                earlier["status"] = Status.LOST
        attempts.append(record)
    else:
        attempts[-1] = attempts[-1] | record
    _write_attempts(trial, attempts)


def end_attempt(trial: Trial, attempt: str, executor: str, why: str, status: Status) -> dict[str, Any]:
    """The driver's word on attempt `attempt` (its id) of a batch trial whose worker returned no summary: `why` (the
    executor's error) is recorded, and an attempt that never ended ends with `status` (`lost`: its worker died).
    An attempt whose worker died before it could record itself is added. Returns the record as the worker left it
    (status `running`: it never ended)."""
    attempts = _attempts(trial)
    record = next((a for a in attempts if a.get("id") == attempt), None)
    if record is None:  # died before run_trial started (while the worker started, or unpickled the trial)
        record = {
            "id": attempt,
            "executor": executor,
            "host": None,
            "pid": None,
            "started": None,
            "start_time": None,
            "status": Status.RUNNING,
        }
        attempts.append(record)
    as_left = dict(record)
    if record.get("status") == Status.RUNNING:
        record |= {"finished": now(), "end_time": time.time(), "status": status}
    if as_left.get("status") not in (*FINAL, Status.FAILED):  # a run that ended by itself said why
        record["error"] = why[:2000]
    _write_attempts(trial, attempts)
    return as_left


def run_trial(
    trial: Trial,
    evaluate: bool = True,
    threads: int = 0,
    executor: str = "local",
    cache: dict | None = None,
    show_progress: bool = False,
    resume: bool = True,
    attempt: str | None = None,
    batch: bool = True,
) -> dict[str, Any]:
    """Train one trial in this process and return its summary. In a batch (a sweep, a study) the trial records
    each attempt in trial.json and a failure in its summary, and never raises; a single run (batch False,
    `ganbench run`) raises for inputs it cannot build and for a directory another process holds.

    threads > 0 sets torch's intra-op threads (a trial given k CPUs uses k threads). Runs anywhere: in the
    driver (local executor), in a worker process (local, several at once) or in a Ray task. `attempt` is the
    id the driver gave this attempt (recorded in trial.json, so that the driver can find it if the worker dies).
    """
    import torch

    from ganbench.lock import RunLocked

    if threads > 0:
        torch.set_num_threads(threads)
    cache = _WORKER_CACHE if cache is None else cache
    if not batch:  # nothing is written before its inputs exist
        imageset, evaluator = runner.shared_inputs(trial.cfg, evaluate, cache)
        return runner.execute(
            trial, imageset.images, imageset.protocol, evaluator, resume=resume, show_progress=show_progress
        )
    run = RunDir(trial.run_dir)
    head = summary_head(trial.cfg, run.path)
    run.path.mkdir(parents=True, exist_ok=True)
    _record_attempt(
        trial,
        {
            "id": attempt,
            "executor": executor,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "threads": torch.get_num_threads(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "started": now(),
            "start_time": time.time(),
            "finished": None,
            "end_time": None,
            "status": Status.RUNNING,
        },
        new=True,
    )
    status, error = Status.INTERRUPTED, None
    try:
        try:
            imageset, evaluator = runner.shared_inputs(trial.cfg, evaluate, cache)
        except Exception as e:  # data or evaluator that cannot be built: this trial fails, the sweep goes on
            run.error_log.write_text(traceback.format_exc())
            summary = run.write_summary(head, Status.FAILED, error=f"{type(e).__name__}: {e}")
        else:
            try:
                summary = runner.execute(
                    trial,
                    imageset.images,
                    imageset.protocol,
                    evaluator,
                    resume=resume,
                    show_progress=show_progress,
                )
            except RunLocked as e:  # another process took the directory after the plan was made: its trial now
                summary = head | {"status": Status.LOCKED, "error": str(e)}
        status, error = summary.get("status", Status.FAILED), summary.get("error")
        return summary
    finally:
        _record_attempt(
            trial, {"finished": now(), "end_time": time.time(), "status": status, "error": error}, new=False
        )


def lost(trial: Trial, why: str) -> dict[str, Any]:
    """The summary of a trial whose worker could not return one (killed, out of memory, node lost, or an error
    outside the run), with `why` as its error: `failed`, written to summary.json when the folder can be written."""
    run = RunDir(trial.run_dir)
    head = summary_head(trial.cfg, run.path)
    try:
        return run.write_summary(head, Status.FAILED, error=why[:2000])
    except OSError:  # a full disk, or a folder this machine cannot see: the driver still knows
        return head | {"status": Status.FAILED, "error": why[:2000]}
