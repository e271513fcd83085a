"""Execution: one path for every run, whether `ganbench run`, a sweep or a study planned it.

    Trial (trial.py)            a config and its run directory (a sweep's or study's trial also says who it is)
      -> trial_state            what the directory holds: new, completed, resumable, diverged, locked
      -> run_trials (driver.py) the trials left, on an executor, telling `on_event` as they finish or retry
      -> an executor            local (in this process, or worker processes, one per GPU) or ray (executors.py)
      -> run_trial (execute.py) one trial as an executor runs it: inputs, attempt records in trial.json
      -> runner.execute         lock, config.json, ganbench.train.train, summary.json (runner.py)

runs.py is `ganbench run` as a library (settings from options and the device's defaults, variants x seeds);
text.py the tables and progress lines the commands print. Sweeps (`ganbench.sweep`) and studies
(`ganbench.study`) plan their own trials and hand them to `run_trials`.
"""

from ganbench.execution.driver import Event, Finished, Interrupted, Note, Retried, Skipped, run_trials
from ganbench.execution.executors import EXECUTORS, ExecOptions
from ganbench.execution.trial import Trial, summary_on_disk, trial_state

__all__ = [
    "EXECUTORS",
    "Event",
    "ExecOptions",
    "Finished",
    "Interrupted",
    "Note",
    "Retried",
    "Skipped",
    "Trial",
    "run_trials",
    "summary_on_disk",
    "trial_state",
]
