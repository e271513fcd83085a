"""A failed seed, named by what its run shows (read from the run's own files):

- **diverged**: the run stopped on a non-finite loss (status diverged), or its final metric is not a number;
- **collapsed**: the run's collapse detector (summary.json `collapse`: sample diversity below a tenth of the real
  images') fired: G draws nearly the same image for every z;
- **stalled**: D wins outright and G's gradient vanishes: at consecutive ticks of metrics.jsonl D's accuracy is at
  least STALL_D_ACC and |G loss| at most STALL_G_LOSS. That is the saturating (true minimax) loss's classic stall,
  log(1 - D(G(z))) -> 0 as D(G(z)) -> 0; a non-saturating G gets a large loss, not a vanishing one, when D wins,
  and keeps its gradient. A stall that ends is a take-off. The seed counts as failed when the stall covers at
  least STALL_FAILS of the run's budget (it trained for less than half of what the others did), whether it took
  off later or never; a shorter stall is said beside the seed, and the seed is averaged in.

Every seed is shown either way; `ganbench.report.compare` counts the failures per arm and keeps them out of the
t-interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ganbench.report.compare import Obs
from ganbench.report.runs import Run
from ganbench.rundir import Status, number

STALLED, COLLAPSED, DIVERGED = "stalled", "collapsed", "diverged"
KINDS = (STALLED, COLLAPSED, DIVERGED)
STALL_D_ACC = 0.99  # D classifies (nearly) every real and fake image right
STALL_G_LOSS = 0.01  # and the saturating G loss has (nearly) vanished
STALL_MIN_TICKS = 2  # a stretch: at least two consecutive ticks
STALL_FAILS = 0.5  # a stall over at least half of the budget is a failed seed


@dataclass(frozen=True)
class Stall:
    start: float  # kimg of the first stalled tick
    last: float  # kimg of the last stalled tick
    took_off: float | None  # kimg of the first tick after it that is not stalled; None: never took off
    budget: float  # the run's trained kimg

    @property
    def span(self) -> float:
        """kimg spent stalled: from the first stalled tick to the take-off (or the end of training)."""
        return (self.took_off if self.took_off is not None else self.budget) - self.start

    @property
    def fails(self) -> bool:
        return self.budget > 0 and self.span >= STALL_FAILS * self.budget

    def text(self) -> str:
        after = f"took off by {self.took_off:.0f} kimg" if self.took_off is not None else "never took off"
        return (
            f"stalled (D accuracy ≥ {STALL_D_ACC}, |G loss| ≤ {STALL_G_LOSS}) from {self.start:.0f} to "
            f"{self.last:.0f} kimg, {after}"
        )


def _stalled(tick: dict) -> bool:
    acc, loss_g = number(tick.get("d_acc")), number(tick.get("loss_g"))
    return acc is not None and loss_g is not None and acc >= STALL_D_ACC and abs(loss_g) <= STALL_G_LOSS


def stall(run: Run) -> Stall | None:
    """The run's longest stretch of stalled ticks (at least STALL_MIN_TICKS), or None."""
    ticks = [t for t in run.ticks if number(t.get("kimg")) is not None]
    budget = run.counter("kimg") or (number(ticks[-1]["kimg"]) if ticks else 0.0) or 0.0
    best: Stall | None = None
    i = 0
    while i < len(ticks):
        if not _stalled(ticks[i]):
            i += 1
            continue
        j = i
        while j + 1 < len(ticks) and _stalled(ticks[j + 1]):
            j += 1
        if j - i + 1 >= STALL_MIN_TICKS:
            took_off = float(ticks[j + 1]["kimg"]) if j + 1 < len(ticks) else None
            found = Stall(float(ticks[i]["kimg"]), float(ticks[j]["kimg"]), took_off, float(budget))
            best = found if best is None or found.span > best.span else best
        i = j + 1
    return best


def failure(run: Run, key: str) -> tuple[str, str]:
    """(kind, what the run shows) of a failed seed; ("", note) otherwise (the note names a shorter stall)."""
    value = run.final_metrics().get(key)
    if run.status == Status.DIVERGED or (
        run.status == Status.COMPLETED and value is not None and not math.isfinite(value)
    ):
        return DIVERGED, "diverged: " + str((run.summary or {}).get("error") or f"{key} is not a number")
    collapse = (run.summary or {}).get("collapse")
    if isinstance(collapse, dict) and collapse.get("collapsed"):
        ratio = number(collapse.get("ratio"))
        return COLLAPSED, "collapsed: sample diversity " + (
            f"{ratio:.2f} of the real images'" if ratio is not None else "low"
        )
    s = stall(run)
    if s is not None:
        return (STALLED, s.text()) if s.fails else ("", s.text())
    return "", ""


def noise_se(run: Run, key: str) -> float:
    """The run's evaluation noise for metric `key` at the end: its bootstrap standard error (`<key>_std`), or half
    the width of its 95% bootstrap interval over 1.96 (`<key>_lo/_hi` are estimate ± 1.96 SE); NaN when the run
    did not record it."""
    from ganbench.metrics import names

    final = run.final_metrics()
    m = names.parse(key)
    if m is None:
        return math.nan
    part = lambda p: final.get(names.name(m.base, m.n, p, m.g))  # noqa: E731
    if part(names.STD) is not None:
        return float(part(names.STD))
    lo, hi = part(names.LO), part(names.HI)
    return (hi - lo) / (2 * 1.959963984540054) if lo is not None and hi is not None else math.nan


def observation(run: Run, key: str) -> Obs | None:
    """A finished run as one seed of a comparison (None while it runs or when it has no value of `key`)."""
    if run.status not in (Status.COMPLETED, Status.DIVERGED):
        return None
    value = run.final_metrics().get(key)
    kind, why = failure(run, key)
    if value is None and kind != DIVERGED:
        return None
    return Obs(math.inf if value is None else value, run.name, run.seed, kind, why, noise_se(run, key))
