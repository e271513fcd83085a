"""The search: the points of a grid or of a random search, and each point's stable folder name."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
from typing import Any

from ganbench.config import FIELDS
from ganbench.sweep.spec import Sweep


def _draw(key: str, dist: tuple[str, list], rng: random.Random, u: float | None = None) -> Any:
    """One value of `key` from its distribution: a fresh draw, or the value at quantile `u` in [0, 1) (the
    inverse of the distribution function; a Latin hypercube passes one u per stratum)."""
    kind, args = dist
    u = rng.random() if u is None else u
    if kind == "choice":
        return args[min(int(u * len(args)), len(args) - 1)]
    if kind == "int_uniform":
        return args[0] + min(int(u * (args[1] - args[0] + 1)), args[1] - args[0])
    lo, hi = args
    x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if kind == "log_uniform" else lo + u * (hi - lo)
    if FIELDS[key].type == "int":
        return int(round(x))
    return float(f"{x:.3g}")  # three significant digits: readable configs and tags, and nothing lost in practice


def _latin_hypercube(space: dict[str, tuple[str, list]], k: int, rng: random.Random) -> list[dict[str, Any]]:
    """k points such that every dimension's k equal-probability strata hold one point each (McKay et al. 1979):
    with a handful of draws, every range is covered (a choice of two values gets each about k/2 times), where k
    independent draws may all fall in one corner. Strata are paired across dimensions at random."""
    columns = {}
    for key, dist in space.items():
        strata = list(range(k))
        rng.shuffle(strata)
        columns[key] = [_draw(key, dist, rng, (s + rng.random()) / k) for s in strata]
    return [{key: columns[key][i] for key in space} for i in range(k)]


def search_points(sweep: Sweep) -> list[dict[str, Any]]:
    """The settings searched, before projection onto each variant, in a fixed order.

    Random search (mode "random": independent draws; "lhs": a Latin hypercube of them) draws from
    `random.Random(search_seed)`, the same draws for every variant, so variants are compared on the same settings
    and a re-run of the sweep finds the same trials.
    """
    points: list[dict[str, Any]] = []
    if sweep.space and sweep.mode == "grid":
        keys = list(sweep.space)
        points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*sweep.space.values())]
    elif sweep.space and sweep.mode == "lhs":
        points = _latin_hypercube(sweep.space, sweep.trials, random.Random(sweep.search_seed))
    elif sweep.space:
        rng = random.Random(sweep.search_seed)
        points = [{k: _draw(k, d, rng) for k, d in sweep.space.items()} for _ in range(sweep.trials)]
    if sweep.include_recipe or not points:
        points.append({})  # last, so a searched point that equals the recipe keeps its searched tag
    return points


def short_text(value: Any) -> str:
    """The shortest text that reads back as `value`: 0.0001 -> 1e-4, 0.5 -> 0.5, 64 -> 64."""
    if isinstance(value, bool):
        return str(value).lower()
    if not isinstance(value, float):
        return str(value)
    mantissa, exponent = f"{value:e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    candidates = [f"{value:g}", f"{mantissa}e{int(exponent)}", repr(value)]
    return min((c for c in candidates if float(c) == value), key=len)


def trial_tag(params: dict[str, Any]) -> str:
    """A short, readable, stable folder name for a setting: 'lr_d=1e-4_n_critic=5', 'recipe' for no params, or
    't-<hash>' when the readable form is too long. Keys are sorted, so reordering the search keeps the tags."""
    if not params:
        return "recipe"
    tag = "_".join(f"{k}={short_text(params[k])}" for k in sorted(params))
    if len(tag) <= 64 and re.fullmatch(r"[A-Za-z0-9._=+-]+", tag):
        return tag
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return f"t-{digest}"
