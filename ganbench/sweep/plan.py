"""Planning: a sweep (or a plain `ganbench run`, a sweep with an empty search space) becomes trials, each with
its config resolved and validated and its run directory, before any starts; and what each directory holds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganbench import families, runner
from ganbench.config import Config, load_recipe, make_config
from ganbench.errors import ConfigError
from ganbench.rundir import RunDir, State, Status, summary_head
from ganbench.sweep.search import _short, search_points, trial_tag
from ganbench.sweep.spec import Sweep


@dataclass
class Trial:
    sweep: str | None  # None: a plain run (`ganbench run`), with no trial folder and no trial.json
    tag: str
    params: dict[str, Any]  # the searched hyperparameters that act on this variant (coerced to their types)
    ignored: tuple[str, ...]  # searched hyperparameters that do not act on this variant
    plan: runner.Plan

    @property
    def cfg(self) -> Config:
        return self.plan.cfg

    @property
    def run_dir(self) -> Path:
        return self.plan.run_dir

    @property
    def label(self) -> str:
        if self.sweep is None:
            return f"{self.cfg.variant}/seed{self.cfg.seed}"
        return f"{self.cfg.variant}/{self.tag}/seed{self.cfg.seed}"


def plan_runs(
    variants: list[str],
    seeds: list[int],
    out: Path,
    settings: dict[str, Any],
    overrides: dict[str, Any],
    defaults: dict[str, Any] | None = None,
) -> list[Trial]:
    """`ganbench run`'s plan: a sweep with an empty search space, its runs in <out>/<variant>/seed<k>/. Every
    config is resolved first, so a typo fails before any training starts."""
    if not variants:
        raise ConfigError("no variants given: pass --variants, for example --variants dcgan,wgan-gp,vae")
    if not seeds:
        raise ConfigError("no seeds given: pass --seeds, for example --seeds 0,1,2")
    if "seed" in overrides or "seed" in settings:
        raise ConfigError("seeds are set with --seeds (for example --seeds 0,1,2), not --set seed=...")
    if len(set(variants)) != len(variants) or len(set(seeds)) != len(seeds):
        raise ConfigError("two runs would share a directory: each variant and seed may appear once")
    return plan_sweep(
        Sweep(
            name="",
            variants=tuple(variants),
            seeds=tuple(seeds),
            settings=settings | overrides,
            plain=True,
            defaults=dict(defaults or {}),
        ),
        out,
    )


def plan_sweep(sweep: Sweep, out: Path) -> list[Trial]:
    """Every trial, each config resolved and validated, before any starts.

    Order: seed-major (all variants and settings for the first seed, then the next seed), so a sweep stopped
    early already holds a comparable result for every variant.
    """
    points = search_points(sweep)
    per_variant: list[tuple[dict, list[tuple[str, dict, tuple]]]] = []
    for name in sweep.variants:
        recipe = sweep.defaults | load_recipe(name)  # defaults under the recipe: a recipe's own value wins
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
                folder = out / cfg.variant if sweep.plain else out / cfg.variant / tag
                trials.append(
                    Trial(
                        None if sweep.plain else sweep.name,
                        tag,
                        params,
                        ignored,
                        runner.Plan(cfg, folder / f"seed{seed}"),
                    )
                )
    dirs = [t.run_dir for t in trials]
    if len(set(dirs)) != len(dirs):
        raise ConfigError(
            "two runs would share a directory: each variant and seed may appear once"
            if sweep.plain
            else "two trials would share a directory: list each variant once in [sweep] variants"
        )
    return trials


def trial_state(trial: Trial, rerun_diverged: bool = False, resume: bool = True) -> State:
    """What `trial`'s directory holds: new, completed, diverged (final unless rerun_diverged), resumable, or
    locked (another live process writes it: left alone by a sweep). A changed config raises ConfigError. A plain
    run is stricter: a locked directory raises RunLocked, and a diverged run is resumed."""
    from ganbench.lock import RunLocked

    try:
        state = runner.existing_state(trial.plan, resume)
    except RunLocked:
        if trial.sweep is None:
            raise
        return State.LOCKED
    plain = trial.sweep is None
    if state == State.RESUMABLE and not (rerun_diverged or plain) and _status_on_disk(trial.run_dir) == Status.DIVERGED:
        return State.DIVERGED
    return state


def _summary_on_disk(trial: Trial) -> dict[str, Any]:
    """The trial's summary; for one that has none yet, its head with status `new`."""
    return RunDir(trial.run_dir).read_summary() or summary_head(trial.cfg, trial.run_dir) | {"status": State.NEW}


def _status_on_disk(run_dir: Path) -> str | None:
    return RunDir(run_dir).status()


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
        params = ", ".join(f"{k}={_short(v)}" for k, v in group[0].params.items()) or "(the recipe)"
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
