"""Study files: read a two-stage study (TOML) and check its shape. The format is in `ganbench.study`'s docstring."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench.budget import parse_budget
from ganbench.config import CHOICES, FIELDS
from ganbench.errors import ConfigError
from ganbench.families import HYPERPARAMETERS
from ganbench.metrics import names
from ganbench.registry import unknown
from ganbench.study.analysis import AnalysisPlan, v1_plan
from ganbench.sweep.spec import (
    _SET_ELSEWHERE,
    DATA_KEYS,
    EXECUTOR_NAMES,
    LOCAL,
    _check,
    _distribution,
    _number,
    _table,
)

STUDY_KEYS = (
    "name",
    "variants",
    "baselines",
    "metric",
    "equivalence_margin",
    "executor",
    "max_concurrent",
    "cpus_per_trial",
    "gpus_per_trial",
)
SEARCH_KEYS = ("budget", "mode", "trials", "seed", "seeds", "split", "space", "settings")
SEARCH_MODES = ("lhs", "random")  # lhs (default): a Latin hypercube of K draws, so a small K still covers each range
FINAL_KEYS = ("budget", "seeds", "recipe_seeds", "split", "settings")
COST_KEYS = ("train_img_per_s", "eval_img_per_s", "trial_overhead_s")
DEFAULT_BASELINES = ("random", "real")
# Stage settings may not move what the stages are defined by: the split and budget have keys of their own.
_STAGE_OWNED = {"eval_split": "split", "budget": "budget", "seed": "seeds"}


@dataclass(frozen=True)
class Stage:
    """One stage: its budget, run seeds, the split its evaluations use, and settings of its own."""

    budget: str
    seeds: tuple[int, ...]
    split: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cost:
    """Rates for the printed plan, replaced by the study's own measurements as its trials complete."""

    train_img_per_s: dict[str, float]  # per variant, "default" for the rest
    eval_img_per_s: float  # Inception images per second inside a trial
    trial_overhead_s: float  # start-up, grids, checkpoints per trial

    def train_rate(self, variant: str) -> float:
        return self.train_img_per_s.get(variant, self.train_img_per_s["default"])


@dataclass(frozen=True)
class Study:
    name: str
    variants: tuple[str, ...]  # searched in stage 1 and compared in stage 2, recipe against tuned
    baselines: tuple[str, ...]  # stage 2 only, no search: the random floor and the real-vs-real line
    metric: str  # base name that selects (stage 1) and ranks (stage 2): kid, fid or fidinf
    equivalence_margin: float  # "tied" needs equivalence within this share of the gap from the best to the floor
    settings: dict[str, Any]  # config fields for every trial: [data], [settings] (and --set)
    space: dict[str, tuple[str, list]]  # stage 1's random search: key -> (distribution, args)
    trials: int  # K: settings drawn per variant (the same draws for every variant, projected)
    mode: str  # how the K settings are drawn: lhs | random (see ganbench.sweep.search)
    search_seed: int
    search: Stage
    final: Stage
    recipe_seeds: tuple[int, ...]  # stage 2's recipe arm (the tuned arm and the baselines use final.seeds)
    cost: Cost
    executor: str = LOCAL
    max_concurrent: int = 0
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    source: str = ""

    def metric_name(self) -> str:
        """The selecting and ranking metric at the study's sample count: 'kid500'."""
        return names.name(self.metric, int(self.settings.get("eval_samples", FIELDS["eval_samples"].default)))

    @property
    def plan(self) -> AnalysisPlan:
        """The analysis plan this (format 1) study implies: see ganbench.study.analysis."""
        return v1_plan(self.metric, names.parse(self.metric_name()).n, self.equivalence_margin)


def _names(value: Any, what: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(set(value)) != len(value):
        raise ConfigError(f'{what} must be a list of distinct variant names, e.g. ["dcgan", "vae"] (in {where})')
    return tuple(value)


def _seeds(value: Any, what: str, where: str, allow_empty: bool = False) -> tuple[int, ...]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise ConfigError(f"{what} must be a list of integers, e.g. [0, 1, 2] (in {where})")
    seeds = tuple(_number(s, what, integer=True) for s in value)
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ConfigError(f"{what} must not repeat or be negative (in {where})")
    return seeds


def _stage(table: dict, keys: tuple[str, ...], what: str, where: str) -> Stage:
    _check(table, keys, f"{what} key", where)
    for key in ("budget", "seeds", "split"):
        if key not in table:
            raise ConfigError(
                f"{what} {key} is missing (in {where}): a stage needs a budget, run seeds and the "
                'split its evaluations use, e.g. budget = "100kimg", seeds = [0], split = "val"'
            )
    budget = str(table["budget"])
    parse_budget(budget)
    split = table["split"]
    if split not in CHOICES["eval_split"]:
        raise ConfigError(f"{unknown(f'{what} split', str(split), list(CHOICES['eval_split']))} (in {where})")
    settings = _table(table, "settings", f"{what} of {where}")
    for key in settings:
        if key in _STAGE_OWNED:
            raise ConfigError(
                f"'{key}' cannot be in {what[:-1]}.settings]: it is the stage's {_STAGE_OWNED[key]} (in {where})"
            )
        if key in _SET_ELSEWHERE:
            raise ConfigError(f"'{key}' cannot be in {what[:-1]}.settings]: it is set by {_SET_ELSEWHERE[key]}")
    _check(settings, FIELDS, "config key", f"{what[:-1]}.settings] of {where}")
    return Stage(budget, _seeds(table["seeds"], f"{what} seeds", where), str(split), dict(settings))


def _cost(table: dict, where: str) -> Cost:
    _check(table, COST_KEYS, "[cost] key", where)
    rates = table.get("train_img_per_s", {"default": 1000.0})
    if isinstance(rates, (int, float)):
        rates = {"default": rates}
    if not isinstance(rates, dict) or "default" not in rates:
        raise ConfigError(f"[cost] train_img_per_s must be a number or a table with a 'default' (in {where})")
    rates = {k: float(_number(v, f"[cost] train_img_per_s.{k}")) for k, v in rates.items()}
    evals = float(_number(table.get("eval_img_per_s", 12.0), "[cost] eval_img_per_s"))
    overhead = float(_number(table.get("trial_overhead_s", 10.0), "[cost] trial_overhead_s"))
    if min(*rates.values(), evals) <= 0 or overhead < 0:
        raise ConfigError(f"[cost] rates must be positive and the overhead not negative (in {where})")
    return Cost(rates, evals, overhead)


def load_study(path: str | Path, overrides: dict[str, Any] | None = None) -> Study:
    """Read and check a study file; `overrides` (config fields, as from --set) replace its [settings]. Every
    trial's config is resolved and validated later, when the stages are planned, before any trial starts."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study file '{path}' does not exist (the shipped ones are in benchmarks/studies/)")
    where = str(path)
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"study file {path} is not valid TOML: {e}") from None
    _check(doc, ("study", "data", "settings", "search", "final", "cost"), "table", where)
    head, data, settings, search, final, cost = (
        _table(doc, k, where) for k in ("study", "data", "settings", "search", "final", "cost")
    )
    _check(head, STUDY_KEYS, "[study] key", where)
    _check(data, DATA_KEYS, "[data] key", where)
    for key in settings:
        if key in _SET_ELSEWHERE or key in _STAGE_OWNED:
            raise ConfigError(
                f"'{key}' cannot be in [settings]: it is set by "
                f"{_SET_ELSEWHERE.get(key) or '[search] / [final] ' + _STAGE_OWNED[key]} (in {where})"
            )
    _check(settings, FIELDS, "config key", f"[settings] of {where}")

    name = head.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ConfigError(f"[study] name must be a short folder name (letters, digits, . _ -), got {name!r}")
    if "variants" not in head:
        raise ConfigError(f"[study] variants is missing: the variants to search and compare (in {where})")
    variants = _names(head["variants"], "[study] variants", where)
    baselines = _names(head.get("baselines", list(DEFAULT_BASELINES)), "[study] baselines", where)
    if not variants or set(variants) & set(baselines):
        raise ConfigError(f"[study] variants must be non-empty and not repeat a baseline (in {where})")
    metric = head.get("metric", names.KID)
    if metric not in names.DISTANCES:
        raise ConfigError(f"{unknown('[study] metric', str(metric), list(names.DISTANCES))} (in {where})")
    margin = float(_number(head.get("equivalence_margin", 0.1), "[study] equivalence_margin"))
    if not 0 < margin < 1:
        raise ConfigError(
            f"[study] equivalence_margin is a share of the gap between the best variant and the random "
            f"floor, between 0 and 1 (e.g. 0.1), got {margin!r}"
        )
    executor = head.get("executor", LOCAL)
    if executor not in EXECUTOR_NAMES:
        raise ConfigError(f"{unknown('executor', str(executor), list(EXECUTOR_NAMES))} (in {where})")

    stage1 = _stage(search, SEARCH_KEYS, "[search]", where)
    stage2 = _stage(final, FINAL_KEYS, "[final]", where)
    if (
        stage1.split == stage2.split
        or "all" in (stage1.split, stage2.split)
        or {stage1.split, stage2.split} == {"test", "heldout"}
        or {stage1.split, stage2.split} == {"val", "heldout"}
    ):
        raise ConfigError(
            f"[search] split '{stage1.split}' and [final] split '{stage2.split}' overlap: the final "
            "results must be reported on images never used for selection (e.g. val, then test)"
        )
    space = _table(search, "space", f"[search] of {where}")
    _check(space, HYPERPARAMETERS, "hyperparameter", f"[search.space] of {where}")
    space = {key: _distribution(key, spec) for key, spec in space.items()}
    trials = _number(search.get("trials", 0), "[search] trials", integer=True)
    mode = search.get("mode", SEARCH_MODES[0])
    if mode not in SEARCH_MODES:
        raise ConfigError(f"{unknown('[search] mode', str(mode), list(SEARCH_MODES))} (in {where})")
    if not space or trials < 1:
        raise ConfigError(
            f"stage 1 needs [search] trials = K (settings drawn per variant) and a [search.space] (in {where})"
        )
    recipe_seeds = _seeds(
        final.get("recipe_seeds", list(stage2.seeds)), "[final] recipe_seeds", where, allow_empty=True
    )

    run_settings = {**data, **settings}
    for key, value in (overrides or {}).items():
        if key in _SET_ELSEWHERE and key not in DATA_KEYS or key in _STAGE_OWNED:
            raise ConfigError(f"--set {key}=... is not allowed in a study: it is set by the study file")
        run_settings[key] = value
    for key in ("data", "inception_weights"):  # absolute, so workers started elsewhere find them
        if run_settings.get(key):
            run_settings[key] = str(Path(os.path.expanduser(str(run_settings[key]))).resolve())
    for key in space:
        if key in run_settings or key in stage1.settings or key in stage2.settings:
            raise ConfigError(f"'{key}' is both fixed and searched ([search.space]); keep one")
    max_concurrent = _number(head.get("max_concurrent", 0), "[study] max_concurrent", integer=True)
    cpus, gpus = head.get("cpus_per_trial"), head.get("gpus_per_trial")
    return Study(
        name=name,
        variants=variants,
        baselines=baselines,
        metric=metric,
        equivalence_margin=margin,
        settings=run_settings,
        space=space,
        trials=trials,
        mode=mode,
        search_seed=_number(search.get("seed", 0), "[search] seed", integer=True),
        search=stage1,
        final=stage2,
        recipe_seeds=recipe_seeds,
        cost=_cost(cost, where),
        executor=executor,
        max_concurrent=max(0, max_concurrent),
        cpus_per_trial=None if cpus is None else float(_number(cpus, "[study] cpus_per_trial")),
        gpus_per_trial=None if gpus is None else float(_number(gpus, "[study] gpus_per_trial")),
        source=str(path),
    )
