"""Sweep files: read a TOML sweep and check its shape (the format is in `ganbench.sweep`'s docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench.budget import parse_budget
from ganbench.config import FIELDS
from ganbench.errors import ConfigError
from ganbench.families import HYPERPARAMETERS
from ganbench.spec import (
    DATA_KEYS,
    EXECUTOR_NAMES,
    LOCAL,
    MAX_RETRIES,
    RAY,
    SEARCH_MODES,
    absolute_paths,
    check_keys,
    check_max_retries,
    choice,
    distribution,
    folder_name,
    number,
    read_toml,
    table,
)

__all__ = [
    "DATA_KEYS",
    "EXECUTOR_NAMES",
    "LOCAL",
    "MAX_RETRIES",
    "RAY",
    "SET_ELSEWHERE",
    "Sweep",
    "check_max_retries",
    "load_sweep",
]

SWEEP_KEYS = (
    "name",
    "variants",
    "seeds",
    "budget",
    "eval",
    "executor",
    "cpus_per_trial",
    "gpus_per_trial",
    "max_concurrent",
    "max_retries",
)
SEARCH_KEYS = ("mode", "trials", "seed", "include_recipe", "space")
# What a search may vary (ganbench.families.HYPERPARAMETERS): the training hyperparameters of a recipe. Which
# variant, which data, which budget and which seed are the sweep's axes and settings, not search dimensions.
# Config fields that [settings] may not set, and where each one belongs instead.
SET_ELSEWHERE = {
    "variant": "[sweep] variants",
    "description": "the variant's recipe",
    "family": "the variant's recipe",
    "objective": "the variant's recipe",
    "seed": "[sweep] seeds",
    "budget": "[sweep] budget",
    **{k: "[data]" for k in DATA_KEYS},
}


def space_distribution(key: str, value: Any) -> tuple[str, list]:
    """A random-search dimension of hyperparameter `key` (see ganbench.spec.distribution)."""
    return distribution(key, value, takes_numbers=FIELDS[key].type != "str")


@dataclass(frozen=True)
class Sweep:
    name: str
    variants: tuple[str, ...]
    seeds: tuple[int, ...]
    settings: dict[str, Any]  # config fields for every trial: budget, [data], [settings] (and --set)
    mode: str = "grid"  # grid | random
    space: dict[str, Any] = field(default_factory=dict)  # grid: key -> values; random: key -> (kind, args)
    trials: int = 0  # random search: settings drawn (before projection onto each variant)
    search_seed: int = 0  # random search: seed of the draws, so a re-run draws the same settings
    include_recipe: bool = False  # also run each variant's own recipe, unless the search already holds it
    evaluate: bool = True  # FID etc. (the config's eval_samples, eval_every_kimg)
    executor: str = "local"
    cpus_per_trial: float | None = None  # None: the executor decides (local: all cores; ray: 1)
    gpus_per_trial: float | None = None  # None: 1 where a GPU is visible, else 0
    max_concurrent: int = 0  # 0: the executor's default
    max_retries: int = MAX_RETRIES  # per trial and command: runs again after its worker was lost (0: never)
    source: str = ""  # the sweep file


def load_sweep(path: str | Path, overrides: dict[str, Any] | None = None) -> Sweep:
    """Read and check a sweep file; `overrides` (config fields, as from --set) replace its settings.

    Only the file's shape is checked here; `plan_sweep` then resolves every trial's config through `make_config`,
    so every value is validated before any trial starts.
    """
    path = Path(path)
    where = str(path)
    doc = read_toml(path, "sweep file", "the shipped ones are in benchmarks/sweeps/")
    check_keys(doc, ("sweep", "data", "settings", "search"), "table", where)
    head, data, settings, search = (table(doc, k, where) for k in ("sweep", "data", "settings", "search"))
    check_keys(head, SWEEP_KEYS, "[sweep] key", where)
    check_keys(data, DATA_KEYS, "[data] key", where)
    check_keys(search, SEARCH_KEYS, "[search] key", where)
    for key in settings:
        if key in SET_ELSEWHERE:
            raise ConfigError(f"'{key}' cannot be in [settings]: it is set by {SET_ELSEWHERE[key]} (in {where})")
    check_keys(settings, FIELDS, "config key", f"[settings] of {where}")

    name = folder_name(head.get("name", path.stem), "[sweep] name")
    variants = head.get("variants")
    if not isinstance(variants, list) or not variants or not all(isinstance(v, str) for v in variants):
        raise ConfigError(
            f'[sweep] variants must be a non-empty list of variant names, e.g. ["dcgan", "vae"] (in {where})'
        )
    seeds = head.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError(f"[sweep] seeds must be a non-empty list of integers, e.g. [0, 1, 2] (in {where})")
    seeds = [number(s, "[sweep] seeds", integer=True) for s in seeds]
    if len(set(seeds)) != len(seeds) or len(set(variants)) != len(variants):
        raise ConfigError(f"[sweep] variants and seeds must not repeat (in {where})")
    if "budget" not in head:
        raise ConfigError(
            f'[sweep] budget is missing: every trial gets the same one, e.g. budget = "200kimg" (in {where})'
        )
    budget = str(head["budget"])
    parse_budget(budget)
    evaluate = head.get("eval", True)
    if not isinstance(evaluate, bool):
        raise ConfigError(f"[sweep] eval must be true or false, got {evaluate!r}")
    executor = choice(head.get("executor", LOCAL), EXECUTOR_NAMES, "executor", where)
    cpus = head.get("cpus_per_trial")
    gpus = head.get("gpus_per_trial")
    if cpus is not None and not number(cpus, "[sweep] cpus_per_trial") > 0:
        raise ConfigError(f"[sweep] cpus_per_trial must be positive, got {cpus!r}")
    if gpus is not None and not number(gpus, "[sweep] gpus_per_trial") >= 0:
        raise ConfigError(f"[sweep] gpus_per_trial must not be negative, got {gpus!r}")
    max_concurrent = number(head.get("max_concurrent", 0), "[sweep] max_concurrent", integer=True)
    if max_concurrent < 0:
        raise ConfigError(f"[sweep] max_concurrent must not be negative, got {max_concurrent}")
    max_retries = number(head.get("max_retries", MAX_RETRIES), "[sweep] max_retries", integer=True)
    check_max_retries(max_retries, "[sweep] max_retries")

    run_settings = {"budget": budget, **data, **settings}
    for key, value in (overrides or {}).items():
        if key in ("variant", "description", "family", "objective", "seed"):
            raise ConfigError(f"--set {key}=... is not allowed in a sweep: it is set by {SET_ELSEWHERE[key]}")
        run_settings[key] = value
    run_settings = absolute_paths(run_settings)  # paths are relative to where ganbench runs

    mode = choice(search.get("mode", "grid"), SEARCH_MODES, "search mode", f"[search] of {where}")
    space = table(search, "space", f"[search] of {where}")
    check_keys(space, HYPERPARAMETERS, "hyperparameter", f"[search.space] of {where}")
    for key in space:
        if key in run_settings:
            raise ConfigError(f"'{key}' is both fixed ([settings] or --set) and searched ([search.space]); keep one")
    if mode == "grid":
        for key in ("trials", "seed"):
            if key in search:
                raise ConfigError(f'[search] {key} is for mode = "random"; a grid runs every combination')
        for key, values in space.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"[search.space] {key} must be a non-empty list of values for a grid, got {values!r}")
        space = dict(space)
    else:
        space = {key: space_distribution(key, spec) for key, spec in space.items()}
    trials = number(search.get("trials", 0), "[search] trials", integer=True)
    if mode != "grid" and space and trials < 1:
        raise ConfigError(f"random search needs [search] trials = N, the number of settings to draw (in {where})")
    include_recipe = search.get("include_recipe", False)
    if not isinstance(include_recipe, bool):
        raise ConfigError(f"[search] include_recipe must be true or false, got {include_recipe!r}")
    return Sweep(
        name=name,
        variants=tuple(variants),
        seeds=tuple(seeds),
        settings=run_settings,
        mode=mode,
        space=space,
        trials=trials,
        search_seed=number(search.get("seed", 0), "[search] seed", True),
        include_recipe=include_recipe,
        evaluate=evaluate,
        executor=executor,
        cpus_per_trial=None if cpus is None else float(cpus),
        gpus_per_trial=None if gpus is None else float(gpus),
        max_concurrent=max_concurrent,
        max_retries=max_retries,
        source=str(path),
    )
