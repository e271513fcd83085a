"""Configs: one frozen dataclass holds everything a single run needs (a variant's recipe + the run's settings).

A variant is a TOML file in `variants/` that sets some of these fields; the command line sets the run fields and
`--set key=value` overrides any field. Unknown keys, wrong types and impossible values are errors that say what is
valid. The resolved config is written to each run directory as `config.json`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ganbench.budget import Budget, parse_budget
from ganbench.data.splits import SPLITS
from ganbench.errors import ConfigError
from ganbench.families import FAMILIES
from ganbench.registry import unknown
from ganbench.spec import read_toml

__all__ = [
    "CHOICES",
    "FIELDS",
    "METRIC_NAMES",
    "Budget",
    "Config",
    "ConfigError",
    "config_difference",
    "load_recipe",
    "make_config",
    "parse_budget",
    "parse_overrides",
    "validate",
    "variant_names",
]


@dataclass(frozen=True)
class Config:
    # ---- the recipe (what a variant file sets) ----
    variant: str = "dcgan"  # recipe name (file stem in variants/, or of a user's own file)
    description: str = ""  # one line for `ganbench list`
    family: str = "gan"  # gan | vae | random (see ganbench.families): which update the training loop runs
    objective: str = "nonsaturating"  # GAN objective name (see `ganbench list`); ignored by vae/random
    penalty: str = "none"  # D penalty (ganbench.penalties): none | gp | dragan | r1 | r2, or a sum like "r1+r2"
    penalty_weight: float = 10.0  # the penalty's weight (gp, dragan: 10; r1/r2: the paper's gamma)
    penalty_every: int = 1  # lazy regularisation: the penalty on every k-th D step only, weighted k times
    clip: float = 0.0  # WGAN weight clipping: clamp D's parameters to [-clip, clip] after each D step; 0 = off
    optimizer_g: str = "adam"  # G's optimiser (the VAE's decoder): adam | rmsprop | sgd (ganbench.optimizers)
    optimizer_d: str = "adam"  # D's optimiser (the VAE's encoder)
    lr_g: float = 2e-4  # learning rate of G (the VAE's decoder)
    lr_d: float = 2e-4  # learning rate of D (the VAE's encoder)
    beta1: float = 0.5  # Adam beta1, both networks (where they use Adam)
    beta2: float = 0.999  # Adam beta2, both networks
    momentum: float = 0.0  # RMSProp / SGD momentum, both networks (where they use one of them)
    batch_size: int = 64  # images per D step (real) and per G step (fake)
    n_critic: int = 1  # D steps per G step
    ema_half_life_kimg: float = 0.0  # EMA of G's weights (ganbench.ema), half-life in kimg; 0 = no EMA
    ema_rampup: float = 0.05  # EMA warm-up: half-life at most this share of the images shown so far; 0 = none
    latent_dim: int = 100  # size of z
    latent_dist: str = "normal"  # normal: N(0, I); uniform: U[-1, 1]; sphere: radius sqrt(latent_dim)
    g_width: int = 64  # G's width at full resolution (ngf); doubles at each halving
    d_width: int = 64  # D's width at the first layer (ndf)
    d_norm: str = "batch"  # D normalisation: batch | layer | spectral | none
    leaky_slope: float = 0.2  # D's LeakyReLU negative slope
    kl_weight: float = 1.0  # VAE: weight of the KL term (1 = the plain ELBO)
    # ---- data ----
    dataset: str = "synthetic"  # synthetic | celeba | folder | cifar10 | mnist | stacked-mnist (`ganbench list`)
    data: str = ""  # root folder of the data set (not used by synthetic)
    resolution: int = 64  # images are resolution x resolution
    channels: int = 3  # 3 (RGB) or 1 (grayscale)
    crop: int = 0  # centre-crop size in source pixels before resizing; 0 = the data set's default
    max_images: int = 0  # use at most this many training images; 0 = all
    # ---- budget and schedule (the same for every variant in a run) ----
    budget: str = "6kimg"  # Nkimg (real images shown to D), Nepochs, Nsteps (G steps), or Ns / Nmin / Nh (wall clock)
    tick_kimg: float = 1.0  # log losses, write a sample grid, check for divergence every this many kimg
    checkpoint_ticks: int = 5  # save a checkpoint every this many ticks (and always at the end)
    eval_every_kimg: float = 0.0  # evaluate FID etc. every this many kimg during training; 0 = at the end only
    eval_samples: int = 500  # generated (and reference) images per evaluation; metric names carry it (fid500)
    eval_samples_during: int = 0  # images per evaluation during training (cheap curve points); 0 = eval_samples.
    #   The final evaluation also reports its first eval_samples_during images' metrics, so curves end there too.
    eval_split: str = "train"  # the data set split the reference images come from: heldout = images never trained on
    metrics: str = "fid,fidinf,kid,pr"  # evaluated metrics by name (`ganbench list`): fid fidinf kid pr dc c2st modes
    inception_weights: str = ""  # torch-fidelity Inception weights file; "" = the bundled standard weights
    # ---- execution ----
    seed: int = 0
    device: str = "auto"  # auto | cuda | mps | cpu
    precision: str = "auto"  # auto (bf16 autocast where native, else fp32) | fp32 (IEEE, no TF32) | tf32 | bf16 | fp16
    fast: bool = True  # channels_last memory format and fused (else foreach) Adam, on every device; false: plain
    # torch.compile the networks (which: device_settings.compile); off by default: compile time beats short runs
    compile: bool = False
    tensorboard: bool = False  # mirror tick and evaluation records to <run_dir>/tensorboard/ (metrics.jsonl stays)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def run_budget(self) -> Budget:
        """The budget as a typed value (parsed once per distinct text)."""
        return parse_budget(self.budget)


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in fields(Config)}
CHOICES: dict[str, tuple[str, ...]] = {
    "family": tuple(FAMILIES.names()),
    "latent_dist": ("normal", "uniform", "sphere"),
    "d_norm": ("batch", "layer", "spectral", "none"),
    "device": ("auto", "cuda", "mps", "cpu"),
    "precision": ("auto", "fp32", "tf32", "bf16", "fp16"),
    "eval_split": SPLITS,
}
# The metrics a config may name (`metrics = "fid,kid"`): the names ganbench.metrics registers, exactly (a test
# checks both lists hold the same names; a new metric is registered there and named here). The config sits below
# the metrics (`ganbench fid` reads a run's config to sample its generator), so it names them without importing.
METRIC_NAMES = ("fid", "fidinf", "kid", "pr", "dc", "c2st", "modes")
# Fields whose choices come from another registry (checked in `validate`).
REGISTRY_FIELDS = ("objective", "penalty", "optimizer_g", "optimizer_d")
# Fields that change where or how fast a run goes, not what it learns: resuming may change them.
EXECUTION_ONLY = ("device", "compile", "description", "tensorboard")
MAX_RESOLUTION = 1024


# ---------------------------------------------------------------------------------------------------- old configs
# Objectives that were once a loss and a penalty in one: now the loss plus the penalty axis.
SHORTHANDS = {"wgan-gp": ("wasserstein", "gp")}
LEGACY_KEYS = {"gp_weight": "float"}  # gp_weight: the penalty weight before penalties were an axis


def migrate(values: dict[str, Any]) -> dict[str, Any]:
    """A config dict as older ganbench wrote it (config.json, checkpoints) or as an older recipe spells it, in
    today's fields, meaning the same run:

      objective "wgan-gp"  -> objective "wasserstein" + penalty "gp" (what it always computed)
      gp_weight            -> penalty_weight where a penalty acts; dropped where it never acted
      a missing field      -> its default (every field added since defaults to what older code did)

    Only the keys it knows are changed; others are left for the caller's checks."""
    out = dict(values)
    shorthand = SHORTHANDS.get(out["objective"]) if isinstance(out.get("objective"), str) else None
    if shorthand is not None:
        loss, penalty = shorthand
        if out.get("penalty", "none") not in ("none", penalty):
            raise ConfigError(
                f"objective '{out['objective']}' is {loss} + penalty {penalty}; it cannot take penalty "
                f"'{out['penalty']}': use objective={loss} with the penalty you want"
            )
        out["objective"], out["penalty"] = loss, penalty
    if "gp_weight" in out:
        weight = out.pop("gp_weight")
        if out.get("penalty", "none") != "none":
            out["penalty_weight"] = weight
    for name, f in FIELDS.items():
        if name not in out:
            out[name] = f.default
    return out


def config_difference(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'key: old (on disk) != new (requested)' for every field that matters to what a run learns; `old` may be
    written by an older ganbench (see `migrate`)."""
    old, new = migrate(old), migrate(new)
    keys = sorted(set(old) | set(new))
    return [
        f"{k}: {old.get(k)!r} (on disk) != {new.get(k)!r} (requested)"
        for k in keys
        if k not in EXECUTION_ONLY and old.get(k) != new.get(k)
    ]


# ---------------------------------------------------------------------------------------------------- parsing
def _coerce(key: str, value: Any) -> Any:
    """Turn a TOML value or a command-line string into the field's type, or fail saying which type."""
    ftype = FIELDS[key].type if key in FIELDS else LEGACY_KEYS[key]
    if ftype == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ConfigError(f"'{key}' expects true or false, got {value!r}")
    if ftype == "int":
        if isinstance(value, bool):
            raise ConfigError(f"'{key}' expects an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"'{key}' expects an integer, got {value!r}")
    if ftype == "float":
        if isinstance(value, bool):
            raise ConfigError(f"'{key}' expects a number, got {value!r}")
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"'{key}' expects a number, got {value!r}") from None
        if not math.isfinite(out):
            raise ConfigError(f"'{key}' must be a finite number, got {value!r}")
        return out
    if not isinstance(value, str):
        raise ConfigError(f"'{key}' expects a string, got {value!r}")
    return value


def _check_keys(keys, where: str) -> None:
    for key in keys:
        if key not in FIELDS and key not in LEGACY_KEYS:
            msg = str(unknown("config key", key, list(FIELDS)))
            raise ConfigError(f"{msg} (in {where})")


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """['lr_d=5e-5', 'n_critic=5'] -> {'lr_d': 5e-05, 'n_critic': 5}."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got '{item}' (for example --set lr_d=5e-5)")
        _check_keys([key], "--set")
        out[key] = _coerce(key, value.strip())
    return out


def validate(cfg: Config) -> Config:
    """Raise ConfigError for a config that cannot run; return it unchanged otherwise."""
    from ganbench import families, objectives, optimizers, penalties
    from ganbench.data import DATASETS
    from ganbench.models import check_resolution

    for key, valid in CHOICES.items():
        value = getattr(cfg, key)
        if value not in valid:
            raise ConfigError(str(unknown(key, value, list(valid))))
    if cfg.dataset not in DATASETS:
        raise ConfigError(str(unknown("dataset", cfg.dataset, DATASETS.names())))
    family = families.get(cfg.family)
    if family.adversarial:
        try:
            objectives.get(cfg.objective)
            penalties.get(cfg.penalty)
        except (KeyError, ValueError) as e:
            raise ConfigError(str(e)) from None
        if cfg.objective in SHORTHANDS:  # make_config migrates it; a Config built by hand must too
            raise ConfigError(
                f"objective '{cfg.objective}' is {' + penalty '.join(SHORTHANDS[cfg.objective])}: "
                "pass the config through ganbench.config.make_config (or migrate)"
            )
    if family.trains and not family.adversarial and cfg.optimizer_g != cfg.optimizer_d:
        raise ConfigError(
            f"family '{cfg.family}' takes one optimiser step over both networks: set optimizer_g and "
            f"optimizer_d to the same name (got {cfg.optimizer_g!r} and {cfg.optimizer_d!r})"
        )
    try:
        check_resolution(cfg.resolution)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    positive = (
        "lr_g",
        "lr_d",
        "batch_size",
        "n_critic",
        "latent_dim",
        "g_width",
        "d_width",
        "tick_kimg",
        "checkpoint_ticks",
        "eval_samples",
        "penalty_every",
    )
    for key in positive:
        if not getattr(cfg, key) > 0:
            raise ConfigError(f"'{key}' must be positive, got {getattr(cfg, key)!r}")
    for key in ("beta1", "beta2"):
        if not 0 <= getattr(cfg, key) < 1:
            raise ConfigError(f"'{key}' must be in [0, 1), got {getattr(cfg, key)!r}")
    if not 0 <= cfg.eval_samples_during <= cfg.eval_samples:
        raise ConfigError(
            f"'eval_samples_during' must be between 0 (= eval_samples) and eval_samples "
            f"({cfg.eval_samples}), got {cfg.eval_samples_during!r}"
        )
    if family.trains:
        for which, lr in (("optimizer_g", cfg.lr_g), ("optimizer_d", cfg.lr_d)):
            try:
                optimizers.check_optimizer(getattr(cfg, which), lr, (cfg.beta1, cfg.beta2), cfg.momentum, which)
            except (KeyError, ValueError) as e:
                raise ConfigError(str(e)) from None
    for key in (
        "penalty_weight",
        "clip",
        "ema_half_life_kimg",
        "ema_rampup",
        "kl_weight",
        "leaky_slope",
        "eval_every_kimg",
        "max_images",
        "crop",
        "seed",
    ):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"'{key}' must not be negative, got {getattr(cfg, key)!r}")
    if not cfg.variant or cfg.variant.startswith(".") or any(c in cfg.variant for c in "/\\\0"):
        raise ConfigError(f"variant name {cfg.variant!r} cannot name a run folder: use letters, digits, '-' or '_'")
    if cfg.resolution > MAX_RESOLUTION:
        raise ConfigError(f"resolution {cfg.resolution} is larger than ganbench supports (at most {MAX_RESOLUTION})")
    # the schedule counts whole images: a tick or evaluation interval under one image would never advance
    if cfg.tick_kimg < 0.001:
        raise ConfigError(f"'tick_kimg' must be at least 0.001 (one image), got {cfg.tick_kimg!r}")
    if 0 < cfg.eval_every_kimg < 0.001:
        raise ConfigError(
            f"'eval_every_kimg' must be 0 (at the end only) or at least 0.001, got {cfg.eval_every_kimg!r}"
        )
    if cfg.seed >= 2**63:
        raise ConfigError(f"'seed' must be below 2**63, got {cfg.seed}")
    if cfg.channels not in (1, 3):
        raise ConfigError(f"'channels' must be 1 or 3, got {cfg.channels}")
    if family.adversarial and cfg.batch_size < 2 and cfg.d_norm == "batch":
        raise ConfigError("batch_size must be at least 2 with d_norm=batch")
    parse_budget(cfg.budget)
    chosen = [m.strip() for m in cfg.metrics.split(",") if m.strip()]
    if not chosen:
        raise ConfigError(f"'metrics': no metrics named: choose from {', '.join(METRIC_NAMES)}")
    for m in chosen:
        if m not in METRIC_NAMES:
            raise ConfigError(f"'metrics': {unknown('metric', m, list(METRIC_NAMES))}")
    return cfg


def make_config(recipe: dict[str, Any], **settings: Any) -> Config:
    """Recipe fields, then run settings (None = keep), coerced to their types and validated."""
    values = dict(recipe)
    values.update({k: v for k, v in settings.items() if v is not None})
    _check_keys(values, "config")
    values = migrate({k: _coerce(k, v) for k, v in values.items()})  # typed first: migrate reads the values
    try:
        cfg = Config(**values)
    except TypeError as e:
        raise ConfigError(str(e)) from None
    return validate(cfg)


# ---------------------------------------------------------------------------------------------------- variants
def variants_dir() -> Path:
    """The shipped variants: inside the installed package, or the repository's top-level variants/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "variants", here.parent / "variants"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("ganbench's variants/ folder is missing from this installation; reinstall ganbench")


def variant_names() -> list[str]:
    return sorted(p.stem for p in variants_dir().glob("*.toml"))


def load_recipe(name_or_path: str) -> dict[str, Any]:
    """A shipped variant by name, or a user's recipe by path (anything ending in .toml or containing a /)."""
    looks_like_path = name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path
    path = Path(name_or_path) if looks_like_path else variants_dir() / f"{name_or_path}.toml"
    if not path.is_file():
        if looks_like_path:
            raise ConfigError(f"recipe file '{name_or_path}' does not exist")
        raise ConfigError(str(unknown("variant", name_or_path, variant_names())) + " Or pass a path to a .toml recipe.")
    recipe = read_toml(path, "recipe")  # the one TOML reader (ganbench.spec), as for sweeps and studies
    _check_keys(recipe, str(path))
    for key, value in recipe.items():  # type errors here name the file they are in
        try:
            _coerce(key, value)
        except ConfigError as e:
            raise ConfigError(f"{e} (in {path})") from None
    recipe.setdefault("variant", path.stem)
    return recipe
