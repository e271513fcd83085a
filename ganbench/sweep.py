"""Sweeps: variants x hyperparameter settings x seeds, each trial one ordinary run directory, on an executor.

A sweep file is TOML (examples in benchmarks/sweeps/, the format in benchmarks/README.md):

    [sweep]         name, variants, seeds, budget; optional eval, executor, cpus_per_trial, gpus_per_trial,
                    max_concurrent
    [data]          dataset, data, resolution, channels, crop, max_images
    [settings]      any other config field, the same for every trial (tick_kimg, eval_samples, g_width, ...)
    [search]        mode = "grid" | "random"; trials and seed (random); include_recipe
    [search.space]  hyperparameter = a list of values (grid; in random mode, a uniform choice), or for random
                    search one distribution: {choice = [..]}, {uniform = [lo, hi]}, {log_uniform = [lo, hi]},
                    {int_uniform = [lo, hi]}

Layout of the results (default `results/sweeps/<name>/`):

    <out>/sweep.json                    the sweep as planned: its file, its options, every trial
    <out>/<variant>/<trial>/seed<k>/    an ordinary run directory (see ganbench.runner) plus trial.json:
                                        sweep, trial tag, params, and one record per attempt (host, pid,
                                        threads, start and end wall times, status)

A search point is projected onto the hyperparameters that act on each variant (n_critic on GANs only, gp_weight
on objectives with a penalty only, kl_weight on the VAE only, nothing on the random baseline), and points that
then give the same config run once: the random baseline runs once per seed however large the search, and a VAE
is not trained five times because n_critic took five values.

Running the same sweep again skips completed and diverged trials (a divergence is a result, not an accident;
--rerun-diverged retries them) and resumes the others from their last checkpoint, whichever executor ran them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import json
import math
import os
import random
import re
import socket
import sys
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from ganbench import runner
from ganbench.config import (
    FIELDS,
    Config,
    ConfigError,
    load_recipe,
    make_config,
    parse_budget,
    parse_overrides,
)
from ganbench.io import read_json, write_json
from ganbench.registry import Registry, unknown

# ---------------------------------------------------------------------------------------------------- file format
SWEEP_KEYS = ("name", "variants", "seeds", "budget", "eval", "executor", "cpus_per_trial", "gpus_per_trial",
              "max_concurrent")
DATA_KEYS = ("dataset", "data", "resolution", "channels", "crop", "max_images")
SEARCH_KEYS = ("mode", "trials", "seed", "include_recipe", "space")
SEARCH_MODES = ("grid", "random")
DISTRIBUTIONS = ("choice", "uniform", "log_uniform", "int_uniform")
# What a search may vary: the training hyperparameters of a recipe. Which variant, which data, which budget and
# which seed are the sweep's axes and settings, not search dimensions.
HYPERPARAMETERS = ("lr_g", "lr_d", "beta1", "beta2", "batch_size", "n_critic", "gp_weight", "latent_dim",
                   "latent_dist", "g_width", "d_width", "d_norm", "leaky_slope", "kl_weight")
# Config fields that [settings] may not set, and where each one belongs instead.
_SET_ELSEWHERE = {"variant": "[sweep] variants", "description": "the variant's recipe",
                  "family": "the variant's recipe", "objective": "the variant's recipe", "seed": "[sweep] seeds",
                  "budget": "[sweep] budget", **{k: "[data]" for k in DATA_KEYS}}
OBJECT_STORE_BYTES = 200 * 2**20  # a local Ray cluster only carries trial summaries: keep its shared memory small


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
        raise ConfigError(f"[sweep] variants must be a non-empty list of variant names, e.g. [\"dcgan\", \"vae\"] "
                          f"(in {where})")
    seeds = head.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError(f"[sweep] seeds must be a non-empty list of integers, e.g. [0, 1, 2] (in {where})")
    seeds = [_number(s, "[sweep] seeds", integer=True) for s in seeds]
    if len(set(seeds)) != len(seeds) or len(set(variants)) != len(variants):
        raise ConfigError(f"[sweep] variants and seeds must not repeat (in {where})")
    if "budget" not in head:
        raise ConfigError(f"[sweep] budget is missing: every trial gets the same one, e.g. budget = \"200kimg\" "
                          f"(in {where})")
    budget = str(head["budget"])
    parse_budget(budget)
    evaluate = head.get("eval", True)
    if not isinstance(evaluate, bool):
        raise ConfigError(f"[sweep] eval must be true or false, got {evaluate!r}")
    executor = head.get("executor", "local")
    if executor not in EXECUTORS:
        raise ConfigError(f"{unknown('executor', str(executor), EXECUTORS.names())} (in {where})")
    cpus = head.get("cpus_per_trial")
    gpus = head.get("gpus_per_trial")
    if cpus is not None and not _number(cpus, "[sweep] cpus_per_trial") > 0:
        raise ConfigError(f"[sweep] cpus_per_trial must be positive, got {cpus!r}")
    if gpus is not None and not _number(gpus, "[sweep] gpus_per_trial") >= 0:
        raise ConfigError(f"[sweep] gpus_per_trial must not be negative, got {gpus!r}")
    max_concurrent = _number(head.get("max_concurrent", 0), "[sweep] max_concurrent", integer=True)
    if max_concurrent < 0:
        raise ConfigError(f"[sweep] max_concurrent must not be negative, got {max_concurrent}")

    run_settings = {"budget": budget, **data, **settings}
    for key, value in (overrides or {}).items():
        if key in ("variant", "description", "family", "objective", "seed"):
            raise ConfigError(f"--set {key}=... is not allowed in a sweep: it is set by {_SET_ELSEWHERE[key]}")
        run_settings[key] = value
    # Paths are relative to where ganbench runs; made absolute so that workers started elsewhere find them.
    for key in ("data", "inception_weights"):
        if run_settings.get(key):
            run_settings[key] = str(Path(os.path.expanduser(str(run_settings[key]))).absolute())

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
                raise ConfigError(f"[search] {key} is for mode = \"random\"; a grid runs every combination")
        for key, values in space.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"[search.space] {key} must be a non-empty list of values for a grid, got {values!r}")
        space = dict(space)
    else:
        space = {key: _distribution(key, spec) for key, spec in space.items()}
    trials = _number(search.get("trials", 0), "[search] trials", integer=True)
    if mode == "random" and space and trials < 1:
        raise ConfigError(f"random search needs [search] trials = N, the number of settings to draw (in {where})")
    include_recipe = search.get("include_recipe", False)
    if not isinstance(include_recipe, bool):
        raise ConfigError(f"[search] include_recipe must be true or false, got {include_recipe!r}")
    return Sweep(name=name, variants=tuple(variants), seeds=tuple(seeds), settings=run_settings, mode=mode,
                 space=space, trials=trials, search_seed=_number(search.get("seed", 0), "[search] seed", True),
                 include_recipe=include_recipe, evaluate=evaluate, executor=executor,
                 cpus_per_trial=None if cpus is None else float(cpus),
                 gpus_per_trial=None if gpus is None else float(gpus), max_concurrent=max_concurrent,
                 source=str(path))


def _distribution(key: str, spec: Any) -> tuple[str, list]:
    """A random-search dimension as (kind, args): a list is a choice; a table names one distribution."""
    if isinstance(spec, list):
        spec = {"choice": spec}
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ConfigError(f"[search.space] {key} must be a list or one of {{choice = [...]}}, {{uniform = [lo, hi]}}, "
                          f"{{log_uniform = [lo, hi]}}, {{int_uniform = [lo, hi]}}; got {spec!r}")
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


# ---------------------------------------------------------------------------------------------------- search
def _draw(key: str, dist: tuple[str, list], rng: random.Random) -> Any:
    kind, args = dist
    if kind == "choice":
        return rng.choice(args)
    if kind == "int_uniform":
        return rng.randint(args[0], args[1])
    lo, hi = args
    x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if kind == "log_uniform" else rng.uniform(lo, hi)
    if FIELDS[key].type == "int":
        return int(round(x))
    return float(f"{x:.3g}")  # three significant digits: readable configs and tags, and nothing lost in practice


def search_points(sweep: Sweep) -> list[dict[str, Any]]:
    """The settings searched, before projection onto each variant, in a fixed order.

    Random search draws from `random.Random(search_seed)`, the same draws for every variant, so variants are
    compared on the same settings and a re-run of the sweep finds the same trials.
    """
    points: list[dict[str, Any]] = []
    if sweep.space and sweep.mode == "grid":
        keys = list(sweep.space)
        points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*sweep.space.values())]
    elif sweep.space:
        rng = random.Random(sweep.search_seed)
        points = [{k: _draw(k, d, rng) for k, d in sweep.space.items()} for _ in range(sweep.trials)]
    if sweep.include_recipe or not points:
        points.append({})  # last, so a searched point that equals the recipe keeps its searched tag
    return points


def applies(key: str, cfg: Config) -> bool:
    """Whether hyperparameter `key` changes what a run of `cfg` does (its family and objective decide)."""
    if cfg.family == "random":
        return False  # nothing is trained
    if key == "n_critic":
        return cfg.family == "gan"
    if key == "gp_weight":
        from ganbench import objectives

        return cfg.family == "gan" and objectives.get(cfg.objective).penalty is not None
    if key == "kl_weight":
        return cfg.family == "vae"
    return True


def _short(value: Any) -> str:
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
    tag = "_".join(f"{k}={_short(params[k])}" for k in sorted(params))
    if len(tag) <= 64 and re.fullmatch(r"[A-Za-z0-9._=+-]+", tag):
        return tag
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return f"t-{digest}"


@dataclass
class Trial:
    sweep: str
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
        return f"{self.cfg.variant}/{self.tag}/seed{self.cfg.seed}"


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
            params = {k: v for k, v in point.items() if applies(k, base)}
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
                trials.append(Trial(sweep.name, tag, params, ignored,
                                    runner.Plan(cfg, out / cfg.variant / tag / f"seed{seed}")))
    dirs = [t.run_dir for t in trials]
    if len(set(dirs)) != len(dirs):
        raise ConfigError("two trials would share a directory: list each variant once in [sweep] variants")
    return trials


def trial_state(trial: Trial, rerun_diverged: bool = False) -> str:
    """'new', 'completed', 'diverged' (final unless rerun_diverged), 'resumable', or 'locked' (another live
    process writes its directory: left alone); a changed config raises ConfigError."""
    from ganbench.lock import RunLocked

    try:
        state = runner.existing_state(trial.plan)
    except RunLocked:
        return "locked"
    if state == "resumable" and not rerun_diverged and _status_on_disk(trial.run_dir) == "diverged":
        return "diverged"
    return state


def _summary_on_disk(trial: Trial) -> dict[str, Any]:
    try:
        return read_json(trial.run_dir / "summary.json")
    except Exception:  # missing, or unreadable: not a final status
        return _head(trial) | {"status": "new"}


def _status_on_disk(run_dir: Path) -> str | None:
    try:
        return read_json(run_dir / "summary.json").get("status")
    except Exception:  # missing, or unreadable: not a final status
        return None


# ---------------------------------------------------------------------------------------------------- one trial
_WORKER_CACHE: dict = {}  # per process: decoded data and evaluators, reused by the trials a worker runs


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _record_attempt(trial: Trial, record: dict[str, Any], new: bool) -> None:
    """trial.json: who the trial is, plus one record per attempt at it (start, and end when it ends)."""
    path = trial.run_dir / "trial.json"
    attempts = []
    if path.is_file():
        try:
            attempts = read_json(path).get("attempts") or []
        except Exception:
            attempts = []
    if new or not attempts:
        for earlier in attempts:  # an attempt still 'running' when the next one starts was killed: say so
            if earlier.get("status") == "running":
                earlier["status"] = "lost"
        attempts.append(record)
    else:
        attempts[-1] = attempts[-1] | record
    write_json(path, {"sweep": trial.sweep, "trial": trial.tag, "variant": trial.cfg.variant, "seed": trial.cfg.seed,
                      "params": trial.params, "ignored": list(trial.ignored), "attempts": attempts})


def _head(trial: Trial) -> dict[str, Any]:
    cfg = trial.cfg
    return {"variant": cfg.variant, "seed": cfg.seed, "family": cfg.family,
            "objective": cfg.objective if cfg.family == "gan" else None, "run_dir": str(trial.run_dir)}


def run_trial(trial: Trial, evaluate: bool = True, threads: int = 0, executor: str = "local",
              cache: dict | None = None, show_progress: bool = False) -> dict[str, Any]:
    """Train one trial in this process and return its summary; a failure is recorded, never raised.

    threads > 0 sets torch's intra-op threads (a trial given k CPUs uses k threads). Runs anywhere: in the
    driver (local executor), in a worker process (local, several at once) or in a Ray task.
    """
    import torch

    from ganbench.lock import RunLocked

    if threads > 0:
        torch.set_num_threads(threads)
    trial.run_dir.mkdir(parents=True, exist_ok=True)
    _record_attempt(trial, {"executor": executor, "host": socket.gethostname(), "pid": os.getpid(),
                            "threads": torch.get_num_threads(),
                            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                            "started": _now(), "start_time": time.time(), "finished": None, "end_time": None,
                            "status": "running"}, new=True)
    status = "interrupted"
    try:
        try:
            imageset, evaluator = runner.shared_inputs(trial.cfg, evaluate, _WORKER_CACHE if cache is None else cache)
        except Exception as e:  # data or evaluator that cannot be built: this trial fails, the sweep goes on
            (trial.run_dir / "error.log").write_text(traceback.format_exc())
            summary = _head(trial) | {"status": "failed", "error": f"{type(e).__name__}: {e}"}
            write_json(trial.run_dir / "summary.json", summary)
        else:
            try:
                summary = runner.execute(trial.plan, imageset.images, imageset.protocol, evaluator, resume=True,
                                         show_progress=show_progress)
            except RunLocked as e:  # another process took the directory after the plan was made: its trial now
                summary = _head(trial) | {"status": "locked", "error": str(e)}
        status = summary.get("status", "failed")
        return summary
    finally:
        _record_attempt(trial, {"finished": _now(), "end_time": time.time(), "status": status}, new=False)


def _lost(trial: Trial, error: BaseException) -> dict[str, Any]:
    """The summary of a trial whose process died before it could write one (killed, out of memory, node lost)."""
    try:
        on_disk = read_json(trial.run_dir / "summary.json")
        if on_disk.get("status") in ("completed", "diverged", "failed"):
            return on_disk
    except Exception:
        pass
    summary = _head(trial) | {"status": "failed", "error": f"{type(error).__name__}: {error}"[:2000]}
    with contextlib.suppress(OSError):  # a full disk, or a folder this machine cannot see: the driver still knows
        write_json(trial.run_dir / "summary.json", summary)
    return summary


# ---------------------------------------------------------------------------------------------------- executors
@dataclass
class ExecOptions:
    evaluate: bool = True
    max_concurrent: int = 0  # 0: the executor's default
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    ray_address: str | None = None  # ray: join this cluster ('auto', host:port); None: start a local one
    show_progress: bool = True


Executor = Callable[[list[Trial], ExecOptions], Iterator[tuple[Trial, dict[str, Any]]]]
EXECUTORS: Registry[Executor] = Registry("executor")


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run_local(trials: list[Trial], opts: ExecOptions) -> Iterator[tuple[Trial, dict[str, Any]]]:
    """One trial at a time in this process (sharing decoded data and evaluators), or with max_concurrent > 1 (by
    default: one per visible GPU when there are several) that many worker processes, each pinned to one GPU."""
    gpus = _visible_gpus()
    slots = opts.max_concurrent or max(1, gpus)
    cpus = os.cpu_count() or 1
    if slots == 1:
        threads = int(opts.cpus_per_trial) if opts.cpus_per_trial else 0  # 0: torch's default, all cores
        cache: dict = {}
        for trial in trials:
            yield trial, run_trial(trial, opts.evaluate, threads, "local", cache, opts.show_progress)
        return

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = int(opts.cpus_per_trial) if opts.cpus_per_trial else max(1, cpus // slots)
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no CUDA state inherited from this one
    gpu_ids = ctx.Queue()
    for i in range(slots):
        gpu_ids.put(str(i % gpus) if gpus else None)
    pool = ProcessPoolExecutor(slots, mp_context=ctx, initializer=_pin_worker, initargs=(gpu_ids,))
    try:
        futures = {pool.submit(run_trial, t, opts.evaluate, threads, "local"): t for t in trials}
        for future in as_completed(futures):
            trial = futures[future]
            try:
                summary = future.result()
            except Exception as e:  # the worker died (a crashed pool fails every trial still queued)
                summary = _lost(trial, e)
            yield trial, summary
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _pin_worker(gpu_ids) -> None:
    gpu = gpu_ids.get()
    if gpu is not None:  # before CUDA initialises in this process, so it only ever sees its own GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


def _import_ray():
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    # Under `uv run`, Ray would otherwise start every worker through `uv run` in a copy of the working
    # directory, which builds a second environment (minutes, and without the ray extra). Workers use this
    # interpreter instead; a cluster's nodes need ganbench installed (see benchmarks/README.md).
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray executor needs Ray, an optional extra: pip install 'ganbench[ray]' "
                          "(in a checkout: uv sync --extra ray), or use --executor local") from None
    return ray


def _ray_trial(trial: Trial, evaluate: bool, threads: int) -> dict[str, Any]:
    return run_trial(trial, evaluate, threads, "ray")


def run_ray(trials: list[Trial], opts: ExecOptions) -> Iterator[tuple[Trial, dict[str, Any]]]:
    """A Ray task per trial, each holding cpus_per_trial CPUs (default 1) and gpus_per_trial GPUs (default 1 where
    the cluster has GPUs). Joins the cluster at opts.ray_address, or starts a local one sized to this machine
    (and to at least max_concurrent trials) and stops it at the end."""
    ray = _import_ray()
    cpus = opts.cpus_per_trial or 1.0
    started = False
    if not ray.is_initialized():
        if opts.ray_address:
            ray.init(address=opts.ray_address, log_to_driver=True)
        else:
            # address="local": always a fresh cluster, never one that someone else started on this machine
            size = max(os.cpu_count() or 1, math.ceil(opts.max_concurrent * cpus))
            ray.init(address="local", num_cpus=size, include_dashboard=False, log_to_driver=True,
                     object_store_memory=OBJECT_STORE_BYTES)
        started = True
    running: dict = {}
    try:
        total = ray.cluster_resources()
        gpus = opts.gpus_per_trial if opts.gpus_per_trial is not None else (1.0 if total.get("GPU", 0) >= 1 else 0.0)
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        if not any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in nodes):
            raise ConfigError(f"no node of the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs for one trial "
                              f"(cluster: {total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs); "
                              "lower --cpus-per-trial / --gpus-per-trial")
        task = ray.remote(_ray_trial)
        threads = max(1, int(cpus))
        limit = opts.max_concurrent or len(trials)
        queue = list(reversed(trials))
        while queue or running:
            while queue and len(running) < limit:
                trial = queue.pop()
                options = task.options(num_cpus=cpus, num_gpus=gpus, max_retries=0, name=f"ganbench:{trial.label}")
                running[options.remote(trial, opts.evaluate, threads)] = trial
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                trial = running.pop(ref)
                try:
                    summary = ray.get(ref)
                except ray.exceptions.RayError as e:  # the worker died, or the task could not run
                    summary = _lost(trial, e)
                yield trial, summary
    finally:  # Ctrl-C, an error, or the caller stopped early: stop what still runs (it resumes next time)
        for ref in running:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


EXECUTORS.register("local", run_local)
EXECUTORS.register("ray", run_ray)


# ---------------------------------------------------------------------------------------------------- command
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
    counts = {s: list(states.values()).count(s) for s in ("new", "resumable", "completed", "diverged", "locked")}
    todo = counts["new"] + counts["resumable"]
    foot = (f"\n{len(trials)} trials: {todo} to run ({counts['new']} new, {counts['resumable']} to resume), "
            f"{counts['completed']} completed, {counts['diverged']} diverged")
    if counts["locked"]:
        foot += f", {counts['locked']} being written by another process (left alone)"
    return _columns(rows, ["variant", "trial", "seed:state", "params"]) + foot


def sweep_command(
    file: Annotated[Path, typer.Argument(help="A sweep file (TOML), e.g. benchmarks/sweeps/smoke.toml.")],
    executor: Annotated[str | None, typer.Option(help=f"Where trials run: {' | '.join(EXECUTORS.names())}. Default: the executor named in the sweep file, else local.")] = None,
    ray_address: Annotated[str | None, typer.Option(help="ray: join this running cluster ('auto' or host:port); default: start a local one.")] = None,
    out: Annotated[Path | None, typer.Option(help="Results folder; default results/sweeps/<name>.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a setting for every trial: --set data=/datasets/celeba (repeatable).")] = None,
    max_concurrent: Annotated[int | None, typer.Option(help="At most this many trials at once. Default: local, one per visible GPU (else one); ray, as many as the cluster fits.")] = None,
    cpus_per_trial: Annotated[float | None, typer.Option(help="CPUs (and torch threads) per trial. Default: ray 1; local all cores.")] = None,
    gpus_per_trial: Annotated[float | None, typer.Option(help="ray: GPUs per trial (0.5 packs two trials on a GPU). Default: 1 where there are GPUs.")] = None,
    rerun_diverged: Annotated[bool, typer.Option("--rerun-diverged", help="Run diverged trials again (from their last checkpoint).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the trials, and what is left of them, and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Run a sweep (variants x settings x seeds), skipping finished trials and resuming interrupted ones."""
    from ganbench.cli import guarded

    with guarded(debug):
        sweep = load_sweep(file, parse_overrides(set_))
        name = executor or sweep.executor
        run = EXECUTORS[name]
        if ray_address and name != "ray":
            raise ConfigError("--ray-address needs --executor ray")
        out = out or Path("results") / "sweeps" / sweep.name
        trials = plan_sweep(sweep, out)
        states = {t.run_dir: trial_state(t, rerun_diverged) for t in trials}  # refuses changed configs up front
        if dry_run:
            typer.echo(plan_text(trials, states))
            return
        if name == "ray":
            _import_ray()  # the missing-extra message now, not after the plan is written
        todo = [t for t in trials if states[t.run_dir] in ("new", "resumable")]
        write_json(out / "sweep.json", {
            "sweep": asdict(sweep) | {"variants": list(sweep.variants), "seeds": list(sweep.seeds)},
            "executor": name, "command": sys.argv, "updated": _now(),
            "trials": [{"variant": t.cfg.variant, "trial": t.tag, "seed": t.cfg.seed, "params": t.params,
                        "run_dir": str(t.run_dir.relative_to(out))} for t in trials]})
        locked = [t for t in trials if states[t.run_dir] == "locked"]
        typer.echo(f"sweep {sweep.name}: {len(trials)} trials, {len(todo)} to run, "
                   f"{len(trials) - len(todo) - len(locked)} already done; executor {name}; results in {out}/",
                   err=True)
        if locked:
            typer.echo(f"{len(locked)} trials are being written by another process and are left alone: "
                       + ", ".join(t.label for t in locked), err=True)
        opts = ExecOptions(evaluate=sweep.evaluate,
                           max_concurrent=sweep.max_concurrent if max_concurrent is None else max_concurrent,
                           cpus_per_trial=cpus_per_trial or sweep.cpus_per_trial,
                           gpus_per_trial=sweep.gpus_per_trial if gpus_per_trial is None else gpus_per_trial,
                           ray_address=ray_address)
        results: dict[Path, dict] = {}
        t0 = time.perf_counter()
        try:
            for i, (trial, summary) in enumerate(run(todo, opts) if todo else [], 1):
                results[trial.run_dir] = summary
                typer.echo(f"[{i}/{len(todo)}] {trial.label}: {summary.get('status')}"
                           f"{' (' + str(summary.get('error')) + ')' if summary.get('error') else ''}"
                           f"  {time.perf_counter() - t0:.0f}s", err=True)
        except KeyboardInterrupt:
            typer.echo(f"\ninterrupted: {len(results)} of {len(todo)} trials finished. Run the same command again "
                       "to finish the rest (interrupted trials resume from their last checkpoint).", err=True)
            raise typer.Exit(130) from None
    summaries = []
    for t in trials:
        s = results.get(t.run_dir) or _summary_on_disk(t)
        summaries.append(s | {"variant": f"{t.cfg.variant}/{t.tag}"})
    typer.echo(runner.summary_table(summaries))
    from ganbench.sweep_report import format_sweep_table, sweep_table

    typer.echo("\n" + format_sweep_table(sweep_table(out)))
    typer.echo(f"\nresults: {out}/  (ganbench report {out})")
    elsewhere = {t.run_dir for t in locked} | {p for p, s in results.items() if s.get("status") == "locked"}
    failed = [t.label for t, s in zip(trials, summaries, strict=True)
              if s.get("status") not in ("completed", "diverged") and t.run_dir not in elsewhere]
    if elsewhere:
        typer.echo(f"{len(elsewhere)} trials were left to the process writing them; run the sweep again once it "
                   "has finished to include them.", err=True)
    if failed:
        typer.echo(f"{len(failed)} of {len(trials)} trials failed: {', '.join(failed)}. "
                   "Their errors are in summary.json and error.log; run the sweep again to retry them.", err=True)
        raise typer.Exit(1)


if __name__ == "__main__":  # python -m ganbench.sweep FILE ...
    typer.run(sweep_command)
