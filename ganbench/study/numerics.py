"""The arithmetic a study's trials train in, and what this host would use for the ones left.

Each trial's config.json records its device settings; the arithmetic is the string
`ganbench.device.arithmetic_text` makes of them (e.g. "fp32 ieee", "bf16 autocast cpu amx"); two runs computed the
same iff the strings are equal. A study records the arithmetic of its trained trials per stage (study.json), and
before a stage runs compares them with this host's: where the study file pins `precision` the mix is refused (a
pinned study runs on one arithmetic path, unless the command allows a mix), with `precision = "auto"` (resolved per
host) it is announced.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ganbench.errors import ConfigError
from ganbench.rundir import DEVICE_SETTINGS, TO_RUN, RunDir
from ganbench.study.stages import StudyTrial, trains


def arithmetic(settings: dict) -> str:
    """The arithmetic of a run's device settings (config.json's), by ganbench.device's rule where it has one."""
    import ganbench.device as device

    text = getattr(device, "arithmetic_text", None)  # the owner of the rule, where this version has it
    if text is not None:
        return text(settings)
    return f"{settings.get('precision')} (path not recorded)"


def recorded(t: StudyTrial) -> str | None:
    """The arithmetic a trial trained in (None: it has not started, or its config.json does not read)."""
    try:
        settings = RunDir(t.run_dir).read_meta().get(DEVICE_SETTINGS)
    except (OSError, ValueError, AttributeError):
        return None
    return arithmetic(settings) if settings else None


def counts(trials: list[StudyTrial]) -> dict[str, int]:
    """Trained trials per arithmetic (what study.json records per stage)."""
    return dict(Counter(a for t in trials if trains(t) and (a := recorded(t))))


@dataclass(frozen=True)
class Mix:
    here: str  # what this host would train the trials left in
    reason: str
    others: dict[str, int]  # arithmetic -> trials of the study already trained in it
    left: int

    def text(self) -> str:
        return (
            f"this host trains in {self.here} ({self.reason}), but "
            + ", ".join(f"{n} trial(s) of this study already trained in {a}" for a, n in self.others.items())
            + f": the {self.left} left would mix arithmetic within the study"
        )


def mix(trials: list[StudyTrial], states: dict[Path, str]) -> Mix | None:
    """The arithmetic mix running the trials left here would make, or None. For trials that run here (the local
    executor); the report flags a mix either way."""
    from ganbench.device import pick_device, resolve  # torch: only when a stage is about to run

    trained = [t for t in trials if trains(t)]
    left = [t for t in trained if states.get(t.run_dir) in TO_RUN]
    if not left:
        return None
    try:
        settings = resolve(left[0].cfg, pick_device(left[0].cfg.device))
    except ValueError:  # a device this host lacks: the trials say so themselves when they start
        return None
    here = arithmetic(settings.to_dict())
    finished = Counter(recorded(t) for t in trained if states.get(t.run_dir) not in TO_RUN)
    others = {a: n for a, n in finished.items() if a and a != here}
    return Mix(here, settings.precision_reason, others, len(left)) if others else None


def check(trials: list[StudyTrial], states: dict[Path, str], pinned: bool, allow: bool) -> str | None:
    """None, or the note to print before a stage runs. A study that pins its precision refuses to mix arithmetic
    (ConfigError) unless `allow`; one left on `auto` is warned."""
    m = mix(trials, states)
    if m is None:
        return None
    if pinned and not allow:
        raise ConfigError(
            f"{m.text()}. The study pins its precision to run on one arithmetic path: run it on a host like the "
            "others' (each trial's config.json records its path), or pass --allow-mixed-arithmetic to go on (the "
            "report then treats the paths as different arithmetic)"
        )
    return f"note: {m.text()}, and the report will say so. To keep one, run them on a host like the others'"
