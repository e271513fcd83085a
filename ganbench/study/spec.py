"""Study files: read a study (TOML) into a list of stages and check its shape. The format is in `ganbench.study`'s
docstring; the checks shared with recipes and sweeps are `ganbench.spec`'s.

Two layouts read into the same `Study`:
- a stage list (`[[stages]]`, with a declared `[analysis]` plan): format 2;
- issue 18's two-stage file (`[search]` with a budget, and `[final]`): format 1, read as the stages
  search (every draw, top-1 chosen) and final, with the analysis plan that format implied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganbench.budget import parse_budget
from ganbench.config import CHOICES, FIELDS
from ganbench.errors import ConfigError
from ganbench.families import HYPERPARAMETERS
from ganbench.metrics import names
from ganbench.spec import (
    DATA_KEYS,
    EXECUTOR_NAMES,
    LOCAL,
    RANDOM_MODES,
    absolute_paths,
    check_keys,
    choice,
    folder_name,
    name_list,
    number,
    read_toml,
    seed_list,
    table,
)
from ganbench.study import analysis
from ganbench.study.layout import FINAL, SEARCH
from ganbench.study.model import Cost, Power, Search, Stage, Study
from ganbench.sweep.spec import space_distribution

STUDY_KEYS = ("name", "variants", "baselines", "executor", "max_concurrent", "cpus_per_trial", "gpus_per_trial")
V1_STUDY_KEYS = (*STUDY_KEYS, "metric", "equivalence_margin")
TABLES = ("study", "analysis", "power", "data", "settings", "search", "stages", "cost")
V1_TABLES = ("study", "data", "settings", "search", "final", "cost")
SEARCH_KEYS = ("mode", "trials", "seed", "recipe", "space")  # the candidates; the stages say how they run
V1_SEARCH_KEYS = ("budget", "mode", "trials", "seed", "seeds", "split", "space", "settings")
STAGE_KEYS = ("name", "kind", "budget", "split", "seeds", "keep", "recipe_seeds", "settings")
V1_FINAL_KEYS = ("budget", "seeds", "recipe_seeds", "split", "settings")
COST_KEYS = ("train_img_per_s", "eval_img_per_s", "trial_overhead_s")
POWER_KEYS = ("cv", "ratio", "power")
DEFAULT_BASELINES = ("random", "real")
# Config fields no [settings] may set, and what sets them instead.
SET_ELSEWHERE = {
    "variant": "[study] variants",
    "description": "the variant's recipe",
    "family": "the variant's recipe",
    "objective": "the variant's recipe",
    "seed": "each stage's seeds",
    "budget": "each stage's budget",
    "eval_split": "each stage's split",
    **{k: "[data]" for k in DATA_KEYS},
}


# ---------------------------------------------------------------------------------------------------- parts
def _settings(values: dict, what: str, where: str) -> dict[str, Any]:
    for key in values:
        if key in SET_ELSEWHERE:
            raise ConfigError(f"'{key}' cannot be in {what}: it is set by {SET_ELSEWHERE[key]} (in {where})")
    check_keys(values, FIELDS, "config key", f"{what} of {where}")
    return dict(values)


def _stage(t: dict, kind: str, name: str, keys: tuple[str, ...], what: str, where: str) -> Stage:
    check_keys(t, keys, f"{what} key", where)
    for key in ("budget", "seeds", "split"):
        if key not in t:
            raise ConfigError(
                f"{what} {key} is missing (in {where}): a stage needs a budget, run seeds and the split its "
                'evaluations use, e.g. budget = "100kimg", seeds = [0], split = "val"'
            )
    budget = str(t["budget"])
    parse_budget(budget)
    split = choice(t["split"], CHOICES["eval_split"], f"{what} split", where)
    keep = t.get("keep")
    if keep is not None:
        keep = float(number(keep, f"{what} keep"))
        if not 0 < keep < 1:
            raise ConfigError(f"{what} keep is the share of candidates kept, between 0 and 1 (e.g. 0.25), got {keep}")
    return Stage(
        name=name,
        kind=kind,
        budget=budget,
        seeds=seed_list(t["seeds"], f"{what} seeds", where),
        split=str(split),
        settings=_settings(table(t, "settings", where), f"the settings of {what}", where),
        keep=keep,
        recipe_seeds=seed_list(t.get("recipe_seeds", []), f"{what} recipe_seeds", where, allow_empty=True),
    )


def _search(t: dict, keys: tuple[str, ...], where: str) -> Search:
    check_keys(t, keys, "[search] key", where)
    space = table(t, "space", f"[search] of {where}")
    check_keys(space, HYPERPARAMETERS, "hyperparameter", f"[search.space] of {where}")
    trials = number(t.get("trials", 0), "[search] trials", integer=True)
    recipe = t.get("recipe", False)
    if not isinstance(recipe, bool):
        raise ConfigError(f"[search] recipe must be true or false, got {recipe!r}")
    if (not space or trials < 1) and not recipe:
        raise ConfigError(
            f"a study needs candidates: [search] trials = K (settings drawn per variant) and a [search.space], "
            f"and/or recipe = true (in {where})"
        )
    return Search(
        space={key: space_distribution(key, v) for key, v in space.items()},
        trials=trials,
        mode=choice(t.get("mode", RANDOM_MODES[0]), RANDOM_MODES, "[search] mode", where),
        seed=number(t.get("seed", 0), "[search] seed", integer=True),
        recipe=recipe,
    )


def _cost(t: dict, where: str) -> Cost:
    check_keys(t, COST_KEYS, "[cost] key", where)
    rates = t.get("train_img_per_s", {"default": 1000.0})
    if isinstance(rates, (int, float)):
        rates = {"default": rates}
    if not isinstance(rates, dict) or "default" not in rates:
        raise ConfigError(f"[cost] train_img_per_s must be a number or a table with a 'default' (in {where})")
    rates = {k: float(number(v, f"[cost] train_img_per_s.{k}")) for k, v in rates.items()}
    evals = float(number(t.get("eval_img_per_s", 12.0), "[cost] eval_img_per_s"))
    overhead = float(number(t.get("trial_overhead_s", 10.0), "[cost] trial_overhead_s"))
    if min(*rates.values(), evals) <= 0 or overhead < 0:
        raise ConfigError(f"[cost] rates must be positive and the overhead not negative (in {where})")
    return Cost(rates, evals, overhead)


def _power(t: dict, where: str) -> Power:
    check_keys(t, POWER_KEYS, "[power] key", where)
    cv = t.get("cv")
    p = Power(
        cv=None if cv is None else float(number(cv, "[power] cv")),
        ratio=float(number(t.get("ratio", 1.25), "[power] ratio")),
        power=float(number(t.get("power", 0.8), "[power] power")),
    )
    if (p.cv is not None and p.cv <= 0) or p.ratio <= 1 or not 0.5 <= p.power < 1:
        raise ConfigError(f"[power]: cv > 0, ratio > 1 (e.g. 1.25) and power in [0.5, 1) (in {where})")
    return p


def _check_splits(stages: tuple[Stage, ...], where: str) -> None:
    """Every stage that chooses must evaluate on images the final stage never reports on."""
    final = stages[-1].split
    for s in stages[:-1]:
        pair = {s.split, final}
        if s.split == final or "all" in pair or pair in ({"test", "heldout"}, {"val", "heldout"}):
            raise ConfigError(
                f"stage '{s.name}' split '{s.split}' and the final split '{final}' overlap: the final results must "
                "be reported on images never used for selection (e.g. val, then test)"
            )


def _check_stages(stages: tuple[Stage, ...], where: str) -> None:
    from ganbench.study.stages import KINDS  # the kinds say where they may stand

    if not stages:
        raise ConfigError(f"a study needs [[stages]] (in {where})")
    names_ = [s.name for s in stages]
    if len(set(names_)) != len(names_):
        raise ConfigError(f"stage names must not repeat (give each [[stages]] a name), got {names_} (in {where})")
    for i, s in enumerate(stages):
        KINDS[choice(s.kind, KINDS.names(), "stage kind", where)].check(s, i, stages, where)
    _check_splits(stages, where)


# ---------------------------------------------------------------------------------------------------- the file
def load_study(path: str | Path, overrides: dict[str, Any] | None = None) -> Study:
    """Read and check a study file; `overrides` (config fields, as from --set) replace its [settings]. Every
    trial's config is resolved and validated later, when a stage is planned, before any of its trials starts."""
    path = Path(path)
    where = str(path)
    doc = read_toml(path, "study file", "the shipped ones are in benchmarks/studies/")
    v1 = "stages" not in doc and "final" in doc
    check_keys(doc, V1_TABLES if v1 else TABLES, "table", where)
    head, data, settings = (table(doc, k, where) for k in ("study", "data", "settings"))
    check_keys(head, V1_STUDY_KEYS if v1 else STUDY_KEYS, "[study] key", where)
    check_keys(data, DATA_KEYS, "[data] key", where)
    settings = _settings(settings, "[settings]", where)

    name = folder_name(head.get("name", path.stem), "[study] name")
    if "variants" not in head:
        raise ConfigError(f"[study] variants is missing: the variants to search and compare (in {where})")
    variants = name_list(head["variants"], "[study] variants", where)
    baselines = name_list(head.get("baselines", list(DEFAULT_BASELINES)), "[study] baselines", where, allow_empty=True)
    if set(variants) & set(baselines):
        raise ConfigError(f"[study] variants must not repeat a baseline (in {where})")

    run_settings = {**data, **settings}
    for key, value in (overrides or {}).items():
        if key in SET_ELSEWHERE and key not in DATA_KEYS:
            raise ConfigError(f"--set {key}=... is not allowed in a study: it is set by {SET_ELSEWHERE[key]}")
        run_settings[key] = value
    run_settings = absolute_paths(run_settings)
    n = int(run_settings.get("eval_samples", FIELDS["eval_samples"].default))
    if v1:
        search_t = table(doc, "search", where)
        search = _search(search_t, V1_SEARCH_KEYS, where)
        stages = (
            _stage(search_t, SEARCH, SEARCH, V1_SEARCH_KEYS, "[search]", where),
            _stage(table(doc, "final", where), FINAL, FINAL, V1_FINAL_KEYS, "[final]", where),
        )
        if "recipe_seeds" not in table(doc, "final", where):
            stages = (stages[0], Stage(**{**stages[1].__dict__, "recipe_seeds": stages[1].seeds}))
        metric = choice(head.get("metric", names.KID), names.DISTANCES, "[study] metric", where)
        share = float(number(head.get("equivalence_margin", analysis.V1_MARGIN_SHARE), "[study] equivalence_margin"))
        if not 0 < share < 1:
            raise ConfigError(
                "[study] equivalence_margin is a share of the gap between the best variant and the random floor, "
                f"between 0 and 1 (e.g. 0.1), got {share!r}"
            )
        plan = analysis.v1_plan(metric, n, share)
    else:
        search = _search(table(doc, "search", where), SEARCH_KEYS, where)
        rows = doc.get("stages")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ConfigError(f"stages must be an array of tables ([[stages]]), in {where}")
        stages = tuple(
            _stage(
                r,
                str(r.get("kind", "")),
                str(r.get("name") or r.get("kind", "")),
                STAGE_KEYS,
                f"[[stages]] {i + 1}",
                where,
            )
            for i, r in enumerate(rows)
        )
        for s in stages:
            folder_name(s.name, f"stage name {s.name!r}")
        if "analysis" not in doc:
            raise ConfigError(
                f"[analysis] is missing (in {where}): a study declares its primary metric, scale, margin, alpha, "
                'family and goals before the first trial, e.g. metric = "kid", scale = "log", margin = [0.8, 1.25]'
            )
        plan = analysis.parse_plan(table(doc, "analysis", where), n, where)
    _check_stages(stages, where)
    for key in search.space:
        if key in run_settings or any(key in s.settings for s in stages):
            raise ConfigError(f"'{key}' is both fixed and searched ([search.space]); keep one")
    max_concurrent = number(head.get("max_concurrent", 0), "[study] max_concurrent", integer=True)
    cpus, gpus = head.get("cpus_per_trial"), head.get("gpus_per_trial")
    return Study(
        name=name,
        variants=variants,
        baselines=baselines,
        settings=run_settings,
        plan=plan,
        search=search,
        stages=stages,
        cost=_cost(table(doc, "cost", where), where),
        power=_power(table(doc, "power", where), where),
        executor=choice(head.get("executor", LOCAL), EXECUTOR_NAMES, "executor", where),
        max_concurrent=max(0, max_concurrent),
        cpus_per_trial=None if cpus is None else float(number(cpus, "[study] cpus_per_trial")),
        gpus_per_trial=None if gpus is None else float(number(gpus, "[study] gpus_per_trial")),
        source=str(path),
        format=1 if v1 else 2,
    )
