"""Planning: a sweep becomes trials, each with its config resolved and validated and its run directory, before
any starts; and the --dry-run table of trials and what each directory holds."""

from __future__ import annotations

import json
from pathlib import Path

from ganbench import families
from ganbench.config import load_recipe, make_config
from ganbench.errors import ConfigError
from ganbench.execution.trial import Trial
from ganbench.rundir import State
from ganbench.sweep.search import search_points, short_text, trial_tag
from ganbench.sweep.spec import Sweep


def plan_sweep(sweep: Sweep, out: Path) -> list[Trial]:
    """Every trial, each config resolved and validated, before any starts.

    Order: seed-major (all variants and settings for the first seed, then the next seed), so a sweep stopped
    early already holds a comparable result for every variant.
    """
    points = search_points(sweep)
    per_variant: list[tuple[dict, list[tuple[str, dict, tuple]]]] = []
    for name in sweep.variants:
        recipe = load_recipe(name)
        base = make_config(recipe, **sweep.settings, seed=sweep.seeds[0])
        settings, seen = [], set()
        for point in points:
            params = {k: v for k, v in point.items() if families.get(base.family).applies(k, base)}
            cfg = make_config(recipe, **sweep.settings, **params, seed=sweep.seeds[0])
            key = json.dumps(cfg.to_dict(), sort_keys=True)
            if key in seen:  # the same config as an earlier point once projected: run it once
                continue
            seen.add(key)
            params = {k: getattr(cfg, k) for k in sorted(params)}
            settings.append((trial_tag(params), params, tuple(sorted(k for k in point if k not in params))))
        per_variant.append((recipe, settings))
    trials = []
    for seed in sweep.seeds:
        for recipe, settings in per_variant:
            for tag, params, ignored in settings:
                cfg = make_config(recipe, **sweep.settings, **params, seed=seed)
                trials.append(Trial(cfg, out / cfg.variant / tag / f"seed{seed}", tag, params, ignored, sweep.name))
    dirs = [t.run_dir for t in trials]
    if len(set(dirs)) != len(dirs):
        raise ConfigError("two trials would share a directory: list each variant once in [sweep] variants")
    return trials


def _columns(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def plan_text(trials: list[Trial], states: dict[Path, str]) -> str:
    """The --dry-run table: one row per variant and setting, with each seed's state."""
    groups: dict[tuple[str, str], list[Trial]] = {}
    for t in trials:
        groups.setdefault((t.cfg.variant, t.tag), []).append(t)
    rows = []
    for (variant, tag), group in sorted(groups.items()):
        seeds = " ".join(f"{t.cfg.seed}:{states[t.run_dir]}" for t in group)
        params = ", ".join(f"{k}={short_text(v)}" for k, v in group[0].params.items()) or "(the recipe)"
        ignored = f"  [not applicable: {', '.join(group[0].ignored)}]" if group[0].ignored else ""
        rows.append([variant, tag, seeds, params + ignored])
    counts = {s: list(states.values()).count(s) for s in State}
    todo = counts[State.NEW] + counts[State.RESUMABLE]
    foot = (
        f"\n{len(trials)} trials: {todo} to run ({counts[State.NEW]} new, {counts[State.RESUMABLE]} to resume), "
        f"{counts[State.COMPLETED]} completed, {counts[State.DIVERGED]} diverged"
    )
    if counts[State.LOCKED]:
        foot += f", {counts[State.LOCKED]} being written by another process (left alone)"
    return _columns(rows, ["variant", "trial", "seed:state", "params"]) + foot
