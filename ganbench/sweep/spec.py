"""Sweep files: read a TOML sweep and check its shape (the format is in `ganbench.sweep`'s docstring)."""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench.budget import parse_budget
from ganbench.config import FIELDS
from ganbench.errors import ConfigError
from ganbench.execution.executors import EXECUTOR_NAMES, LOCAL, MAX_RETRIES, check_max_retries
from ganbench.families import HYPERPARAMETERS
from ganbench.registry import unknown

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
DATA_KEYS = ("dataset", "data", "resolution", "channels", "crop", "max_images")
SEARCH_KEYS = ("mode", "trials", "seed", "include_recipe", "space")
SEARCH_MODES = ("grid", "random", "lhs")  # lhs: random search as a Latin hypercube (every range covered)
DISTRIBUTIONS = ("choice", "uniform", "log_uniform", "int_uniform")
# What a search may vary (ganbench.families.HYPERPARAMETERS): the training hyperparameters of a recipe. Which
# variant, which data, which budget and which seed are the sweep's axes and settings, not search dimensions.
# Config fields that [settings] may not set, and where each one belongs instead.
_SET_ELSEWHERE = {
    "variant": "[sweep] variants",
    "description": "the variant's recipe",
    "family": "the variant's recipe",
    "objective": "the variant's recipe",
    "seed": "[sweep] seeds",
    "budget": "[sweep] budget",
    **{k: "[data]" for k in DATA_KEYS},
}


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


def _table(doc: dict, key: str, where: str) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"'{key}' in {where} must be a table ([{key}])")
    return value


def _check(keys: Iterable[str], valid: Iterable[str], what: str, where: str) -> None:
    valid = list(valid)
    for key in keys:
        if key not in valid:
            raise ConfigError(f"{unknown(what, key, valid)} (in {where})")


def _number(value: Any, what: str, integer: bool = False) -> float | int:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"{what} must be {'an integer' if integer else 'a number'}, got {value!r}")
    return value


def load_sweep(path: str | Path, overrides: dict[str, Any] | None = None) -> Sweep:
    """Read and check a sweep file; `overrides` (config fields, as from --set) replace its settings.

    Only the file's shape is checked here; `plan_sweep` then resolves every trial's config through `make_config`,
    so every value is validated before any trial starts.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep file '{path}' does not exist (the shipped ones are in benchmarks/sweeps/)")
    where = str(path)
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"sweep file {path} is not valid TOML: {e}") from None
    _check(doc, ("sweep", "data", "settings", "search"), "table", where)
    head, data, settings, search = (_table(doc, k, where) for k in ("sweep", "data", "settings", "search"))
    _check(head, SWEEP_KEYS, "[sweep] key", where)
    _check(data, DATA_KEYS, "[data] key", where)
    _check(search, SEARCH_KEYS, "[search] key", where)
    for key in settings:
        if key in _SET_ELSEWHERE:
            raise ConfigError(f"'{key}' cannot be in [settings]: it is set by {_SET_ELSEWHERE[key]} (in {where})")
    _check(settings, FIELDS, "config key", f"[settings] of {where}")

    name = head.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ConfigError(f"[sweep] name must be a short folder name (letters, digits, . _ -), got {name!r}")
    variants = head.get("variants")
    if not isinstance(variants, list) or not variants or not all(isinstance(v, str) for v in variants):
        raise ConfigError(
            f'[sweep] variants must be a non-empty list of variant names, e.g. ["dcgan", "vae"] (in {where})'
        )
    seeds = head.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError(f"[sweep] seeds must be a non-empty list of integers, e.g. [0, 1, 2] (in {where})")
    seeds = [_number(s, "[sweep] seeds", integer=True) for s in seeds]
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
    executor = head.get("executor", LOCAL)
    if executor not in EXECUTOR_NAMES:
        raise ConfigError(f"{unknown('executor', str(executor), list(EXECUTOR_NAMES))} (in {where})")
    cpus = head.get("cpus_per_trial")
    gpus = head.get("gpus_per_trial")
    if cpus is not None and not _number(cpus, "[sweep] cpus_per_trial") > 0:
        raise ConfigError(f"[sweep] cpus_per_trial must be positive, got {cpus!r}")
    if gpus is not None and not _number(gpus, "[sweep] gpus_per_trial") >= 0:
        raise ConfigError(f"[sweep] gpus_per_trial must not be negative, got {gpus!r}")
    max_concurrent = _number(head.get("max_concurrent", 0), "[sweep] max_concurrent", integer=True)
    if max_concurrent < 0:
        raise ConfigError(f"[sweep] max_concurrent must not be negative, got {max_concurrent}")
    max_retries = _number(head.get("max_retries", MAX_RETRIES), "[sweep] max_retries", integer=True)
    check_max_retries(max_retries, "[sweep] max_retries")

    run_settings = {"budget": budget, **data, **settings}
    for key, value in (overrides or {}).items():
        if key in ("variant", "description", "family", "objective", "seed"):
            raise ConfigError(f"--set {key}=... is not allowed in a sweep: it is set by {_SET_ELSEWHERE[key]}")
        run_settings[key] = value
    # Paths are relative to where ganbench runs; made absolute and resolved, so that workers started elsewhere find
    # them and the same folder reached from another checkout (../shared from a second worktree) is the same config.
    for key in ("data", "inception_weights"):
        if run_settings.get(key):
            run_settings[key] = str(Path(os.path.expanduser(str(run_settings[key]))).resolve())

    mode = search.get("mode", "grid")
    if mode not in SEARCH_MODES:
        raise ConfigError(f"{unknown('search mode', str(mode), list(SEARCH_MODES))} (in [search] of {where})")
    space = _table(search, "space", f"[search] of {where}")
    _check(space, HYPERPARAMETERS, "hyperparameter", f"[search.space] of {where}")
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
        space = {key: _distribution(key, spec) for key, spec in space.items()}
    trials = _number(search.get("trials", 0), "[search] trials", integer=True)
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
        search_seed=_number(search.get("seed", 0), "[search] seed", True),
        include_recipe=include_recipe,
        evaluate=evaluate,
        executor=executor,
        cpus_per_trial=None if cpus is None else float(cpus),
        gpus_per_trial=None if gpus is None else float(gpus),
        max_concurrent=max_concurrent,
        max_retries=max_retries,
        source=str(path),
    )


def _distribution(key: str, spec: Any) -> tuple[str, list]:
    """A random-search dimension as (kind, args): a list is a choice; a table names one distribution."""
    if isinstance(spec, list):
        spec = {"choice": spec}
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ConfigError(
            f"[search.space] {key} must be a list or one of {{choice = [...]}}, {{uniform = [lo, hi]}}, "
            f"{{log_uniform = [lo, hi]}}, {{int_uniform = [lo, hi]}}; got {spec!r}"
        )
    ((kind, args),) = spec.items()
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"{unknown('distribution', kind, list(DISTRIBUTIONS))} (for [search.space] {key})")
    if not isinstance(args, list) or not args:
        raise ConfigError(f"[search.space] {key} = {{{kind} = ...}} needs a non-empty list")
    if kind == "choice":
        return kind, args
    if FIELDS[key].type == "str":
        raise ConfigError(f"[search.space] {key} takes values from a list ({{choice = [...]}}), not {kind}")
    if len(args) != 2:
        raise ConfigError(f"[search.space] {key} = {{{kind} = [lo, hi]}} needs exactly two bounds, got {args!r}")
    lo, hi = (_number(a, f"[search.space] {key} bounds", integer=kind == "int_uniform") for a in args)
    if not lo < hi:
        raise ConfigError(f"[search.space] {key}: the lower bound must be below the upper one, got {args!r}")
    if kind == "log_uniform" and lo <= 0:
        raise ConfigError(f"[search.space] {key}: log_uniform bounds must be positive, got {args!r}")
    return kind, [lo, hi]
