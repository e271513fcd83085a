"""Running trials on an executor, and what the caller is told meanwhile: `run_trials(executor, trials, options,
on_event)` is the one loop `ganbench run`, sweeps and studies drive their trials with.

Events, in order: `Retried` before a trial whose worker was lost runs again, `Finished` as each trial ends (with
its summary). Callers that plan more than they run also tell their own `Skipped` and `Note` events through the same
`on_event`, so one printer (`ganbench.execution.text.Progress`) shows them all. Ctrl-C raises `Interrupted`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganbench.execution.executors import EXECUTORS, ExecOptions, Executor
from ganbench.execution.runner import check_inputs
from ganbench.execution.trial import Trial
from ganbench.spec import LOCAL


@dataclass(frozen=True)
class Finished:
    trial: Trial
    summary: dict[str, Any]
    done: int  # trials finished so far in this call, this one included
    total: int  # trials handed to this call
    seconds: float  # since the call started


@dataclass(frozen=True)
class Retried:
    trial: Trial
    retry: int  # 1 for the first retry
    max_retries: int
    why: str  # the executor's error: one line


@dataclass(frozen=True)
class Skipped:
    trial: Trial  # completed before: not run again


@dataclass(frozen=True)
class Note:
    text: str  # a line for whoever watches (what a sweep or study is about to do)


Event = Finished | Retried | Skipped | Note


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) while trials ran: `finished` of `total` had ended; the rest resume next time. `label`
    names the batch of trials for the message (a study's stage), "" for none."""

    def __init__(self, finished: int, total: int, label: str = "") -> None:
        super().__init__(f"{finished} of {total} trials {'of ' + label + ' ' if label else ''}finished")
        self.finished, self.total, self.label = finished, total, label


def run_trials(
    executor: str | Executor,
    trials: list[Trial],
    options: ExecOptions,
    on_event: Callable[[Event], None] | None = None,
) -> dict[Path, dict[str, Any]]:
    """Run `trials` on `executor` (a name in EXECUTORS, or an executor itself) and return each finished trial's
    summary by run directory. `on_event` is told `Retried` before each retry and `Finished` as each trial ends."""
    run = EXECUTORS[executor] if isinstance(executor, str) else executor
    tell = on_event or (lambda event: None)

    def on_retry(trial: Trial, n: int, why: str) -> None:
        tell(Retried(trial, n, options.max_retries, why))

    if run is EXECUTORS[LOCAL]:  # each data set and split once, before any trial (Ray's workers may see other files)
        check_inputs([t.cfg for t in trials], options.evaluate, options.data_from)
    results: dict[Path, dict[str, Any]] = {}
    t0 = time.perf_counter()
    try:
        for trial, summary in run(trials, dataclasses.replace(options, on_retry=on_retry)) if trials else []:
            results[trial.run_dir] = summary
            tell(Finished(trial, summary, len(results), len(trials), time.perf_counter() - t0))
    except KeyboardInterrupt:
        raise Interrupted(len(results), len(trials)) from None
    return results
