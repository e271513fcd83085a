"""The one reader of ganbench's TOML files (recipes, sweeps, studies): reading a file, checking a table's keys with
a "did you mean", numbers, name and seed lists, search distributions, and the names every file format shares
(data keys, search modes, executors). Each format's own module (`ganbench.config` for recipes,
`ganbench.sweep.spec`, `ganbench.study.spec`) says which tables and keys it has; the checks live here once.

This module imports nothing above `ganbench.errors` and `ganbench.registry`, so the config module can use it too.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ganbench.errors import ConfigError
from ganbench.registry import unknown

DATA_KEYS = ("dataset", "data", "resolution", "channels", "crop", "max_images")
# How a search draws its points: grid (every combination), random (independent draws), lhs (random search as a
# Latin hypercube: every range covered with few draws). Studies search at random: RANDOM_MODES, lhs first (default).
SEARCH_MODES = ("grid", "lhs", "random")
RANDOM_MODES = ("lhs", "random")
DISTRIBUTIONS = ("choice", "uniform", "log_uniform", "int_uniform")
# The executor names a file may give. ganbench.execution.executors registers one executor under each (and checks it
# registered exactly these), so reading a file needs no import of the executors.
LOCAL, RAY = "local", "ray"
EXECUTOR_NAMES = (LOCAL, RAY)
MAX_RETRIES = 3  # the default: a trial whose worker is lost runs again at most this often per command
PATH_KEYS = ("data", "inception_weights")  # config fields holding paths: made absolute (see absolute_paths)


def read_toml(path: str | Path, what: str, hint: str = "") -> dict[str, Any]:
    """A TOML file as a dict, or a ConfigError naming the file: missing (with `hint`), unreadable, not TOML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} '{path}' does not exist{' (' + hint + ')' if hint else ''}")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{what} {path} is not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{what} {path} cannot be read ({e.strerror or e})") from None


def table(doc: dict, key: str, where: str) -> dict:
    """doc[key] as a table ({} when absent)."""
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"'{key}' in {where} must be a table ([{key}])")
    return value


def check_keys(keys: Iterable[str], valid: Iterable[str], what: str, where: str) -> None:
    """Every key must be one of `valid`; an unknown one fails with the valid ones and a "did you mean"."""
    valid = list(valid)
    for key in keys:
        if key not in valid:
            raise ConfigError(f"{unknown(what, key, valid)} (in {where})")


def number(value: Any, what: str, integer: bool = False) -> float | int:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"{what} must be {'an integer' if integer else 'a number'}, got {value!r}")
    return value


def folder_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value):
        raise ConfigError(f"{what} must be a short folder name (letters, digits, . _ -), got {value!r}")
    return value


def name_list(value: Any, what: str, where: str, allow_empty: bool = False) -> tuple[str, ...]:
    """A list of distinct names (variants, baselines)."""
    if (
        not isinstance(value, list)
        or (not value and not allow_empty)
        or not all(isinstance(v, str) for v in value)
        or len(set(value)) != len(value)
    ):
        raise ConfigError(f'{what} must be a list of distinct variant names, e.g. ["dcgan", "vae"] (in {where})')
    return tuple(value)


def seed_list(value: Any, what: str, where: str, allow_empty: bool = False) -> tuple[int, ...]:
    """A list of distinct, non-negative run seeds."""
    if not isinstance(value, list) or (not value and not allow_empty):
        raise ConfigError(f"{what} must be a list of integers, e.g. [0, 1, 2] (in {where})")
    seeds = tuple(number(s, what, integer=True) for s in value)
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ConfigError(f"{what} must not repeat or be negative (in {where})")
    return seeds


def choice(value: Any, valid: Iterable[str], what: str, where: str) -> str:
    valid = list(valid)
    if value not in valid:
        raise ConfigError(f"{unknown(what, str(value), valid)} (in {where})")
    return value


def check_max_retries(value: int, where: str) -> None:
    if value < 0:
        raise ConfigError(
            f"{where} must be 0 or more (how often a trial whose worker was lost runs again; 0: never), got {value}"
        )


def absolute_paths(settings: dict[str, Any]) -> dict[str, Any]:
    """Path fields made absolute and resolved, so workers started elsewhere find them and the same folder reached
    from another checkout (../shared from a second worktree) is the same config."""
    out = dict(settings)
    for key in PATH_KEYS:
        if out.get(key):
            out[key] = str(Path(os.path.expanduser(str(out[key]))).resolve())
    return out


def data_origin(file: str | Path, overrides: dict[str, Any] | None) -> str:
    """Where a sweep's or study's data folder was given, as its data pre-flight names it in the one line that
    says the folder is missing: '--set data=' when the command line overrode it, else the file's key."""
    return "--set data=" if "data" in (overrides or {}) else f"[data] data in {file}"


def distribution(key: str, value: Any, takes_numbers: bool) -> tuple[str, list]:
    """A random-search dimension as (kind, args): a list is a choice; a table names one distribution.
    takes_numbers: the field is numeric (a text field takes a choice only)."""
    if isinstance(value, list):
        value = {"choice": value}
    if not isinstance(value, dict) or len(value) != 1:
        raise ConfigError(
            f"[search.space] {key} must be a list or one of {{choice = [...]}}, {{uniform = [lo, hi]}}, "
            f"{{log_uniform = [lo, hi]}}, {{int_uniform = [lo, hi]}}; got {value!r}"
        )
    ((kind, args),) = value.items()
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"{unknown('distribution', kind, list(DISTRIBUTIONS))} (for [search.space] {key})")
    if not isinstance(args, list) or not args:
        raise ConfigError(f"[search.space] {key} = {{{kind} = ...}} needs a non-empty list")
    if kind == "choice":
        return kind, args
    if not takes_numbers:
        raise ConfigError(f"[search.space] {key} takes values from a list ({{choice = [...]}}), not {kind}")
    if len(args) != 2:
        raise ConfigError(f"[search.space] {key} = {{{kind} = [lo, hi]}} needs exactly two bounds, got {args!r}")
    lo, hi = (number(a, f"[search.space] {key} bounds", integer=kind == "int_uniform") for a in args)
    if not lo < hi:
        raise ConfigError(f"[search.space] {key}: the lower bound must be below the upper one, got {args!r}")
    if kind == "log_uniform" and lo <= 0:
        raise ConfigError(f"[search.space] {key}: log_uniform bounds must be positive, got {args!r}")
    return kind, [lo, hi]
