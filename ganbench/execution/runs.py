"""`ganbench run` as a library: the run's settings from its options and the device's defaults, its trials (variants
x seeds in <out>/<variant>/seed<k>/), and running them one after another on the local executor.

What the user does not give is sized for the device (`ganbench.device.run_defaults`): the resolution, the budget,
the evaluation's size and interval, and the network widths, which go under each recipe (a recipe's own widths
win). Each default used is named in `RunSettings.note`, so the command can say what it chose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganbench.config import load_recipe, make_config
from ganbench.errors import ConfigError
from ganbench.execution.driver import Event, Skipped, run_trials
from ganbench.execution.executors import ExecOptions
from ganbench.execution.trial import Trial, trial_state
from ganbench.rundir import RunDir, State
from ganbench.spec import LOCAL

# Settings the device chooses when the options leave them out (None), in the order the note names them.
DEVICE_CHOSEN = ("resolution", "budget", "eval_every_kimg", "eval_samples")


@dataclass(frozen=True)
class RunSettings:
    settings: dict[str, Any]  # config fields for every run: the options, --set, the device's choice for the rest
    defaults: dict[str, Any]  # under each recipe (a recipe's own value wins): the device's network widths
    used: tuple[str, ...]  # the device's choices that were taken, in `settings` or `defaults`

    def note(self) -> str:
        """'device defaults (give them to change): resolution=32, ...', or '' when none was taken."""
        shown = self.settings | self.defaults
        if not self.used:
            return ""
        return "device defaults (give them to change): " + ", ".join(f"{k}={shown[k]}" for k in self.used)


def run_settings(options: Mapping[str, Any], overrides: Mapping[str, Any]) -> RunSettings:
    """The settings of every run: `options` (config fields as the command line gives them; None for one of
    DEVICE_CHOSEN: the device's choice) under `overrides` (--set, which wins over both). `options["device"]` picks
    the device whose defaults fill the rest."""
    from ganbench.device import NETWORK_DEFAULT_KEYS, pick_device, run_defaults

    auto = run_defaults(pick_device(options.get("device", "auto")))  # what the user does not give, for the device
    settings = {k: auto[k] if v is None and k in DEVICE_CHOSEN else v for k, v in options.items()}
    if options.get("eval_samples") is None:  # the device's curve points come with the device's evaluation size
        settings["eval_samples_during"] = auto["eval_samples_during"]
    defaults = {k: auto[k] for k in NETWORK_DEFAULT_KEYS}
    used = [k for k in DEVICE_CHOSEN if options.get(k) is None and k not in overrides]
    used += [k for k in defaults if k not in overrides]
    return RunSettings(
        {k: v for k, v in settings.items() if k not in overrides} | dict(overrides),
        {k: v for k, v in defaults.items() if k not in overrides},
        tuple(used),
    )


def default_out(dataset: str, settings: Mapping[str, Any]) -> Path:
    """results/<dataset>-<resolution>: where `ganbench run` writes unless told."""
    return Path("results") / f"{dataset}-{settings.get('resolution')}"


def plan_runs(
    variants: list[str],
    seeds: list[int],
    out: Path,
    settings: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
) -> list[Trial]:
    """Variants x seeds, each run in <out>/<variant>/seed<k>/, seed-major (every variant's first seed, then the
    next seed). Every config is resolved first, so a typo fails before any training starts."""
    if not variants:
        raise ConfigError("no variants given: pass --variants, for example --variants dcgan,wgan-gp,vae")
    if not seeds:
        raise ConfigError("no seeds given: pass --seeds, for example --seeds 0,1,2")
    if "seed" in settings:
        raise ConfigError("seeds are set with --seeds (for example --seeds 0,1,2), not --set seed=...")
    if len(set(variants)) != len(variants) or len(set(seeds)) != len(seeds):
        raise ConfigError("two runs would share a directory: each variant and seed may appear once")
    recipes = [dict(defaults or {}) | load_recipe(name) for name in variants]  # defaults under the recipe
    for recipe in recipes:
        make_config(recipe, **settings, seed=seeds[0])  # every variant checked before any seed is planned
    trials = []
    for seed in seeds:
        for recipe in recipes:
            cfg = make_config(recipe, **settings, seed=seed)
            trials.append(Trial(cfg, out / cfg.variant / f"seed{seed}"))
    if len({t.run_dir for t in trials}) != len(trials):
        raise ConfigError("two runs would share a directory: each variant and seed may appear once")
    return trials


def run_in_order(
    trials: list[Trial],
    evaluate: bool = True,
    resume: bool = True,
    on_event: Callable[[Event], None] | None = None,
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    """Run `trials` one after another in this process; completed ones are skipped (`Skipped`: their summary is
    read back). Returns one summary per trial. A changed config, inputs that cannot be built or a directory
    another process holds raise, before that trial writes anything."""
    states = {t.run_dir: trial_state(t, resume=resume, batch=False) for t in trials}  # refuses changed configs
    todo = [t for t in trials if states[t.run_dir] != State.COMPLETED]
    for t in trials:
        if states[t.run_dir] == State.COMPLETED and on_event:
            on_event(Skipped(t))
    options = ExecOptions(evaluate=evaluate, max_concurrent=1, show_progress=show_progress, resume=resume, batch=False)
    results = run_trials(LOCAL, todo, options, on_event)
    return [results[t.run_dir] if t.run_dir in results else RunDir(t.run_dir).read_summary() for t in trials]
