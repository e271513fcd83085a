"""Where training stood when it stopped, from the runs' own curves and clocks: did the curves level off, how much
of a study's stage has run, and what would more seeds cost.

Levelled: a group's curve (the mean over seeds of the ranking metric at the evaluations along the way, bucketed by
the one budget rule of `ganbench.report.ranks`) changed by less than LEVEL_FRACTION of its value between the last
two evaluated budgets. A curve still improving by more than that says the order may change with more training.
"""

from __future__ import annotations

import math
import shlex
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganbench.report import ranks
from ganbench.report.runs import Run
from ganbench.rundir import Status, number

LEVEL_FRACTION = 0.05  # a curve that still improves by more than 5% between its last two points has not levelled


@dataclass(frozen=True)
class Level:
    group: str
    before: float  # kimg of the second-to-last evaluated budget
    after: float  # the last one
    change: float  # relative improvement from before to after (0.13: 13% better); negative: worse

    @property
    def levelled(self) -> bool:
        return self.change <= LEVEL_FRACTION


def levels(values: ranks.Values, lower_is_better: bool = True) -> list[Level]:
    """Per group, the relative change of its mean between the last two budgets it was evaluated at."""
    out = []
    groups = list(dict.fromkeys(g for k in sorted(values) for g in values[k]))
    for g in groups:
        points = [(k, float(np.mean(values[k][g]))) for k in sorted(values) if values[k].get(g)]
        if len(points) < 2:
            continue
        (k0, v0), (k1, v1) = points[-2:]
        if not (math.isfinite(v0) and math.isfinite(v1)) or v0 == 0:
            continue
        change = (v0 - v1) / abs(v0) if lower_is_better else (v1 - v0) / abs(v0)
        out.append(Level(g, k0, k1, change))
    return out


def improving_text(found: list[Level], metric: str) -> str:
    """'still improving at 300 kimg: mean kid500 fell 13-21% between 225 and 300 kimg for dcgan, hinge, ...; the
    order may change with more training' or '' when every curve levelled."""
    still = [x for x in found if not x.levelled]
    if not still:
        return ""
    after = max(x.after for x in still)
    before = min(x.before for x in still)
    lo, hi = min(x.change for x in still), max(x.change for x in still)
    span = f"{lo:.0%}" if round(lo * 100) == round(hi * 100) else f"{lo:.0%}-{hi:.0%}"
    who = ", ".join(x.group for x in still)
    of = f"{len(still)} of {len(found)}" if len(still) < len(found) else "every curve"
    return (
        f"Still improving at {after:.3g} kimg: mean {metric} improved by {span} between {before:.3g} and {after:.3g} "
        f"kimg for {who} ({of}; levelled means a change under {LEVEL_FRACTION:.0%}), so the order may change with "
        "more training."
    )


def stage_progress(runs: list[Run], planned: int, what: str = "") -> str:
    """Where a stage stands: '4 of 70 final-stage runs finished, 2 running, 64 not started: the study is still
    running.' `runs` are the stage's run folders on disk, `planned` its trials as the study recorded them (0: not
    recorded; then only the runs on disk are counted)."""
    finished = sum(r.status in (Status.COMPLETED, Status.DIVERGED) for r in runs)
    states = Counter(str(r.status) for r in runs if r.status not in (Status.COMPLETED, Status.DIVERGED))
    total = max(planned, len(runs))
    parts = [f"{n} {status}" for status, n in states.most_common()]
    if total > len(runs):
        parts.append(f"{total - len(runs)} not started")
    runs_ = f"{what} runs" if what else "runs"
    return f"{finished} of {total} {runs_} finished, " + ", ".join(parts) + ": the study is still running."


def _duration(seconds: float) -> str:
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def more_seeds(runs: list[Run], seeds: int = 5) -> str:
    """For runs of one seed each: the command that makes them a comparison over `seeds` seeds (finished runs are
    kept: `ganbench run` resumes), and its time estimated from the runs' own training and evaluation seconds."""
    done = [r for r in runs if r.status == Status.COMPLETED]
    commands = {tuple(r.meta.get("command") or ()) for r in done}
    if len(commands) != 1 or not next(iter(commands)):
        return ""
    argv = [str(a) for a in next(iter(commands))]
    if len(argv) < 2 or argv[1] != "run":  # a study or sweep plans its own seeds: its file says how many
        return ""
    argv[0] = Path(argv[0]).name  # the recorded program path says nothing to a reader
    if any(a.startswith("/") for a in argv[1:]):  # a machine's own paths: no command a reader could copy
        return ""
    if "--seeds" in argv:
        i = argv.index("--seeds")
        argv = argv[:i] + argv[i + 2 :]
    argv += ["--seeds", ",".join(str(s) for s in range(seeds))]
    per_seed = sum(
        (number((r.summary or {}).get("seconds")) or 0.0) + (number((r.summary or {}).get("eval_seconds")) or 0.0)
        for r in done
    )
    extra = (seeds - len({r.seed for r in done})) * per_seed
    estimate = (
        f" (about {_duration(extra)} more on the machine that made these runs, from their own measured "
        "training and evaluation seconds)"
        if extra > 0
        else ""
    )
    return f"To make it a comparison over {seeds} seeds: `uv run {shlex.join(argv)}`{estimate}."
