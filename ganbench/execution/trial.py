"""A trial: one run to execute (its config, its run directory), and what that directory holds before it starts.

`ganbench run`, sweeps and studies all plan `Trial`s and hand them to the same executors. A trial of a sweep or a
study also says who it is there (the sweep's name, the setting's tag, the searched parameters); its run directory
then holds a trial.json with that and one record per attempt (`ganbench.execution.execute`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench import lock
from ganbench.config import Config, config_difference
from ganbench.errors import ConfigError
from ganbench.io import first_link
from ganbench.rundir import RunDir, State, Status, summary_head


@dataclass(frozen=True)
class Trial:
    cfg: Config
    run_dir: Path
    tag: str = ""  # the setting's folder name in a sweep or study ("": a run of `ganbench run`)
    params: dict[str, Any] = field(default_factory=dict)  # searched hyperparameters that act on this variant
    ignored: tuple[str, ...] = ()  # searched hyperparameters that do not act on this variant
    sweep: str = ""  # the sweep or study it belongs to (recorded in trial.json)

    @property
    def label(self) -> str:
        """'dcgan/seed0', or with a tag 'dcgan/lr_d=0.0001/seed0'."""
        return "/".join([self.cfg.variant, *([self.tag] if self.tag else []), f"seed{self.cfg.seed}"])


def existing_state(trial: Trial, resume: bool = True) -> State:
    """NEW, COMPLETED (same config, done: skipped) or RESUMABLE. Raises ConfigError for a directory holding a
    different config (or, with resume off, a checkpoint it would overwrite), RunLocked while another process
    writes it, or holds a symbolic link (a copied folder's file pointing outside it: ganbench writes only inside
    its run directories)."""
    lock.check(trial.run_dir)
    run = RunDir(trial.run_dir)
    link = first_link(run.path) if run.path.is_dir() else None
    if link is not None:
        raise ConfigError(
            f"{trial.run_dir} holds a symbolic link ({link}): the folder may have been modified, and a run writes "
            "only inside its own directory. Remove the link, or use another --out."
        )
    if not run.is_run():
        return State.NEW
    try:
        old = run.read_meta()["config"]
    except Exception:
        raise ConfigError(f"{run.config} is unreadable; move the directory away to start this run over") from None
    diff = config_difference(old, trial.cfg.to_dict())
    if diff:
        raise ConfigError(
            f"{trial.run_dir} holds a run with a different config; it is never overwritten. "
            f"Differences: {'; '.join(diff)}. Use another --out, or delete that directory."
        )
    if run.status() == Status.COMPLETED:
        return State.COMPLETED
    if not resume and run.checkpoint.is_file():
        raise ConfigError(
            f"{trial.run_dir} holds an unfinished run with a checkpoint; --no-resume would overwrite "
            "it. Drop --no-resume to continue it, or use another --out (or delete that directory) "
            "to start over."
        )
    return State.RESUMABLE


def trial_state(trial: Trial, rerun_diverged: bool = False, resume: bool = True, batch: bool = True) -> State:
    """What `trial`'s directory holds: new, completed, diverged, resumable or locked. A changed config raises
    ConfigError. In a batch (a sweep, a study) a directory another live process writes is `locked` (left alone)
    and a diverged trial is final unless rerun_diverged; a single run (`ganbench run`, batch False) is stricter
    and plainer: a locked directory raises RunLocked, and a diverged run is resumed."""
    try:
        state = existing_state(trial, resume)
    except lock.RunLocked:
        if not batch:
            raise
        return State.LOCKED
    if state == State.RESUMABLE and batch and not rerun_diverged and RunDir(trial.run_dir).status() == Status.DIVERGED:
        return State.DIVERGED
    return state


def summary_on_disk(trial: Trial) -> dict[str, Any]:
    """The trial's summary; for one that has none yet, its head with status `new`."""
    return RunDir(trial.run_dir).read_summary() or summary_head(trial.cfg, trial.run_dir) | {"status": State.NEW}
