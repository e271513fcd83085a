"""A study as values: its stages, its candidates' search, its analysis plan, cost rates and power inputs. Read from a
study file by `ganbench.study.spec`, run by `ganbench.study.run`, each stage by its kind (`ganbench.study.stages`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ganbench.spec import LOCAL, RANDOM_MODES
from ganbench.study.analysis import AnalysisPlan


@dataclass(frozen=True)
class Stage:
    """One stage: how it takes its candidates (its kind: see ganbench.study.stages), its budget, run seeds, the
    split its evaluations use, and settings of its own."""

    name: str  # also its folder in the results
    kind: str
    budget: str
    seeds: tuple[int, ...]
    split: str
    settings: dict[str, Any] = field(default_factory=dict)
    keep: float | None = None  # halving: the share of the previous stage's candidates kept (rounded up)
    recipe_seeds: tuple[int, ...] = ()  # final: seeds of the recipe arm (the tuned arm and baselines: seeds)

    @property
    def label(self) -> str:
        return stage_label(self.name, self.kind)


def stage_label(name: str, kind: str) -> str:
    """How a stage is named in printed lines: its name, and its kind where that differs ("rung25, search")."""
    return name if name == kind else f"{name}, {kind}"


@dataclass(frozen=True)
class Search:
    """The candidates every variant starts with: `trials` draws from `space` (the same draws for every variant,
    projected onto the keys that act on it) and, with `recipe`, the variant's own recipe."""

    space: dict[str, tuple[str, list]]
    trials: int
    mode: str = RANDOM_MODES[0]  # lhs | random (see ganbench.sweep.search)
    seed: int = 0  # of the draws
    recipe: bool = False


@dataclass(frozen=True)
class Cost:
    """Rates for the printed plan, replaced by the study's own measurements as its trials complete."""

    train_img_per_s: dict[str, float]  # per variant, "default" for the rest
    eval_img_per_s: float  # Inception images per second inside a trial
    trial_overhead_s: float  # start-up, grids, checkpoints per trial

    def train_rate(self, variant: str) -> float:
        return self.train_img_per_s.get(variant, self.train_img_per_s["default"])


@dataclass(frozen=True)
class Power:
    """What the seed counts are planned for: a seed-to-seed coefficient of variation (declared until runs measure
    one), the smallest ratio worth detecting, and the power wanted (ganbench.study.power)."""

    cv: float | None = None
    ratio: float = 1.25
    power: float = 0.8


@dataclass(frozen=True)
class Study:
    name: str
    variants: tuple[str, ...]  # searched and compared, tuned arm against recipe
    baselines: tuple[str, ...]  # final stage only, no search: the random floor and the real-vs-real line
    settings: dict[str, Any]  # config fields for every trial: [data], [settings] (and --set)
    plan: AnalysisPlan
    search: Search
    stages: tuple[Stage, ...]
    cost: Cost
    power: Power = Power()
    executor: str = LOCAL
    max_concurrent: int = 0
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    source: str = ""
    format: int = 2

    def metric_name(self) -> str:
        """The primary metric at the study's sample count: 'kid500'."""
        return self.plan.metric_name

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    @property
    def final(self) -> Stage:
        return self.stages[-1]
