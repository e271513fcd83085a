"""Running a sweep as a library: plan its trials, check what each directory holds, record the sweep in
<out>/sweep.json, and run what is left on an executor (`run_sweep`); `ganbench sweep` only parses options and
prints what this returns."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ganbench.execution.driver import Event, Note, run_trials
from ganbench.execution.execute import now
from ganbench.execution.executors import EXECUTORS, ExecOptions, import_ray
from ganbench.execution.trial import Trial, summary_on_disk, trial_state
from ganbench.io import write_json
from ganbench.rundir import FINAL, TO_RUN, State, Status
from ganbench.spec import RAY
from ganbench.sweep.plan import plan_sweep
from ganbench.sweep.spec import Sweep


def default_out(sweep: Sweep) -> Path:
    """results/sweeps/<name>: where a sweep writes unless told."""
    return Path("results") / "sweeps" / sweep.name


def plan_states(sweep: Sweep, out: Path, rerun_diverged: bool = False) -> tuple[list[Trial], dict[Path, State]]:
    """The sweep's trials and what each directory holds (a changed config raises ConfigError before anything
    runs)."""
    trials = plan_sweep(sweep, out)
    return trials, {t.run_dir: trial_state(t, rerun_diverged) for t in trials}


@dataclass
class SweepResult:
    out: Path
    trials: list[Trial]
    summaries: list[dict[str, Any]]  # one per trial, in plan order: as it ended now, or as its directory holds it
    locked: list[Trial]  # being written by another process when the sweep started: left alone
    results: dict[Path, dict[str, Any]] = field(default_factory=dict)  # the trials that ran now

    @property
    def elsewhere(self) -> set[Path]:
        """Trials left to another process: locked at the start, or taken by one after the plan was made."""
        return {t.run_dir for t in self.locked} | {
            p for p, s in self.results.items() if s.get("status") == Status.LOCKED
        }

    @property
    def failed(self) -> list[str]:
        """Labels of the trials that did not end in a final status (and were not left to another process)."""
        elsewhere = self.elsewhere
        return [
            t.label
            for t, s in zip(self.trials, self.summaries, strict=True)
            if s.get("status") not in FINAL and t.run_dir not in elsewhere
        ]


def run_sweep(
    sweep: Sweep,
    out: Path,
    executor: str,
    options: ExecOptions,
    on_event: Callable[[Event], None] | None = None,
    rerun_diverged: bool = False,
) -> SweepResult:
    """Plan the sweep, skip what is done, record <out>/sweep.json, run the rest on `executor` (its options:
    `options`), and return every trial's summary. `on_event` hears a `Note` of what is about to run, then the
    trials' events (`ganbench.execution.driver`). A sweep stopped by Ctrl-C raises `Interrupted`."""
    EXECUTORS[executor]  # an unknown name fails here, with the valid ones
    trials, states = plan_states(sweep, out, rerun_diverged)
    if executor == RAY:
        import_ray()  # the missing-extra message now, not after the plan is written
    todo = [t for t in trials if states[t.run_dir] in TO_RUN]
    write_json(out / "sweep.json", sweep_record(sweep, out, executor, trials))
    locked = [t for t in trials if states[t.run_dir] == State.LOCKED]
    tell = on_event or (lambda event: None)
    tell(
        Note(
            f"sweep {sweep.name}: {len(trials)} trials, {len(todo)} to run, "
            f"{len(trials) - len(todo) - len(locked)} already done; executor {executor}; results in {out}/"
        )
    )
    if locked:
        tell(
            Note(
                f"{len(locked)} trials are being written by another process and are left alone: "
                + ", ".join(t.label for t in locked)
            )
        )
    results = run_trials(executor, todo, options, on_event)
    summaries = [
        (results.get(t.run_dir) or summary_on_disk(t)) | {"variant": f"{t.cfg.variant}/{t.tag}"} for t in trials
    ]
    return SweepResult(out, trials, summaries, locked, results)


def sweep_record(sweep: Sweep, out: Path, executor: str, trials: list[Trial]) -> dict[str, Any]:
    """sweep.json: the sweep as planned (its file's contents and options), the command, and every trial."""
    return {
        "sweep": asdict(sweep) | {"variants": list(sweep.variants), "seeds": list(sweep.seeds)},
        "executor": executor,
        "command": sys.argv,
        "updated": now(),
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
    }
